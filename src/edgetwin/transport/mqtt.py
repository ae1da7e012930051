"""MQTT client plumbing: each part's credentials for the embedded broker, a paho client factory."""

from __future__ import annotations

import os
import secrets
import ssl
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edgetwin.core.settings import MqttTarget, Settings
from edgetwin.security.mqtt_acl import MqttPart, cloud_part
from edgetwin.transport.mqtt_users import ensure_user


def ensure_credentials(data_dir: Path, part: MqttPart | None = None) -> tuple[str, str]:
    """``(username, password)`` of ``part`` (default: the cloud) on the embedded broker, created
    in ``<data-dir>/broker/users/`` (mode 0600) on first use; see
    :mod:`edgetwin.transport.mqtt_users`."""
    part = part or cloud_part()
    return part.username, ensure_user(data_dir, part)


def resolve_target(settings: Settings, part: MqttPart | None = None) -> MqttTarget:
    """The broker this process connects to as ``part`` (default: the cloud).

    On the embedded broker the part logs in with its own generated user, which the broker holds
    to that part's topics (:mod:`edgetwin.security.mqtt_acl`); on another broker it uses the
    credentials of the settings (``--mqtt-url``, ``EDGETWIN_MQTT_USERNAME``/``_PASSWORD``).
    """
    target = settings.mqtt_target()
    if settings.embedded_broker and target.username is None:
        user, password = ensure_credentials(settings.data_dir, part)
        target = target.model_copy(update={"username": user, "password": password})
    return target


def make_client(target: MqttTarget, client_id: str, *, clean_session: bool = True) -> paho.Client:
    """A paho client (MQTT 3.1.1) configured for ``target``; not yet connected."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=paho.MQTTv311,
    )
    if target.username is not None:
        client.username_pw_set(target.username, target.password)
    if target.tls:
        # Always verify the broker's certificate and host name (the reference turned checks off).
        client.tls_set(
            ca_certs=str(target.ca_file) if target.ca_file else None,
            certfile=str(target.cert_file) if target.cert_file else None,
            keyfile=str(target.key_file) if target.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
        client.tls_insecure_set(False)
    # Reconnect quickly: a plant broker that restarts should not leave us away for long.
    client.reconnect_delay_set(min_delay=1, max_delay=4)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(100)
    return client


class BrokerLinkError(Exception):
    """The broker cannot be reached or refused us; the message says what to fix."""


def where(target: MqttTarget) -> str:
    """``mqtt://host:port`` or ``mqtts://host:port`` (never the credentials)."""
    return f"{'mqtts' if target.tls else 'mqtt'}://{target.host}:{target.port}"


def refused(target: MqttTarget, reason: object) -> str:
    """What a refused CONNECT means, in the same words wherever it is seen."""
    return (
        f"{where(target)}: broker refused the connection: {reason}"
        " (check the MQTT username and password)"
    )


def check_broker(target: MqttTarget, timeout_s: float = 5.0) -> None:
    """Connect once, synchronously, and raise :class:`BrokerLinkError` with a clear reason.

    paho's background loop only retries silently when a TLS handshake fails, so the edge calls
    this while it is not connected, to say *why* (wrong CA, wrong password, nothing listening).
    """
    import threading

    client = make_client(target, f"edgetwin-check-{os.getpid()}-{secrets.token_hex(3)}")
    done = threading.Event()
    result: dict[str, str] = {}

    def on_connect(_c: paho.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            result["error"] = refused(target, reason)
        done.set()

    client.on_connect = on_connect
    url = where(target)
    try:
        client.connect(target.host, target.port, keepalive=10)
    except ssl.SSLCertVerificationError as exc:
        raise BrokerLinkError(
            f"TLS to {url}: the broker's certificate was not accepted: {exc.verify_message}"
            " (check mqtt_ca_file / EDGETWIN_MQTT_CA_FILE and the broker's host name)"
        ) from exc
    except ssl.SSLError as exc:
        raise BrokerLinkError(f"TLS to {url} failed: {exc}") from exc
    except OSError as exc:
        raise BrokerLinkError(f"cannot reach {url}: {exc}") from exc
    try:
        client.loop_start()
        if not done.wait(timeout_s):
            raise BrokerLinkError(f"{url} did not answer the MQTT handshake in {timeout_s} s")
        if "error" in result:
            raise BrokerLinkError(result["error"])
    finally:
        client.disconnect()
        client.loop_stop()
