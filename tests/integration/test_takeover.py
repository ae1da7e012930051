"""Two clients with one client id throw each other off the broker (an MQTT session takeover):
the client says so, as the edge's ``session_takeover`` alert does, instead of flapping quietly."""

from __future__ import annotations

import asyncio

import paho.mqtt.client as paho
import pytest

from edgetwin.core.settings import MqttTarget
from edgetwin.transport.client import MqttClient
from tests.conftest import need, port_open

pytestmark = pytest.mark.integration


def test_a_stolen_client_id_is_named_and_a_steady_link_is_not() -> None:
    need(port_open("127.0.0.1", 1883), "Mosquitto on 127.0.0.1:1883")
    target = MqttTarget(host="127.0.0.1", port=1883)

    async def scenario() -> tuple[str | None, str | None]:
        queue: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()
        steady = MqttClient(target, "edgetwin-test-steady", ["test/steady/#"], queue)
        ours = MqttClient(target, "edgetwin-test-stolen", ["test/stolen/#"], queue)
        thief = MqttClient(target, "edgetwin-test-stolen", ["test/stolen/#"], queue)
        async with steady, ours:
            await asyncio.wait_for(ours.connected.wait(), 10)
            async with thief:
                for _ in range(300):  # both reconnect about every second; 3 flaps suffice
                    if ours.takeover is not None or thief.takeover is not None:
                        break
                    await asyncio.sleep(0.1)
            return ours.takeover or thief.takeover, steady.takeover

    stolen, steady = asyncio.run(scenario())
    assert stolen is not None
    assert "edgetwin-test-stolen" in stolen
    assert "session takeover" in stolen
    assert steady is None
