"""Inputs from the field, on each store (real SQLite, real PostgreSQL), through the HTTP API.

- Aggregates never overflow: a value's magnitude is at most 1e150 (a bigger one is refused at
  ingest and counted), so sums, averages and KPIs of stored data stay finite: no query answers
  500 for what the store holds.
- The live stream carries what was stored, once: a duplicate (across requests or within one)
  never reaches ``/api/v1/live`` again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from edgetwin.compose import build_app
from edgetwin.core.settings import load_settings
from tests.conftest import bearer
from tests.store.conftest import store_url
from tests.store.data import now_s


@pytest.fixture
def client(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    url = store_url(kind, request, tmp_path)
    settings = load_settings(data_dir=tmp_path, db=url, mqtt_url="mqtt://127.0.0.1:1")
    with TestClient(build_app(settings, dashboard=False), headers=bearer(settings.data_dir)) as c:
        yield c


def _reading(
    value: Any, *, metric: str = "temp", seconds_ago: int = 30, **kw: Any
) -> dict[str, Any]:
    ts = now_s().replace(second=0) - timedelta(seconds=seconds_ago)
    return {
        "ts": ts.isoformat().replace("+00:00", "Z"),
        "id": str(kw.pop("id", uuid.uuid4())),
        "tenant": "acme",
        "plant": "plant-01",
        "line": "line-01",
        "machine": kw.pop("machine", "cnc-01"),
        "metric": metric,
        "value": value,
        "unit": "",
    }


def test_values_beyond_the_range_are_refused_and_counted(client: TestClient) -> None:
    for value in (1e308, -1e151, 9007199254740993, 18446744073709551615):
        r = client.post("/api/v1/ingest", json=_reading(value))
        assert r.status_code == 422, (value, r.text)
        assert "1e150" in r.text
        assert "2^53" in r.text
    assert client.get("/api/v1/stats").json()["rejected"] == 4
    for value in (1e150, -1e150, 9007199254740992, -9007199254740992):
        assert client.post("/api/v1/ingest", json=_reading(value)).json()["accepted"] == 1


@pytest.mark.parametrize("metric", ["temp", "good_count"])
def test_aggregates_of_the_largest_values_stay_finite(client: TestClient, metric: str) -> None:
    """The issue's case: two readings at the top of the range in one minute, on a gauge and on
    a count; /series and /kpis answer 200 with the exact figures."""
    batch = [_reading(1e150, metric=metric, seconds_ago=s) for s in (30, 20)]
    batch.append(_reading(-1e150, metric=metric, machine="cnc-02"))
    assert client.post("/api/v1/ingest", json=batch).json()["accepted"] == 3
    r = client.get(
        "/api/v1/series",
        params={"line": "line-01", "machine": "cnc-01", "metric": metric, "bucket_seconds": 60,
                "minutes": 10},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    [bucket] = r.json()["points"]
    assert (bucket["avg"], bucket["min"], bucket["max"], bucket["count"]) == (
        1e150,
        1e150,
        1e150,
        2,
    )
    kpis = client.get("/api/v1/kpis", params={"minutes": 10})
    assert kpis.status_code == 200, kpis.text
    line = kpis.json()["lines"]["line-01"]
    if metric == "good_count":
        assert line["machines"]["cnc-01"]["total_good_count"] == int(2e150)
        assert line["total_good_count"] == int(2e150 - 1e150)
    else:
        assert line["machines"]["cnc-01"]["avg_temp"] == 1e150
    assert line["total_points"] == 3


def _events_until(ws: WebSocketTestSession, marker: str) -> list[dict[str, Any]]:
    """The live events up to and including the reading with id ``marker``."""
    out = []
    while True:
        event = ws.receive_json()
        out.append(event)
        if event["type"] == "reading" and event["data"]["id"] == marker:
            return out


def test_the_live_stream_carries_each_stored_reading_once(client: TestClient) -> None:
    first = _reading(1.0)
    repeated_in_batch = _reading(2.0)
    marker = _reading(3.0)
    with client.websocket_connect("/api/v1/live?topics=v1/acme/plant-01/%23") as ws:
        assert client.post("/api/v1/ingest", json=first).json() == {"accepted": 1, "duplicate": 0}
        again = client.post("/api/v1/ingest", json=first).json()
        assert again == {"accepted": 0, "duplicate": 1}
        mixed = client.post("/api/v1/ingest", json=[first, repeated_in_batch, repeated_in_batch])
        assert mixed.json() == {"accepted": 1, "duplicate": 2}
        client.post("/api/v1/ingest", json=marker)
        seen = [e["data"]["id"] for e in _events_until(ws, marker["id"]) if e["type"] == "reading"]
    assert seen == [first["id"], repeated_in_batch["id"], marker["id"]]
