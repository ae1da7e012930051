"""Inputs from the field against the cloud API (real SQLite, FastAPI's TestClient): far dates,
device ids that round-trip (dots included), unknown devices, JSON 404s, times in one format,
enum labels, live subscriptions that end with their socket, and loops that survive bad items."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from edgetwin.compose import build_app
from edgetwin.core.settings import load_settings
from tests.conftest import bearer

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
URL_SAFE = re.compile(r"^[A-Za-z0-9_.\-:]+$")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(data_dir=tmp_path, mqtt_url="mqtt://127.0.0.1:1")
    with TestClient(build_app(settings, dashboard=False), headers=bearer(settings.data_dir)) as c:
        yield c


def _reading(line: str, machine: str, metric: str = "temp", value: float = 1.0) -> dict[str, Any]:
    return {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "id": str(uuid.uuid4()),
        "tenant": "acme",
        "plant": "plant-01",
        "line": line,
        "machine": machine,
        "metric": metric,
        "value": value,
        "unit": "",
    }


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# -- case 4: far dates are a 422 naming the parameter --
@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"end": "0001-01-01T00:30:00Z", "minutes": 60}, "end"),
        ({"start": "9999-12-31T23:00:00-05:00", "end": "9999-12-31T23:30:00Z"}, "start end"),
        ({"end": "0001-01-01T00:00:00+01:00"}, "end"),
        ({"start": "1969-12-31T23:59:59Z", "end": "2026-01-01T00:00:00Z"}, "start"),
        ({"end": "2201-01-01T00:00:00Z"}, "end"),
        ({"start": "yesterday"}, "start"),
    ],
)
def test_far_dates_are_a_422_naming_the_parameter(
    client: TestClient, params: dict[str, Any], named: str
) -> None:
    base = {"line": "line-01", "machine": "cnc-01", "metric": "temp"}
    r = client.get("/api/v1/series", params={**base, **params})
    assert r.status_code == 422, r.text
    assert [e["loc"] for e in r.json()["detail"]] == [["query", n] for n in named.split()]


def test_every_route_refuses_bad_query_values_with_422(client: TestClient) -> None:
    assert client.get("/api/v1/kpis", params={"minutes": 10**30}).status_code == 422
    assert client.get("/api/v1/kpis", params={"minutes": 0}).status_code == 422
    assert client.get("/api/v1/kpis", params={"plant": "a/b"}).status_code == 422
    assert client.get("/api/v1/devices", params={"tenant": "a b"}).status_code == 422
    assert client.get("/api/v1/faults", params={"plant": "#"}).status_code == 422
    assert client.get("/api/v1/devices/x/commands", params={"tenant": "+"}).status_code == 422
    bad_line = client.post("/api/v1/devices/x/commands", params={"line": "a/b"}, json={"name": "P"})
    assert bad_line.status_code == 422


# -- cases 6 and 7: ids that round-trip, dots in names --
def test_device_ids_round_trip_through_every_sub_resource(client: TestClient) -> None:
    for line, machine in (("line-01", "press.7"), ("line-01", "cnc-01"), ("line.2", "cnc-01")):
        client.post("/api/v1/ingest", json=_reading(line, machine))
    devices = client.get("/api/v1/devices").json()
    assert sorted(d["id"] for d in devices) == [
        "plant-01:line-01:cnc-01",
        "plant-01:line-01:press.7",
        "plant-01:line.2:cnc-01",
    ]
    for dev in devices:
        assert URL_SAFE.match(dev["id"])
        assert client.get(f"/api/v1/devices/{dev['id']}").json() == dev
        made = client.post(f"/api/v1/devices/{dev['id']}/commands", json={"name": "PING"})
        assert made.status_code == 201, made.text
        cmd = made.json()
        assert cmd["device"] == {k: dev[k] for k in ("tenant", "plant", "line", "machine")}
        listed = client.get(f"/api/v1/devices/{dev['id']}/commands").json()
        assert [c["id"] for c in listed] == [cmd["id"]]
        assert client.get(f"/api/v1/devices/{dev['id']}/commands/{cmd['id']}").json() == cmd


def test_a_dot_in_a_machine_name_finds_its_commands(client: TestClient) -> None:
    """The issue's case: ``press.7`` by its bare name, as an operator types it."""
    client.post("/api/v1/ingest", json=_reading("line-01", "press.7"))
    made = client.post("/api/v1/devices/press.7/commands", json={"name": "PING"})
    assert made.status_code == 201, made.text
    cmd_id = made.json()["id"]
    assert [c["id"] for c in client.get("/api/v1/devices/press.7/commands").json()] == [cmd_id]
    assert client.get(f"/api/v1/devices/press.7/commands/{cmd_id}").json()["id"] == cmd_id
    assert client.get("/api/v1/devices/press.7").json()["id"] == "plant-01:line-01:press.7"
    # another device's id never finds it
    assert (
        client.get(f"/api/v1/devices/plant-01:line-02:press.7/commands/{cmd_id}").status_code == 404
    )


