"""The embedded broker (amqtt behind edgetwin's auth and topic plugins), run as
``edgetwin broker``; the topic rules themselves: test_mqtt_acl.py."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgetwin.core.settings import MqttTarget
from edgetwin.security.mqtt_acl import device_part
from edgetwin.transport.mqtt import ensure_credentials, make_client
from edgetwin.transport.mqtt_users import ensure_user
from tests.conftest import free_port, need, port_open
from tests.integration.conftest import EDGETWIN, mosquitto_pub, wait_for

pytestmark = pytest.mark.integration


class Broker:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc = subprocess.Popen(
            [*EDGETWIN, "broker", "--mqtt-port", str(self.port), "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: port_open("127.0.0.1", self.port), 20, what="embedded broker")
        user, password = ensure_credentials(data_dir)
        self.target = MqttTarget(host="127.0.0.1", port=self.port, username=user, password=password)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker(tmp_path_factory.mktemp("broker"))
    yield b
    b.stop()


class Collector:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.lock = threading.Lock()

    def on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        with self.lock:
            self.payloads.append(bytes(msg.payload))


def _connect(client: paho.Client, target: MqttTarget) -> None:
    connected = threading.Event()
    client.on_connect = lambda *_a: connected.set()
    client.connect(target.host, target.port)
    client.loop_start()
    assert connected.wait(10), "no CONNACK"


def test_persistent_session_keeps_qos1_messages_while_subscriber_is_away(broker: Broker) -> None:
    sub = make_client(broker.target, "persistent-sub", clean_session=False)
    _connect(sub, broker.target)
    done = threading.Event()
    sub.on_subscribe = lambda *_a: done.set()
    sub.subscribe("v1/acme/plant-01/+/+/+", qos=1)
    assert done.wait(10)
    sub.disconnect()
    sub.loop_stop()

    pub = make_client(broker.target, "publisher")
    _connect(pub, broker.target)
    for i in range(200):
        pub.publish(
            "v1/acme/plant-01/line-01/cnc-01/temp", str(i).encode(), qos=1
        ).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()

    collector = Collector()
    again = make_client(broker.target, "persistent-sub", clean_session=False)
    again.on_message = collector.on_message
    _connect(again, broker.target)
    wait_for(lambda: len(collector.payloads) >= 200, 20, what="queued messages")
    time.sleep(0.5)
    again.disconnect()
    again.loop_stop()
    assert sorted(int(p) for p in collector.payloads) == list(range(200))


def test_stock_client_may_publish_anonymously_on_loopback(broker: Broker) -> None:
    collector = Collector()
    sub = make_client(broker.target, "watcher")
    sub.on_message = collector.on_message
    _connect(sub, broker.target)
    ready = threading.Event()
    sub.on_subscribe = lambda *_a: ready.set()
    sub.subscribe("v1/acme/plant-01/cmd", qos=1)
    assert ready.wait(10)
    mosquitto_pub(broker.port, "v1/acme/plant-01/cmd", '{"cmd":"bearing_fault","value":true}')
    wait_for(lambda: collector.payloads, 10, what="anonymous publish")
    sub.disconnect()
    sub.loop_stop()
    assert collector.payloads == [b'{"cmd":"bearing_fault","value":true}']


def _connack(client: paho.Client, port: int) -> Any:
    """Connect and return the broker's CONNACK reason code."""
    codes: list[Any] = []
    got = threading.Event()

    def on_connect(_c: paho.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        codes.append(reason)
        got.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert got.wait(10), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return codes[0]


def test_an_anonymous_client_cannot_take_an_edgetwin_client_id(broker: Broker) -> None:
    """A stock client on loopback claiming the edge's id would end the edge's persistent
    session (and the readings queued in it): refused, while the edge's own login is admitted."""
    edge_id = "edgetwin-edge-acme-plant-01-edge-01"
    anonymous = paho.Client(CallbackAPIVersion.VERSION2, client_id=edge_id)
    assert _connack(anonymous, broker.port).is_failure
    assert not _connack(make_client(broker.target, edge_id), broker.port).is_failure


def test_wrong_password_is_refused(broker: Broker) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="intruder")
    assert broker.target.username is not None
    client.username_pw_set(broker.target.username, "wrong")
    assert _connack(client, broker.port).is_failure


def test_a_device_user_cannot_take_an_edgetwin_client_id(broker: Broker) -> None:
    """A device logs in, but the ids of edgetwin's parts stay theirs: its own id is admitted."""
    device = device_part("acme", "plant-01", "line-01", "cnc-01")
    login = MqttTarget(
        host="127.0.0.1",
        port=broker.port,
        username=device.username,
        password=ensure_user(broker.data_dir, device),
    )
    edge_id = "edgetwin-edge-acme-plant-01-edge-01"
    assert _connack(make_client(login, edge_id), broker.port).is_failure
    assert not _connack(make_client(login, "cnc-01"), broker.port).is_failure


