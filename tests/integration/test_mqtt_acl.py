"""Topic rules on a real broker: a Mosquitto of our own with the files ``edgetwin mqtt-acl``
writes, and the embedded broker (``edgetwin broker``) with anonymous access turned off. Both
refuse device A on device B's topics and on command topics, and anonymous clients; both let the
right users through.

A refused PUBLISH is dropped silently (an MQTT 3.1.1 QoS 1 PUBLISH is acknowledged all the
same), so each refusal is shown by order: the forbidden messages go first, then a permitted
marker from the same client; a subscriber that may see everything gets the marker, and only it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgetwin.cli_mqtt import plant_parts, write_broker_files
from edgetwin.core.settings import Settings
from edgetwin.security.mqtt_acl import MqttPart, cloud_part, device_part, edge_part
from edgetwin.transport.mqtt_users import ensure_user
from tests.conftest import free_port, need, port_open
from tests.integration.conftest import EDGETWIN, wait_for

pytestmark = pytest.mark.integration

T, P = "acme", "plant-01"
A = device_part(T, P, "line-01", "cnc-01")
B = device_part(T, P, "line-01", "cnc-02")
EDGE = edge_part(T, P, "edge-01")
OTHER_EDGE = edge_part(T, "plant-02", "edge-01")
A_TOPIC = "v1/acme/plant-01/line-01/cnc-01"
B_TOPIC = "v1/acme/plant-01/line-01/cnc-02"


@dataclass
class Plant:
    """A broker on a free port and the passwords of its users."""

    kind: str
    port: int
    proc: subprocess.Popen[bytes]
    passwords: dict[str, str] = field(default_factory=dict)

    def login(self, part: MqttPart | None) -> tuple[str, str] | None:
        return None if part is None else (part.username, self.passwords[part.username])


def _mosquitto(work: Path) -> Plant:
    need(shutil.which("mosquitto") is not None, "Mosquitto is not installed")
    settings = Settings(data_dir=work, tenant=T, plant=P)
    parts = plant_parts(settings, devices=[("line-01", "cnc-01"), ("line-01", "cnc-02")])
    parts.append(OTHER_EDGE)
    paths = write_broker_files(work / "broker", parts)
    port = free_port()
    conf = work / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\npersistence false\nlog_dest stdout\n"
        + ("user root\n" if os.getuid() == 0 else "")  # else it drops to 'mosquitto'
        + paths["mosquitto.conf"].read_text()
    )
    log = (work / "mosquitto.log").open("wb")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    wait_for(lambda: port_open("127.0.0.1", port), 10, what="mosquitto to listen")
    users = json.loads(paths["credentials.json"].read_text())["users"]
    return Plant("mosquitto", port, proc, {u["username"]: u["password"] for u in users})


def _embedded(work: Path) -> Plant:
    passwords = {p.username: ensure_user(work, p) for p in (cloud_part(), EDGE, OTHER_EDGE, A, B)}
    port = free_port()
    proc = subprocess.Popen(
        [*EDGETWIN, "broker", "--mqtt-port", str(port), "--data-dir", str(work)],
        stdout=(work / "broker.log").open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "EDGETWIN_MQTT_ANONYMOUS_LOOPBACK": "false"},
    )
    wait_for(lambda: port_open("127.0.0.1", port), 20, what="embedded broker")
    return Plant("embedded", port, proc, passwords)


@pytest.fixture(scope="module", params=["mosquitto", "embedded"])
def plant(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Plant]:
    start = _mosquitto if request.param == "mosquitto" else _embedded
    broker = start(tmp_path_factory.mktemp(request.param))
    yield broker
    broker.proc.terminate()
    broker.proc.wait(10)


class Client:
    """A paho client, connected (or refused), that keeps what it receives and its SUBACKs."""

    def __init__(
        self,
        plant: Plant,
        login: tuple[str, str] | None,
        client_id: str,
        protocol: int = paho.MQTTv311,
    ) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol
        )
        if login is not None:
            self.client.username_pw_set(*login)
        self.received: list[tuple[str, bytes]] = []
        self.granted: list[Any] = []
        self.acks: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._connack: list[Any] = []
        self._event = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", plant.port, keepalive=10)
        self.client.loop_start()
        assert self._event.wait(10), "no CONNACK"
        self._event.clear()

    @property
    def refused(self) -> bool:
        return bool(self._connack[0].is_failure)

    def _on_connect(self, _c: object, _u: object, _f: object, reason: Any, _p: object) -> None:
        self._connack.append(reason)
        self._event.set()

    def _on_message(self, _c: object, _u: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload)))

    def _on_subscribe(self, _c: object, _u: object, _m: int, codes: list[Any], _p: object) -> None:
        self.granted = codes
        self._event.set()

    def _on_publish(self, _c: object, _u: object, mid: int, reason: Any, _p: object) -> None:
        self.acks[mid] = reason

    def subscribe(self, topic_filter: str) -> Any:
        self._event.clear()
        self.client.subscribe(topic_filter, qos=1)
        assert self._event.wait(10), "no SUBACK"
        return self.granted[0]

    def publish(self, topic: str, payload: bytes) -> int:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
        return info.mid

    def topics(self) -> list[str]:
        with self._lock:
            return [t for t, _ in self.received]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _watcher(plant: Plant, name: str, topic_filter: str = "v1/#") -> Client:
    """The cloud's user, which may read everything: it sees what the broker let through."""
    watcher = Client(plant, plant.login(cloud_part()), f"watch-{name}")
    assert not watcher.refused
    assert not watcher.subscribe(topic_filter).is_failure
    return watcher


