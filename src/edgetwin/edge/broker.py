"""The embedded MQTT broker (amqtt), started by ``edgetwin up`` when no external broker is named.

Access rules, like Mosquitto's local-only default:
- a client that presents a username must present the right password (edgetwin's own clients use
  the credentials generated into the data dir); it then gets a full persistent session, so the
  broker keeps its QoS 1 messages while it is away (amqtt keeps none for anonymous sessions);
- a client without credentials is admitted only from the loopback interface, so a stock client
  on the same machine can still ``mosquitto_pub -t ... -m ...``.

Two corrections to amqtt 0.12.1 (pinned), each a small override of one of its methods:
- *A broker delivers what it accepted.* amqtt reads a client's packets in a loop that hands each
  PUBLISH and DISCONNECT to a task of its own, and cancels the tasks that have not run yet when the
  connection ends. ``mosquitto_pub -m ...`` (QoS 0) sends PUBLISH, DISCONNECT and closes at once;
  when the three are read in one go (a busy broker, or any Python whose ``asyncio.wait_for`` no
  longer yields, 3.12 on) the PUBLISH was cancelled before it ran and the DISCONNECT with it (so a
  clean exit even fired the client's will). Here a QoS 0 PUBLISH is queued and a DISCONNECT noted
  the moment they are read, and the end of a session waits until every queued message was taken.
- *Retained messages only to matching subscriptions.* On every connection amqtt sent the new client
  the retained messages matching *anyone's* subscription; here a session gets them only for the
  filters it holds itself.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import socket
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqtt.broker import Broker
from amqtt.mqtt.constants import QOS_0
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.mqtt.protocol.handler import QueueShutDown
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import IncomingApplicationMessage

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


RESERVED_CLIENT_PREFIX = "edgetwin-"


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
        if str(session.client_id or "").startswith(RESERVED_CLIENT_PREFIX):
            # An anonymous client taking an edgetwin client id would kick the edge off and end
            # its persistent session, and with it the readings queued for it.
            log.warning(
                "refused anonymous client %s: client ids starting %r belong to edgetwin's own"
                " parts, which log in",
                session.client_id,
                RESERVED_CLIENT_PREFIX,
            )
            return False
        if config.allow_loopback_anonymous and _is_loopback(session.remote_address):
            session.is_anonymous = True
            return True
        log.warning(
            "refused anonymous client %s from %s", session.client_id, session.remote_address
        )
        return False


async def _done() -> None:
    """The coroutine a handler returns when it has done its work before being awaited."""


class _Handler(BrokerProtocolHandler):  # type: ignore[misc]
    """amqtt's per-connection handler, acting on PUBLISH (QoS 0) and DISCONNECT when they are read.

    amqtt's reader calls ``asyncio.create_task(handler.handle_publish(packet))``; the call itself runs
    at once, the task only later (and not at all if the connection ends first). So the work that must
    not be lost is done in the call, and the returned coroutine has nothing left to do.
    """

    def handle_publish(self, publish_packet: Any) -> Coroutine[Any, Any, None]:
        if publish_packet.qos != QOS_0 or self.session is None:
            return super().handle_publish(publish_packet)  # type: ignore[no-any-return]
        if publish_packet.topic_name is None or publish_packet.data is None:
            return _done()
        if publish_packet.dup_flag:  # [MQTT-3.3.1-2], as amqtt itself does
            log.warning("ignored a QoS 0 message with DUP set from %s", self.session.client_id)
            return _done()
        message = IncomingApplicationMessage(
            None, publish_packet.topic_name, QOS_0, publish_packet.data, publish_packet.retain_flag
        )
        message.publish_packet = publish_packet
        try:
            self.session.delivered_message_queue.put_nowait(message)
        except (asyncio.QueueFull, QueueShutDown):
            log.warning("dropped a QoS 0 message from %s: session closed", self.session.client_id)
        return _done()

    def handle_disconnect(self, disconnect: Any) -> Coroutine[Any, Any, None]:
        waiter = self._disconnect_waiter  # type: ignore[has-type]
        if waiter is not None and not waiter.done():
            waiter.set_result(disconnect)
        self._disconnect_waiter = None
        return _done()

    async def wait_disconnect(self) -> Any:
        """The client has gone, once the broker has taken every message it published before."""
        result = await super().wait_disconnect()
        queue = self.session.delivered_message_queue if self.session is not None else None
        # The session's message loop takes one message per turn; the last one is taken (and its
        # future done) in the same step that empties the queue, so it is delivered too. amqtt never
        # calls task_done(), so Queue.join() cannot be used; each turn here yields to that loop.
        while queue is not None and not queue.empty():  # noqa: ASYNC110
            await asyncio.sleep(0)
        return result


class EdgetwinBroker(Broker):  # type: ignore[misc]
    """amqtt's broker with the two corrections described in this module's docstring."""

    async def _initialize_client_session(self, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        handler, session = await super()._initialize_client_session(*args, **kwargs)
        # amqtt builds the handler in a classmethod that names its own class; _Handler adds no
        # state, only two methods, so the instance can take it on before its reader starts.
        handler.__class__ = _Handler
        return handler, session

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Any
    ) -> None:
        topic_filter = subscription[0]
        held = [
            qos
            for holder, qos in self._subscriptions.get(topic_filter, [])
            if holder.client_id == session.client_id
        ]
        if held:
            await super()._publish_retained_messages_for_subscription(
                (topic_filter, held[0]), session
            )


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
    broker = EdgetwinBroker(broker_config(data_dir, port, host))
    await broker.start()
    log.info("MQTT broker listening on %s:%d", host, port)
    await stop_event().wait()
    log.info("MQTT broker stopping")
    await broker.shutdown()
