"""The HTTP API on each store (FastAPI's TestClient, real SQLite and real PostgreSQL), and the
same requests answered identically by both."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from edgetwin.compose import build_app
from edgetwin.core.settings import load_settings
from edgetwin.packs.factory.model import Faults
from tests.conftest import bearer
from tests.store.conftest import KINDS, store_url
from tests.store.data import factory, now_s


def _client(url: str, tmp_path: Path) -> TestClient:
    settings = load_settings(
        data_dir=tmp_path, db=url, mqtt_url="mqtt://127.0.0.1:1", max_request_bytes=64 * 1024
    )
    return TestClient(build_app(settings, dashboard=False), headers=bearer(settings.data_dir))


@pytest.fixture
def client(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    with _client(store_url(kind, request, tmp_path), tmp_path) as c:
        yield c


def _wire(ts: Any, seed: int, faults: Faults | None = None) -> list[dict[str, Any]]:
    return [p.to_wire() for p in factory(ts, seed, faults)]


def test_ingest_is_idempotent_and_counted(client: TestClient, kind: str) -> None:
    batch = _wire(now_s(), 1)
    assert client.post("/api/v1/ingest", json=batch[0]).json() == {"accepted": 1, "duplicate": 0}
    assert client.post("/api/v1/ingest", json=batch).json() == {"accepted": 53, "duplicate": 1}
    assert client.post("/api/v1/ingest", json=batch).json() == {"accepted": 0, "duplicate": 54}
    stats = client.get("/api/v1/stats").json()
    assert (stats["stored"], stats["duplicates"], stats["rejected"]) == (54, 55, 0)
    assert stats["store"]["kind"] == kind
    assert client.get("/health").json()["store"] == kind


def test_a_malformed_item_stores_nothing_of_its_request(client: TestClient) -> None:
    batch = _wire(now_s(), 1)
    batch[5]["value"] = "hot"
    r = client.post("/api/v1/ingest", json=batch)
    assert r.status_code == 422
    assert [p["index"] for p in r.json()["detail"]["problems"]] == [5]
    stats = client.get("/api/v1/stats").json()
    assert (stats["stored"], stats["rejected"]) == (0, 1)
    assert client.get("/api/v1/devices").json() == []


def _requests(start: Any) -> list[tuple[str, dict[str, Any]]]:
    series = {"line": "line-01", "machine": "cnc-01", "metric": "temp"}
    iso = start.isoformat()
    return [
        ("/api/v1/series", {**series, "start": iso, "end": (start + timedelta(hours=26)).isoformat(), "bucket_seconds": 3600}),
        ("/api/v1/series", {**series, "start": iso, "end": (start + timedelta(hours=3)).isoformat(), "bucket_seconds": 60}),
        ("/api/v1/series", {**series, "start": (start + timedelta(hours=23, minutes=59)).isoformat(), "end": (start + timedelta(hours=24, seconds=5)).isoformat(), "bucket_seconds": 2}),
        ("/api/v1/kpis", {"minutes": 5}),
        ("/api/v1/kpis", {"minutes": 1440}),
        ("/api/v1/devices", {}),
    ]  # fmt: skip


def _stable(body: Any) -> Any:
    """The answer without what depends on when it was asked."""
    if isinstance(body, dict):
        return {k: _stable(v) for k, v in body.items() if k not in ("timestamp", "online")}
    if isinstance(body, list):
        return [_stable(v) for v in body]
    return body


def _same(a: Any, b: Any, where: str = "") -> None:
    """Equal, except that floats may differ in the last decimal the API rounds to: the stores
    add the same values in a different order, which can tip a rounding at its boundary."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1.0001e-3), where
    else:
        assert a == b, where


def test_both_stores_give_the_same_answers(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """One day of factory cycles (every 10 min, some faulty, some backfilled) plus the last
    minute at full rate: every query answers the same on SQLite and PostgreSQL."""
    now = now_s().replace(second=0)
    start = now - timedelta(hours=24)
    batches = [
        _wire(start + timedelta(minutes=10 * i + 7), i, Faults(bearing_fault=i % 7 == 0))
        for i in range(144)
    ]
    live = [_wire(now - timedelta(seconds=2 * i), 1000 + i) for i in range(30)]
    answers = []
    for kind in KINDS:
        path = tmp_path / kind
        path.mkdir()
        with _client(store_url(kind, request, path), path) as client:
            for i, batch in enumerate(batches):
                params = {"historical": "true"} if i % 2 else {}
                assert client.post("/api/v1/ingest", json=batch, params=params).status_code == 200
            for batch in live:
                assert client.post("/api/v1/ingest", json=batch).status_code == 200
            answers.append(
                [_stable(client.get(url, params=params).json()) for url, params in _requests(start)]
            )
    sqlite, postgres = answers
    for (url, params), a, b in zip(_requests(start), sqlite, postgres, strict=True):
        _same(a, b, f"{url} {params}")
    assert sum(p["count"] for p in sqlite[0]["points"]) == 144 + 30
    assert sqlite[4]["total_points"] == 174 * 54