def _only_marker_arrives(watcher: Client, marker_topic: str) -> list[str]:
    wait_for(lambda: marker_topic in watcher.topics(), 10, what=f"the marker on {marker_topic}")
    return watcher.topics()


def test_device_a_is_refused_on_b_topics_and_on_command_topics(plant: Plant) -> None:
    watcher = _watcher(plant, "a")
    device = Client(plant, plant.login(A), "device-a")
    assert not device.refused
    for topic in (
        f"{B_TOPIC}/temp",  # B's reading
        f"{B_TOPIC}/cmd/reply",  # B's command reply
        f"{A_TOPIC}/cmd",  # a command to itself, as if from the cloud
        f"{A_TOPIC}/cmd/device",  # as if from the edge
        "v1/acme/plant-01/cmd",  # a plant-wide command (a fault)
        "v1/acme/plant-01/status/edge-01",
    ):
        device.publish(topic, b"forged")
    device.publish(f"{A_TOPIC}/cmd/reply", b"reply")
    device.publish(f"{A_TOPIC}/temp", b"marker")
    seen = _only_marker_arrives(watcher, f"{A_TOPIC}/temp")
    device.close()
    watcher.close()
    assert seen == [f"{A_TOPIC}/cmd/reply", f"{A_TOPIC}/temp"]


def test_a_device_receives_only_its_own_commands(plant: Plant) -> None:
    device = Client(plant, plant.login(A), "device-a-commands")
    # Mosquitto grants any subscription and filters each message; ours refuses a filter that
    # can match none of the device's topics (0x80) and filters each message too.
    refused = device.subscribe(f"{B_TOPIC}/#")
    assert refused.is_failure == (plant.kind == "embedded")
    assert not device.subscribe("v1/acme/plant-01/+/+/cmd/device").is_failure
    edge = Client(plant, plant.login(EDGE), "edgetwin-edge-acme-plant-01-edge-01")
    assert not edge.refused
    edge.publish(f"{B_TOPIC}/cmd/device", b'{"id":"b"}')
    edge.publish(f"{A_TOPIC}/cmd/device", b'{"id":"a"}')
    wait_for(lambda: device.received, 10, what="A's command")
    edge.close()
    device.close()
    assert device.received == [(f"{A_TOPIC}/cmd/device", b'{"id":"a"}')]


def test_an_edge_stays_in_its_plant(plant: Plant) -> None:
    watcher = _watcher(plant, "edges")
    other = Client(plant, plant.login(OTHER_EDGE), "edge-of-plant-02")
    other.publish("v1/acme/plant-01/cmd", b"forged")
    other.publish("v1/acme/plant-02/status/edge-01", b"marker")
    seen = _only_marker_arrives(watcher, "v1/acme/plant-02/status/edge-01")
    edge = Client(plant, plant.login(EDGE), "edge-of-plant-01")
    edge.publish("v1/acme/plant-01/status/edge-01", b"{}")
    wait_for(lambda: "v1/acme/plant-01/status/edge-01" in watcher.topics(), 10, what="status")
    for client in (other, edge, watcher):
        client.close()
    assert "v1/acme/plant-01/cmd" not in seen


def _refused(plant: Plant, login: tuple[str, str] | None, client_id: str) -> bool:
    client = Client(plant, login, client_id)
    client.close()
    return client.refused


def test_anonymous_clients_and_wrong_passwords_are_refused(plant: Plant) -> None:
    assert _refused(plant, None, "stock-client")
    assert _refused(plant, (A.username, plant.passwords[B.username]), "a-with-b-password")
    assert _refused(plant, ("device/acme/plant-01/line-09/nobody", "x"), "nobody")
    assert not _refused(plant, plant.login(A), "device-a-login")


@pytest.mark.parametrize("plant", ["mosquitto"], indirect=True)  # amqtt 0.12 has no MQTT 5
def test_mosquitto_answers_a_forbidden_mqtt5_publish_with_0x87(plant: Plant) -> None:
    """MQTT 5 says it outright: PUBACK reason 0x87 (not authorized), success for a permitted one."""
    device = Client(plant, plant.login(A), "device-a-v5", protocol=paho.MQTTv5)
    forbidden = device.publish(f"{B_TOPIC}/temp", b"forged")
    allowed = device.publish(f"{A_TOPIC}/temp", b"ok")
    wait_for(lambda: allowed in device.acks and forbidden in device.acks, 10, what="PUBACKs")
    device.close()
    assert device.acks[forbidden].value == 0x87
    assert not device.acks[allowed].is_failure  # 0, or 0x10 "no matching subscribers"