def test_taken_port_gives_a_clear_error(broker: Broker, tmp_path: Path) -> None:
    result = subprocess.run(
        [*EDGETWIN, "broker", "--mqtt-port", str(broker.port), "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "already in use" in result.stderr
    assert "--mqtt-port" in result.stderr


def test_up_refuses_a_taken_http_port(broker: Broker, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *EDGETWIN,
            "up",
            "--http-port",
            str(broker.port),
            "--mqtt-port",
            str(free_port()),
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--http-port" in result.stderr


README_FAULT = '{"cmd":"bearing_fault","value":true}'


def _subscribe(
    broker: Broker, client_id: str, topic: str, qos: int = 1
) -> tuple[paho.Client, Collector]:
    """A subscriber logged in with the generated credentials, as edgetwin's own parts are."""
    collector = Collector()
    client = make_client(broker.target, client_id)
    client.on_message = collector.on_message
    _connect(client, broker.target)
    ready = threading.Event()
    client.on_subscribe = lambda *_a: ready.set()
    client.subscribe(topic, qos=qos)
    assert ready.wait(10), "no SUBACK"
    return client, collector


def _close(client: paho.Client) -> None:
    client.disconnect()
    client.loop_stop()


def test_readme_fault_line_at_qos0_reaches_a_subscriber_10_of_10(broker: Broker) -> None:
    """The README's line exactly (no -q: QoS 0, then DISCONNECT at once), ten times."""
    need(shutil.which("mosquitto_pub") is not None, "mosquitto_pub is not installed")
    sub, collector = _subscribe(broker, "readme-watcher", "v1/acme/plant-01/cmd")
    for _ in range(10):
        subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port),
             "-t", "v1/acme/plant-01/cmd", "-m", README_FAULT],
            check=True,
            timeout=10,
        )  # fmt: skip
    wait_for(lambda: len(collector.payloads) >= 10, 20, what="10 of 10 fault commands")
    _close(sub)
    assert collector.payloads == [README_FAULT.encode()] * 10


def _mqtt_packet(kind: int, body: bytes) -> bytes:
    length, encoded = len(body), bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes([kind]) + bytes(encoded) + body


def _mqtt_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def test_qos0_publish_read_together_with_disconnect_and_eof_is_delivered(broker: Broker) -> None:
    """CONNECT, PUBLISH (QoS 0), DISCONNECT and the end of the stream in one segment.

    This is what the broker reads when it is busy, or on any Python whose ``wait_for`` does not
    yield: amqtt then cancelled the PUBLISH before it ran (0 of 10 arrived). Keep-alive 0 makes
    Python 3.11 read it the same way.
    """
    sub, collector = _subscribe(broker, "burst-watcher", "v1/acme/plant-01/cmd")
    for i in range(10):
        connect = _mqtt_string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0)
        payload = f'{{"cmd":"bearing_fault","value":true,"n":{i}}}'.encode()
        with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as raw:
            raw.sendall(
                _mqtt_packet(0x10, connect + _mqtt_string(f"burst-{i}"))
                + _mqtt_packet(0x30, _mqtt_string("v1/acme/plant-01/cmd") + payload)
                + _mqtt_packet(0xE0, b"")
            )
            raw.shutdown(socket.SHUT_WR)
            assert raw.recv(4)[:1] == b"\x20", "no CONNACK"
    wait_for(lambda: len(collector.payloads) >= 10, 20, what="10 of 10 pipelined publishes")
    _close(sub)
    assert sorted(collector.payloads) == sorted(
        f'{{"cmd":"bearing_fault","value":true,"n":{i}}}'.encode() for i in range(10)
    )


def test_retained_status_reaches_only_matching_subscriptions(broker: Broker) -> None:
    """A client that subscribes to commands gets no retained status, even while another holds
    a status filter; the status subscriber still gets it."""
    status_topic = "v1/acme/plant-01/status/edge-01"
    holder, held = _subscribe(broker, "status-holder", "v1/acme/plant-01/status/+")
    pub = make_client(broker.target, "status-publisher")
    _connect(pub, broker.target)
    pub.publish(status_topic, b'{"online":true}', qos=1, retain=True).wait_for_publish(5)
    wait_for(lambda: held.payloads, 10, what="the status subscriber")

    other, got = _subscribe(broker, "cmd-only", "v1/acme/plant-01/cmd")
    pub.publish("v1/acme/plant-01/cmd", b"marker", qos=1).wait_for_publish(5)
    wait_for(lambda: b"marker" in got.payloads, 10, what="the marker")  # after any retained
    late, late_got = _subscribe(broker, "status-late", "v1/acme/plant-01/status/#")
    wait_for(lambda: late_got.payloads, 10, what="the retained status on subscribe")
    for client in (holder, other, late, pub):
        _close(client)
    pub_clear = make_client(broker.target, "status-clear")
    _connect(pub_clear, broker.target)
    pub_clear.publish(status_topic, b"", qos=1, retain=True).wait_for_publish(5)
    _close(pub_clear)
    assert got.payloads == [b"marker"]
    assert late_got.payloads == [b'{"online":true}']
