"""The embedded MQTT broker (amqtt), started by ``edgetwin up`` when no external broker is named.

Access rules, like Mosquitto's local-only default:
- a client that presents a username must present the right password (edgetwin's own clients use
  the credentials generated into the data dir); it then gets a full persistent session, so the
  broker keeps its QoS 1 messages while it is away (amqtt keeps none for anonymous sessions);
- a client without credentials is admitted only from the loopback interface, so a stock client
  on the same machine can still ``mosquitto_pub -t ... -m ...``.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin

from edgetwin.core.errors import PortInUseError
from edgetwin.process import stop_event
from edgetwin.transport.mqtt import credentials_path, ensure_credentials

log = logging.getLogger("edgetwin.broker")


def _is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class EdgetwinAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Password check for named clients; anonymous access from loopback only."""

    @dataclass
    class Config:
        credentials_file: str = ""
        allow_loopback_anonymous: bool = True

    async def authenticate(self, *, session: Any) -> bool | None:
        config = self.context.config
        username = session.username
        if username:
            creds = await asyncio.to_thread(_read_json, Path(config.credentials_file))
            password = session.password or ""
            if isinstance(password, bytes):
                password = password.decode("utf-8", "replace")
            ok = hmac.compare_digest(str(username), creds["username"]) and hmac.compare_digest(
                password, creds["password"]
            )
            if not ok:
                log.warning("refused client %s: wrong username or password", session.client_id)
            return ok
        if config.allow_loopback_anonymous and _is_loopback(session.remote_address):
            session.is_anonymous = True
            return True
        log.warning(
            "refused anonymous client %s from %s", session.client_id, session.remote_address
        )
        return False


def _read_json(path: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads(path.read_text())
    return data


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUseError(
                "embedded MQTT broker",
                host,
                port,
                "Choose another with --mqtt-port PORT (or EDGETWIN_MQTT_PORT), or use a broker "
                "that is already running with --mqtt-url mqtt://HOST:PORT.",
            ) from exc


def broker_config(data_dir: Path, port: int, host: str = "127.0.0.1") -> dict[str, Any]:
    ensure_credentials(data_dir)
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}},
        "timeout_disconnect_delay": 0,
        "plugins": {
            "edgetwin.edge.broker.EdgetwinAuthPlugin": {
                "credentials_file": str(credentials_path(data_dir)),
                "allow_loopback_anonymous": True,
            },
        },
    }


async def run_broker(data_dir: Path, port: int, host: str = "127.0.0.1") -> None:
    """Run the broker until SIGINT/SIGTERM."""
    check_port_free(host, port)
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    broker = Broker(broker_config(data_dir, port, host))
    await broker.start()
    log.info("MQTT broker listening on %s:%d", host, port)
    await stop_event().wait()
    log.info("MQTT broker stopping")
    await broker.shutdown()