def test_a_machine_name_on_two_lines_asks_for_the_id(client: TestClient) -> None:
    client.post(
        "/api/v1/ingest", json=[_reading("line-01", "cnc-01"), _reading("line-02", "cnc-01")]
    )
    r = client.get("/api/v1/devices/cnc-01/commands")
    assert r.status_code == 409
    assert "plant-01:line-01:cnc-01" in r.json()["detail"]


# -- issue 14 item 10: unknown devices are 404, and a 404 under /api/ is JSON --
def test_unknown_devices_are_404(client: TestClient) -> None:
    for path in ("/api/v1/devices/nope-99/commands", "/api/v1/devices/nope-99"):
        r = client.get(path)
        assert r.status_code == 404, (path, r.text)
        assert "nope-99" in r.json()["detail"]
    assert client.post("/api/v1/devices/nope-99/commands", json={"name": "P"}).status_code == 404


def test_a_404_under_api_is_json_with_the_dashboard_mounted(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, mqtt_url="mqtt://127.0.0.1:1")
    with TestClient(build_app(settings), headers=bearer(settings.data_dir)) as c:
        for path in ("/api/v1/nope", "/api/v2/devices", "/api/v1/devices/nope-99/commands"):
            r = c.get(path)
            assert r.status_code == 404
            assert r.headers["content-type"] == "application/json", path
            assert "detail" in r.json()
        assert c.get("/no-such-page").headers["content-type"].startswith("text/html")


# -- case 14: one time format --
def test_commands_carry_iso_times_in_the_api_and_the_live_stream(client: TestClient) -> None:
    client.post("/api/v1/ingest", json=_reading("line-01", "cnc-01"))
    with client.websocket_connect(
        "/api/v1/live?topics=v1/acme/plant-01/line-01/cnc-01/cmd/%23"
    ) as ws:
        cmd = client.post("/api/v1/devices/cnc-01/commands", json={"name": "PING"}).json()
        event = ws.receive_json()
    for record in (cmd, event["data"]):
        for key in ("created_at", "updated_at", "expires_at"):
            assert ISO_UTC.match(record[key]), (key, record[key])
        assert all(ISO_UTC.match(step["at"]) for step in record["history"])
    assert event["data"] == cmd
    reading = client.get("/api/v1/devices/cnc-01").json()
    assert ISO_UTC.match(reading["last_seen"])


def test_alerts_carry_iso_times_in_stats_and_the_live_stream(client: TestClient) -> None:
    link = client.app.state.plant_link  # type: ignore[attr-defined]
    raised = datetime(2026, 1, 15, 10, 30, 0, 123000, tzinfo=UTC).timestamp()
    alert = {"kind": "buffer_high", "message": "80% full", "since": raised, "active": True}
    status = {"edge_id": "edge-01", "ts": time.time(), "buffer_depth": 3, "alerts": [alert]}
    with client.websocket_connect("/api/v1/live?topics=v1/acme/plant-01/alert/%23") as ws:
        client.portal.call(link.on_status, "v1/acme/plant-01/status/edge-01", status)  # type: ignore[union-attr]
        event = ws.receive_json()
    assert (event["data"]["since"], event["data"]["cleared"]) == ("2026-01-15T10:30:00.123Z", None)
    client.app.state.services.edges.from_status(status)  # type: ignore[attr-defined]
    stats = client.get("/api/v1/stats").json()
    assert stats["alerts"][0]["since"] == "2026-01-15T10:30:00.123Z"
    assert stats["edges"][0]["alerts"][0]["since"] == "2026-01-15T10:30:00.123Z"


