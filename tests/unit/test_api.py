"""The cloud API on the SQLite store, in process (FastAPI's TestClient, real SQLite)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from edgetwin.cloud.app import create_app
from edgetwin.compose import build_app
from edgetwin.core.settings import load_settings
from edgetwin.packs import load_pack
from edgetwin.packs.factory.device_types import DEVICE_TYPES
from edgetwin.packs.factory.model import Faults, cycle
from tests.conftest import bearer


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(
        data_dir=tmp_path, mqtt_url="mqtt://127.0.0.1:1", max_request_bytes=64 * 1024
    )
    with TestClient(build_app(settings, dashboard=False), headers=bearer(settings.data_dir)) as c:
        yield c


def _wire(ts: datetime, seed: int = 1) -> list[dict[str, Any]]:
    return [p.to_wire() for p in cycle(ts, Faults(), random.Random(seed), "acme", "plant-01")]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_ingest_one_and_a_list_idempotently(client: TestClient) -> None:
    batch = _wire(_now())
    r = client.post("/api/v1/ingest", json=batch[0])
    assert r.status_code == 200
    assert r.json() == {"accepted": 1, "duplicate": 0}
    r = client.post("/api/v1/ingest", json=batch)
    assert r.json() == {"accepted": 53, "duplicate": 1}
    r = client.post("/api/v1/ingest", json=batch)
    assert r.json() == {"accepted": 0, "duplicate": 54}
    stats = client.get("/api/v1/stats").json()
    assert (stats["stored"], stats["duplicates"], stats["rejected"]) == (54, 55, 0)


def test_malformed_items_are_named_and_nothing_is_stored(client: TestClient) -> None:
    batch = _wire(_now())
    batch[3]["value"] = "hot"
    batch[7]["ts"] = "2026-01-01T00:00:00"
    del batch[9]["metric"]
    r = client.post("/api/v1/ingest", json=batch)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert [p["index"] for p in detail["problems"]] == [3, 7, 9]
    assert "value" in detail["problems"][0]["errors"][0]
    assert client.get("/api/v1/stats").json()["stored"] == 0
    assert client.get("/api/v1/stats").json()["rejected"] == 3
    assert client.post("/api/v1/ingest", content=b"{not json").status_code == 422
    assert client.get("/health").json()["status"] == "ok"
    assert client.post("/api/v1/ingest", json=_wire(_now())).json()["accepted"] == 54


def test_oversized_request_is_413(client: TestClient) -> None:
    big = _wire(_now()) * 40  # ~100 kB > the 64 kB limit of this fixture
    r = client.post("/api/v1/ingest", json=big)
    assert r.status_code == 413
    assert "limit" in r.json()["detail"]


def test_series_buckets(client: TestClient) -> None:
    start = _now().replace(second=0) - timedelta(minutes=5)
    for i in range(60):  # 2 minutes of 2 s cycles
        client.post("/api/v1/ingest", json=_wire(start + timedelta(seconds=2 * i), seed=i))
    r = client.get(
        "/api/v1/series",
        params={
            "line": "line-01",
            "machine": "cnc-01",
            "metric": "temp",
            "minutes": 10,
            "bucket_seconds": 60,
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert body["unit"] == "°C"
    counts = [p["count"] for p in body["points"]]
    assert counts == [30, 30]
    assert all(p["min"] <= p["avg"] <= p["max"] for p in body["points"])
    two_s = client.get(
        "/api/v1/series",
        params={
            "line": "line-01",
            "machine": "cnc-01",
            "metric": "temp",
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=2)).isoformat(),
            "bucket_seconds": 2,
        },
    ).json()
    assert [p["count"] for p in two_s["points"]] == [1] * 60


@pytest.mark.parametrize(
    "params",
    [
        {"minutes": 5, "start": "2026-01-01T00:00:00Z"},
        {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"minutes": 60 * 24 * 30, "bucket_seconds": 1},
        {"machine": "a/b"},
    ],
)
def test_series_rejects_bad_ranges(client: TestClient, params: dict[str, Any]) -> None:
    base = {"line": "line-01", "machine": "cnc-01", "metric": "temp"}
    assert client.get("/api/v1/series", params={**base, **params}).status_code == 422


def test_kpis_with_breakdown(client: TestClient) -> None:
    now = _now()
    client.post("/api/v1/ingest", json=_wire(now - timedelta(seconds=4), seed=1))
    client.post("/api/v1/ingest", json=_wire(now - timedelta(seconds=2), seed=2))
    k = client.get("/api/v1/kpis", params={"minutes": 5}).json()
    for field in (
        "period_minutes",
        "avg_temp",
        "avg_vibration_rms",
        "avg_energy_kw",
        "total_good_count",
        "total_bad_count",
        "fault_count",
        "total_points",
    ):
        assert field in k
    assert k["total_points"] == 108
    assert k["fault_count"] == 0
    assert 40 < k["avg_temp"] < 60
    assert set(k["lines"]) == {"line-01", "line-02", "line-03"}
    assert set(k["lines"]["line-02"]["machines"]) == {"press-01", "conveyor-01", "robot-arm-02"}
    assert k["lines"]["line-03"]["machines"]["welder-01"]["total_points"] == 12
    assert 16 <= k["total_good_count"] <= 30 * 9


def test_devices_and_backfill_never_replaces_current(client: TestClient) -> None:
    now = _now()
    client.post("/api/v1/ingest", json=_wire(now))
    old = _wire(now - timedelta(minutes=3), seed=9)
    assert client.post("/api/v1/ingest?historical=true", json=old).json()["accepted"] == 54
    devices = client.get("/api/v1/devices").json()
    assert len(devices) == 9
    cnc = next(d for d in devices if d["machine"] == "cnc-01")
    assert cnc["online"] is True
    assert cnc["last_seen"] == now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert cnc["metrics"]["temp"]["ts"] == cnc["last_seen"]
    assert client.get("/api/v1/stats").json()["historical"] == 54


def test_edge_headers_reach_stats(client: TestClient) -> None:
    client.post(
        "/api/v1/ingest",
        json=_wire(_now()),
        headers={
            "x-edgetwin-edge": "edge-9",
            "x-edgetwin-buffer-depth": "120",
            "x-edgetwin-buffer-oldest-age-s": "3.5",
        },
    )
    edges = client.get("/api/v1/stats").json()["edges"]
    assert edges[0]["edge_id"] == "edge-9"
    assert edges[0]["buffer_depth"] == 120


def test_fault_endpoint_says_503_without_a_broker(client: TestClient) -> None:
    r = client.post("/api/v1/faults/bearing_fault?value=true")
    assert r.status_code == 503
    assert client.post("/api/v1/faults/meltdown").status_code == 422


def test_openapi_documents_the_reading(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "Reading" in schema["components"]["schemas"]
    assert "/api/v1/ingest" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_prometheus_metrics(client: TestClient) -> None:
    client.post("/api/v1/ingest", json=_wire(_now()))
    client.post("/api/v1/ingest", json=_wire(_now())[:3])
    client.post("/api/v1/ingest", json=[{"bad": 1}])
    text = client.get("/metrics").text
    assert "edgetwin_cloud_readings_stored_total 54.0" in text
    assert "edgetwin_cloud_readings_duplicate_total 3.0" in text
    assert "edgetwin_cloud_readings_rejected_total 1.0" in text
    assert "edgetwin_cloud_ingest_seconds_count 2.0" in text


def test_edge_history_keeps_a_sample_per_second_under_frequent_reports() -> None:
    from edgetwin.cloud.edges import EdgeState

    state = EdgeState("edge-1")
    for i in range(50):  # an edge reporting every 100 ms for 5 s
        state.buffer_depth = i
        state.record(1000.0 + i * 0.1)
    assert len(state.history) == 5
    assert [d for _t, d in state.history] == [9, 19, 29, 39, 49]


def test_kpis_count_faults_as_the_factory_declares_them(client: TestClient) -> None:
    """The fault count is what the factory's device type calls a fault (``state`` FAULT)."""
    now = _now()
    bearing = Faults(bearing_fault=True)
    cycles = [
        p.to_wire()
        for i in range(5)
        for p in cycle(
            now - timedelta(seconds=2 * i), bearing, random.Random(i), "acme", "plant-01"
        )
    ]
    client.post("/api/v1/ingest", json=cycles)
    machine = DEVICE_TYPES[0]
    state = next(m for m in machine.metrics if m.fault_states)
    faulty = sum(
        1 for r in cycles if r["metric"] == state.name and r["value"] in state.fault_states
    )
    assert faulty > 0
    assert client.get("/api/v1/kpis").json()["fault_count"] == faulty


