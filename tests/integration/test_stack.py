"""``edgetwin up`` on embedded defaults, checked as a new user would check it."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from edgetwin.packs.factory.model import LINES, MACHINES
from tests.integration.conftest import Stack, mosquitto_pub, wait_for

pytestmark = pytest.mark.integration
BASE_TEMP = {m: base.temp for _line, (machines, base) in LINES.items() for m in machines}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("up"))
    s.start()
    yield s
    code = s.stop()
    assert code == 0, s.log()[-3000:]


def _recent_temps(stack: Stack, since: datetime) -> dict[str, list[float]]:
    """Per machine, the temperatures stamped at or after ``since`` (one per 2 s bucket)."""
    out: dict[str, list[float]] = {}
    for line, machine in MACHINES:
        body = stack.get(
            "/api/v1/series",
            line=line,
            machine=machine,
            metric="temp",
            start=since.isoformat(),
            end=(datetime.now(UTC) + timedelta(seconds=5)).isoformat(),
            bucket_seconds=2,
        )
        out[machine] = [p["avg"] for p in body["points"]]
    return out


def _states(stack: Stack) -> dict[str, float]:
    """The factory machines' state metric (other packs' devices are left out)."""
    factory = {m for _l, m in MACHINES}
    return {
        d["machine"]: d["metrics"]["state"]["value"]
        for d in stack.get("/api/v1/devices")
        if d["machine"] in factory
    }


def test_all_nine_machines_within_30_s(stack: Stack) -> None:
    started = time.monotonic()
    since = datetime.now(UTC) - timedelta(minutes=1)

    def all_nine() -> bool:
        temps = _recent_temps(stack, since)
        return all(temps[m] for _l, m in MACHINES)

    wait_for(all_nine, 30, what="temperatures of all 9 machines")
    assert time.monotonic() - started < 30
    factory = {m for _l, m in MACHINES}
    devices = [d for d in stack.get("/api/v1/devices") if d["machine"] in factory]
    assert len(devices) == 9
    assert all(d["online"] and len(d["metrics"]) == 6 for d in devices)
    assert "dashboard: http://127.0.0.1:" in stack.log()


def test_bearing_fault_from_a_stock_client_and_back(stack: Stack) -> None:
    wait_for(lambda: len(_states(stack)) == 9, 30, what="devices")
    topic = "v1/acme/plant-01/cmd"
    sent = datetime.now(UTC)
    mosquitto_pub(stack.mqtt_port, topic, '{"cmd": "bearing_fault", "value": true}')
    try:
        # Within two cycles every machine reports FAULT and runs hot.
        wait_for(lambda: set(_states(stack).values()) == {2.0}, 5, what="state FAULT everywhere")
        wait_for(
            lambda: stack.get("/api/v1/faults")["faults"]["bearing_fault"] is True,
            5,
            what="the simulator to report the fault",
        )
        time.sleep(2.5)
        hot = _recent_temps(stack, sent + timedelta(seconds=2))
        rises = []
        for machine, temps in hot.items():
            assert temps, f"no readings from {machine} during the fault"
            rise = statistics.mean(temps) - BASE_TEMP[machine]
            assert rise >= 15 - 6, f"{machine} rose only {rise:.1f} °C"  # U(15,25) minus 3σ noise
            rises.append(rise)
        assert statistics.mean(rises) >= 15
    finally:
        mosquitto_pub(stack.mqtt_port, topic, '{"cmd": "bearing_fault", "value": false}')
    cleared = datetime.now(UTC)
    wait_for(lambda: 2.0 not in set(_states(stack).values()), 5, what="FAULT to clear")
    time.sleep(4.5)
    cool = _recent_temps(stack, cleared + timedelta(seconds=2))
    rises = [statistics.mean(t) - BASE_TEMP[m] for m, t in cool.items() if t]
    assert len(rises) == 9
    assert abs(statistics.mean(rises)) < 3


def _reading(ts: datetime) -> dict[str, Any]:
    return {
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "id": str(uuid.uuid4()),
        "tenant": "acme",
        "plant": "plant-01",
        "line": "line-09",
        "machine": "test-rig",
        "metric": "temp",
        "value": 21.5,
        "unit": "°C",
        "q": 100,
    }


def test_same_reading_twice_is_stored_once(stack: Stack) -> None:
    reading = _reading(datetime.now(UTC))
    first = stack.http.post("/api/v1/ingest", json=reading)
    second = stack.http.post("/api/v1/ingest", json=reading)
    assert first.json() == {"accepted": 1, "duplicate": 0}
    assert second.json() == {"accepted": 0, "duplicate": 1}
    body = stack.get("/api/v1/series", line="line-09", machine="test-rig", metric="temp", minutes=5)
    assert sum(p["count"] for p in body["points"]) == 1


def test_malformed_http_and_mqtt_input_is_counted_and_harmless(stack: Stack) -> None:
    bad = _reading(datetime.now(UTC))
    bad["value"] = "very hot"
    r = stack.http.post("/api/v1/ingest", json=[_reading(datetime.now(UTC)), bad])
    assert r.status_code == 422
    assert r.json()["detail"]["problems"][0]["index"] == 1
    assert stack.get("/health")["status"] == "ok"

    def edge_rejected() -> dict[str, int]:
        return stack.get("/api/v1/stats")["edges"][0]["rejected"]

    before = edge_rejected().get("malformed", 0)
    stored_before = stack.get("/api/v1/stats")["stored"]
    mosquitto_pub(stack.mqtt_port, "v1/acme/plant-01/line-01/cnc-01/temp", "{not json")
    mosquitto_pub(stack.mqtt_port, "v1/acme/plant-01/line-01/cnc-01/temp", '{"value": [1]}')
    wait_for(lambda: edge_rejected().get("malformed", 0) >= before + 2, 10, what="rejects counted")
    wait_for(
        lambda: stack.get("/api/v1/stats")["stored"] >= stored_before + 54,
        10,
        what="good readings to keep flowing",
    )


def test_a_batch_message_is_taken_item_by_item(stack: Stack) -> None:
    now = datetime.now(UTC)
    good = [_reading(now - timedelta(seconds=i)) for i in range(3)]
    for r in good:
        r["machine"] = "batch-rig"
    bad = dict(good[0], id=str(uuid.uuid4()), value="n/a")
    foreign = dict(good[0], id=str(uuid.uuid4()), plant="plant-99")
    import orjson

    mosquitto_pub(
        stack.mqtt_port, "v1/acme/plant-01/batch/gw-7", orjson.dumps([*good, bad, foreign]).decode()
    )

    def stored() -> int:
        body = stack.get(
            "/api/v1/series", line="line-09", machine="batch-rig", metric="temp", minutes=5
        )
        return sum(p["count"] for p in body["points"])

    wait_for(lambda: stored() == 3, 10, what="the batch's three good readings")

    def rejected() -> dict[str, int]:
        return stack.get("/api/v1/stats")["edges"][0]["rejected"]

    wait_for(
        lambda: rejected().get("topic_mismatch", 0) >= 1, 5, what="the foreign reading rejected"
    )
    assert rejected().get("malformed", 0) >= 1


def _command(stack: Stack, machine: str, name: str) -> dict[str, Any]:
    r = stack.http.post(f"/api/v1/devices/{machine}/commands", json={"name": name, "ttl_s": 30})
    assert r.status_code == 201, r.text
    cmd_id = r.json()["id"]
    path = f"/api/v1/devices/{machine}/commands/{cmd_id}"
    done = wait_for(
        lambda: (c := stack.get(path))["state"] in ("succeeded", "failed", "expired") and c,
        10,
        what=f"{name} on {machine} to finish",
    )
    return dict(done)


def _current(stack: Stack, machine: str) -> dict[str, float]:
    device = next(d for d in stack.get("/api/v1/devices") if d["machine"] == machine)
    return {metric: v["value"] for metric, v in device["metrics"].items()}


def test_an_operator_stops_and_starts_one_machine(stack: Stack) -> None:
    """A device command to a factory machine: cloud -> broker -> edge -> MQTT device -> back."""
    wait_for(lambda: len(_states(stack)) == 9, 30, what="devices")
    stop = _command(stack, "cnc-01", "STOP")
    assert stop["state"] == "succeeded", stop
    assert [h["state"] for h in stop["history"]] == ["queued", "sent", "delivered", "succeeded"]
    assert stop["detail"] == {"before": "running", "after": "stopped"}
    try:
        # Two cycles later the machine idles: no parts, a tenth of its power, state STOP;
        # its neighbour runs on.
        wait_for(
            lambda: (
                (c := _current(stack, "cnc-01"))["energy_kw"] < 3
                and c["good_count"] == 0
                and c["state"] == 1.0
            ),
            6,
            what="cnc-01 to idle",
        )
        assert _current(stack, "cnc-02")["energy_kw"] > 8
        unknown = _command(stack, "cnc-01", "FLY")
        assert unknown["state"] == "failed"
        assert "unknown command FLY" in unknown["detail"]["error"]
    finally:
        start = _command(stack, "cnc-01", "START")
    assert start["state"] == "succeeded", start
    assert start["detail"] == {"before": "stopped", "after": "running"}
    wait_for(lambda: _current(stack, "cnc-01")["energy_kw"] > 8, 6, what="cnc-01 to run again")