# -- issue 14 item 11: enum labels beside their codes --
def test_devices_show_the_label_of_an_enum_value(client: TestClient) -> None:
    client.post("/api/v1/ingest", json=[_reading("line-01", "cnc-01", "state", 2),
                                        _reading("line-01", "cnc-01", "temp", 2)])  # fmt: skip
    metrics = client.get("/api/v1/devices/cnc-01").json()["metrics"]
    assert (metrics["state"]["value"], metrics["state"]["label"]) == (2, "FAULT")
    assert "label" not in metrics["temp"]


# -- case 12: a closed socket ends its subscription at once --
def test_closed_live_sockets_end_their_subscriptions_without_traffic(client: TestClient) -> None:
    hub = client.app.state.live  # type: ignore[attr-defined]
    for _ in range(50):
        with client.websocket_connect("/api/v1/live?topics=v1/acme/quiet-plant/%23"):
            pass
    _wait(lambda: hub.subscribers == 0, 5, "every subscription to end")


def test_live_topic_filters_follow_the_name_rule(client: TestClient) -> None:
    for topics in ("v1/acme/a b/#", "v1/#/x", "v1/acme/plant-01/x#"):
        url = f"/api/v1/live?topics={quote(topics)}"
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(url) as ws:
            ws.receive_json()
        assert closed.value.code == 1008
    assert client.app.state.live.subscribers == 0  # type: ignore[attr-defined]


# -- principles: a bad item never wedges a loop; /health reports a dead loop --
def test_a_bad_command_fails_with_its_reason_and_dispatch_goes_on(client: TestClient) -> None:
    service = client.app.state.commands  # type: ignore[attr-defined]
    published: list[str] = []

    def publish(topic: str, payload: dict[str, Any]) -> None:
        if payload["name"] == "BAD":
            raise ValueError("cannot encode this command")
        published.append(payload["name"])

    service.publish, service.connected = publish, lambda: True
    client.post("/api/v1/ingest", json=_reading("line-01", "cnc-01"))
    bad = client.post("/api/v1/devices/cnc-01/commands", json={"name": "BAD"}).json()
    good = client.post("/api/v1/devices/cnc-01/commands", json={"name": "PING"}).json()
    path = "/api/v1/devices/cnc-01/commands/"
    _wait(lambda: client.get(path + bad["id"]).json()["state"] == "failed", 5, "BAD to fail")
    assert "cannot encode" in client.get(path + bad["id"]).json()["detail"]["reason"]
    _wait(lambda: "PING" in published, 5, "PING to be published")
    loops = client.get("/health").json()["loops"]
    assert loops["commands"]["state"] == "running"
    assert loops["commands"]["item_errors"] >= 1
    assert good["id"] != bad["id"]


def test_health_reports_a_loop_that_died(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert {"commands", "rate-sampler", "live-fanout"} <= set(health["loops"])
    loops = client.app.state.services.loops  # type: ignore[attr-defined]

    async def broken() -> None:
        raise RuntimeError("a bug outside any item")

    async def start() -> None:
        loops.start("extra", broken)
        await asyncio.sleep(0)

    client.portal.call(start)  # type: ignore[union-attr]
    _wait(lambda: client.get("/health").json()["status"] == "degraded", 5, "degraded")
    died = client.get("/health").json()["loops"]["extra"]
    assert died["state"] == "died"
    assert "a bug outside any item" in died["error"]


def test_a_failing_live_listener_never_fails_the_ingest(client: TestClient) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]

    def broken(points: Any, historical: bool) -> None:
        raise RuntimeError("listener bug")

    services.on_ingest.insert(0, broken)
    assert client.post("/api/v1/ingest", json=_reading("line-01", "cnc-01")).json()["accepted"] == 1
    loops = client.get("/health").json()["loops"]
    assert loops["live-fanout"]["item_errors"] == 1
    assert "listener bug" in loops["live-fanout"]["last_item_error"]