def test_fault_states_are_unknown_until_reported(client: TestClient) -> None:
    assert client.get("/api/v1/faults").json() == {
        "tenant": "acme",
        "plant": "plant-01",
        "faults": {"bearing_fault": None, "energy_spike": None, "network_outage": None},
    }


def test_device_types_of_the_enabled_packs(client: TestClient) -> None:
    types = client.get("/api/v1/device-types").json()
    want = [
        t.public() for t in (*load_pack("factory").device_types, *load_pack("motor").device_types)
    ]
    assert types == want
    machine = client.get("/api/v1/device-types/factory.machine").json()
    assert machine == DEVICE_TYPES[0].public()
    state = next(m for m in machine["metrics"] if m["name"] == "state")
    assert (state["states"], state["fault_states"]) == (
        {"0": "RUN", "1": "STOP", "2": "FAULT"},
        [2],
    )
    missing = client.get("/api/v1/device-types/nope.nothing")
    assert missing.status_code == 404
    assert "nope.nothing" in missing.json()["detail"]


def test_openapi_describes_the_pack_and_device_type_responses(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()

    def response_of(path: str, method: str = "get") -> str:
        content = schema["paths"][path][method]["responses"]["200"]["content"]
        return json.dumps(content["application/json"]["schema"])

    assert "DeviceTypePublic" in response_of("/api/v1/device-types")
    assert "DeviceTypePublic" in response_of("/api/v1/device-types/{name}")
    assert "PlantKpis" in response_of("/api/v1/kpis")
    assert "FaultStates" in response_of("/api/v1/faults")
    assert "FaultSent" in response_of("/api/v1/faults/{cmd}", "post")
    metric = schema["components"]["schemas"]["MetricPublic"]
    assert {"unit", "kind", "states", "fault_states"} <= set(metric["properties"])


def test_only_the_enabled_packs_contribute(tmp_path: Path) -> None:
    """With the motor alone there is no factory KPI route; the cloud alone serves no pack."""
    settings = load_settings(data_dir=tmp_path, mqtt_url="mqtt://127.0.0.1:1", packs=["motor"])
    with TestClient(build_app(settings, dashboard=False), headers=bearer(settings.data_dir)) as c:
        assert c.get("/api/v1/kpis").status_code == 404
        names = [t["name"] for t in c.get("/api/v1/device-types").json()]
        assert names == [t.name for t in load_pack("motor").device_types]
    with TestClient(create_app(settings), headers=bearer(settings.data_dir)) as c:
        assert c.get("/api/v1/device-types").json() == []
        assert c.get("/api/v1/faults").status_code == 404
