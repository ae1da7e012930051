"""``/api/v1/warehouse/...`` on a cloud with the warehouse pack and a real broker: the state
follows the controller's retained snapshot, orders and maintenance become the controller's
device commands (audited), the e-stop also goes straight to its topic with who pressed it, other
tenants get 404, bad bodies 422, and the analytics and the CSV export answer."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from fastapi.testclient import TestClient

from edgetwin.compose import build_app
from edgetwin.core.settings import load_settings
from edgetwin.core.topics import status_topic
from edgetwin.packs.warehouse.controller import Controller
from edgetwin.packs.warehouse.device import WarehouseDevice, snapshot
from edgetwin.packs.warehouse.sim import estop_topic
from tests.conftest import make_token
from tests.integration.conftest import Mosquitto, wait_for

T, P = "acme", "plant-wh"
API = "/api/v1/warehouse"


def stocked_snapshot() -> dict[str, Any]:
    """The controller after storing a raw cookie into B3, parked."""
    dev = WarehouseDevice(Controller(rng=random.Random(3)))
    dev.c.reset()
    dev.command({"id": "s1", "name": "STORE", "args": {"slot": "B3", "flavor": "VANILLA"}})
    while dev.c.machine_state != "Idle" or not dev.answers:
        dev.c.tick()
        dev.collect()
    return snapshot(dev)


class Broker:
    """A plain MQTT client of the test: publishes the snapshot, hears the e-stop topic."""

    def __init__(self, url: str) -> None:
        self.heard: list[dict[str, Any]] = []
        self.subscribed = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="test-warehouse-api")
        self.client.on_message = lambda _c, _u, m: self.heard.append(orjson.loads(m.payload))
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        port = int(url.rsplit(":", 1)[1])
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(estop_topic(T, P), qos=1)

    def close(self) -> None:
        self.client.publish(
            status_topic(T, P, "warehouse"), b"", qos=1, retain=True
        ).wait_for_publish(5)
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture(scope="module")
def cloud(
    mosquitto: Mosquitto, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Broker, Path]]:
    data_dir = tmp_path_factory.mktemp("warehouse-api")
    settings = load_settings(data_dir=data_dir, mqtt_url=mosquitto.url, packs=["warehouse"],
                             tenant=T, plant=P, rate_limit_per_s=0)  # fmt: skip
    broker = Broker(mosquitto.url)
    assert broker.subscribed.wait(10)
    snap = stocked_snapshot()
    broker.client.publish(status_topic(T, P, "warehouse"), orjson.dumps(snap), qos=1,
                          retain=True).wait_for_publish(5)  # fmt: skip
    with TestClient(build_app(settings, dashboard=False)) as client:
        client.headers["Authorization"] = f"Bearer {make_token(data_dir, 'operator', (T,))}"
        yield client, broker, data_dir
    broker.close()


def test_the_state_follows_the_snapshot(cloud: tuple[TestClient, Broker, Path]) -> None:
    client, _, _ = cloud
    inv = wait_for(
        lambda: (
            (r := client.get(f"{API}/inventory", params={"tenant": T}).json())["stock"] == 1 and r
        ),
        10,
        what="the stored cookie in the inventory",
    )
    b3 = next(s for s in inv["slots"] if s["slot"] == "B3")
    assert b3["cookie"]["state"] == "RAW_DOUGH"
    assert b3["cookie"]["flavor"] == "VANILLA"
    hw = client.get(f"{API}/hardware", params={"tenant": T}).json()
    assert hw["machine_state"] == "Idle"
    assert {c["id"] for c in hw["components"]} >= {"HBW_X_MOTOR", "VGR_COMP"}
    specs = client.get(f"{API}/components", params={"tenant": T}).json()
    assert len(specs) == 14
    assert next(s for s in specs if s["id"] == "CONV_L3")["position_mm"] == 700.0


def test_orders_are_the_controllers_commands_and_audited(
    cloud: tuple[TestClient, Broker, Path],
) -> None:
    client, _, data_dir = cloud
    r = client.post(f"{API}/orders/process", params={"tenant": T}, json={"slot": "B3"})
    assert r.status_code == 201, r.text
    cmd = r.json()
    assert (cmd["name"], cmd["args"], cmd["device"]["machine"]) == ("PROCESS", {"slot": "B3"},
                                                                   "warehouse")  # fmt: skip
    followed = client.get(f"/api/v1/devices/warehouse/commands/{cmd['id']}",
                          params={"tenant": T}).json()  # fmt: skip
    assert followed["id"] == cmd["id"]
    orders = client.get(f"{API}/orders", params={"tenant": T}).json()
    assert orders[0]["id"] == cmd["id"]
    assert (orders[0]["kind"], orders[0]["state"]) == ("process", "queued")
    assert orders[0]["requested_by"] == client.get("/api/v1/me").json()["name"]
    stored = client.post(f"{API}/orders/store", params={"tenant": T}, json={})
    assert stored.json()["args"] == {"flavor": "CHOCO"}
    for bad in ({"slot": "Z9"}, {"slot": "B3", "extra": 1}):
        assert (
            client.post(f"{API}/orders/retrieve", params={"tenant": T}, json=bad).status_code == 422
        )
    assert client.post(f"{API}/maintenance/replace-motor", params={"tenant": T},
                       json={"motor": "CONV_L1"}).status_code == 422  # a sensor  # fmt: skip
    admin = {"Authorization": f"Bearer {make_token(data_dir)}"}
    audit = client.get("/api/v1/audit", headers=admin, params={"limit": 100}).json()
    assert any(e["target"].endswith("warehouse:PROCESS") and "slot=B3" in e["detail"]
               for e in audit)  # fmt: skip


def test_the_estop_goes_straight_to_the_controller_with_who_pressed_it(
    cloud: tuple[TestClient, Broker, Path],
) -> None:
    client, broker, data_dir = cloud
    me = client.get("/api/v1/me").json()["name"]
    r = client.post(f"{API}/maintenance/emergency-stop", params={"tenant": T})
    assert r.status_code == 201, r.text
    assert (r.json()["name"], r.json()["args"]) == ("ESTOP", {"by": me})
    wait_for(lambda: {"by": me} in broker.heard, 5, what="the e-stop on its topic")
    admin = {"Authorization": f"Bearer {make_token(data_dir)}"}
    audit = client.get("/api/v1/audit", headers=admin, params={"limit": 100}).json()
    pressed = next(e for e in audit if e["action"] == "estop")
    assert (pressed["caller"], pressed["outcome"], pressed["detail"]) == (
        me, "sent", f"pressed by {me}")  # fmt: skip


def test_callers_and_tenants(cloud: tuple[TestClient, Broker, Path]) -> None:
    client, _, data_dir = cloud
    viewer = {"Authorization": f"Bearer {make_token(data_dir, 'viewer', (T,))}"}
    assert client.get(f"{API}/hardware", params={"tenant": T}, headers=viewer).status_code == 200
    assert client.post(f"{API}/maintenance/reset", params={"tenant": T},
                       headers=viewer).status_code == 403  # fmt: skip
    for path in ("/inventory", "/alerts", "/analytics"):
        assert client.get(f"{API}{path}", params={"tenant": "beta"}).status_code == 404
    assert client.post(f"{API}/orders/store", params={"tenant": "beta"},
                       json={"nonsense": 1}).status_code == 404  # before the body  # fmt: skip


def test_analytics_ranges_and_the_csv_export(cloud: tuple[TestClient, Broker, Path]) -> None:
    client, _, _ = cloud
    for name, buckets in (("24h", 24), ("7d", 28), ("30d", 30)):
        a = client.get(f"{API}/analytics", params={"tenant": T, "range": name}).json()
        assert len(a["buckets"]) == buckets, name
    custom = {"tenant": T, "range": "custom", "start": "2026-01-01T00:00:00Z",
              "end": "2026-01-01T06:00:00Z"}  # fmt: skip
    assert client.get(f"{API}/analytics", params=custom).json()["bucket_s"] == 900
    no_end = {"tenant": T, "range": "custom", "start": "2026-01-01T00:00:00Z"}
    assert client.get(f"{API}/analytics", params=no_end).status_code == 422
    with client.stream("GET", f"{API}/export", params={"tenant": T, "table": "orders"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        text = "".join(r.iter_text())
    assert text.splitlines()[0].startswith("id,kind,slot,flavor,cookie,state")
    assert len(text.splitlines()) >= 3  # the header and this module's orders
