"""History charts keep the extremes they exist to show (real SQLite store, through the API)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from edgetwin.compose import build_app
from edgetwin.core.settings import load_settings
from edgetwin.dashboard.charts import envelope
from tests.conftest import bearer


def _wire(ts: datetime, value: float) -> dict[str, object]:
    return {
        "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "id": str(uuid.uuid4()),
        "tenant": "acme",
        "plant": "plant-01",
        "line": "line-m",
        "machine": "stm32-motor-01",
        "metric": "vibration",
        "value": value,
        "unit": "g",
    }


def test_a_spike_in_downsampled_history_keeps_its_height(tmp_path: Path) -> None:
    """The motor page's case: 10 Hz vibration around 0.25 g with one +1.5 g spike, loaded as
    1 s buckets; the chart's points reach 1.75 g (a 1 s average shows about 0.4)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    values = [0.25 + 0.01 * (i % 5) for i in range(200)]
    values[123] = 1.75
    readings = [_wire(start + timedelta(milliseconds=100 * i), v) for i, v in enumerate(values)]
    settings = load_settings(data_dir=tmp_path, mqtt_url="mqtt://127.0.0.1:1")
    with TestClient(
        build_app(settings, dashboard=False), headers=bearer(settings.data_dir)
    ) as client:
        assert client.post("/api/v1/ingest", json=readings).json()["accepted"] == 200
        series = client.get(
            "/api/v1/series",
            params={"line": "line-m", "machine": "stm32-motor-01", "metric": "vibration",
                    "bucket_seconds": 1, "minutes": 2},
        ).json()  # fmt: skip
    averages = [b["avg"] for b in series["points"]]
    assert max(averages) < 0.5  # what the page drew before
    points = envelope(series["points"], 1)
    assert max(v for _, v in points if v is not None) == 1.75
    assert min(v for _, v in points if v is not None) == 0.25
    assert [t for t, _ in points] == sorted(t for t, _ in points)


def test_missing_buckets_break_the_line_and_single_readings_are_one_point() -> None:
    buckets = [
        {"bucket": "2026-01-01T00:00:00.000Z", "avg": 1.0, "min": 1.0, "max": 1.0, "count": 1},
        {"bucket": "2026-01-01T00:00:04.000Z", "avg": 2.0, "min": 1.0, "max": 3.0, "count": 2},
        {"bucket": "2026-01-01T00:01:00.000Z", "avg": 5.0, "min": 5.0, "max": 5.0, "count": 2},
    ]
    t0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000
    assert envelope(buckets, 4) == [
        (t0 + 2000, 1.0),
        (t0 + 5000, 1.0),
        (t0 + 7000, 3.0),
        (t0 + 8000, None),
        (t0 + 62000, 5.0),
    ]
