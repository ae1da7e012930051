"""``edgetwin bench --quick`` runs in CI time, counts every reading and writes its outputs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest

from tests.conftest import need, port_open
from tests.integration.conftest import EDGETWIN

pytestmark = pytest.mark.integration


def test_quick_bench(tmp_path: Path) -> None:
    need(port_open("127.0.0.1", 5432), "PostgreSQL is not running on 127.0.0.1:5432")
    docs = tmp_path / "benchmarks.md"
    result = subprocess.run(
        [
            *EDGETWIN,
            "bench",
            "--quick",
            "--out",
            str(tmp_path / "out"),
            "--docs",
            str(docs),
            "--db",
            "postgresql://postgres@127.0.0.1:5432/postgres",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    r = orjson.loads((tmp_path / "out" / "bench.json").read_bytes())
    assert r["e2e_sent"] > 10_000
    assert r["e2e_lost"] == 0
    assert r["e2e_duplicated"] == 0
    assert r["pg_ingest"]["unnest"]["exactly_once"]["ok"]
    assert r["raw"]["buffer_full_1000_per_s"] > 0
    assert (tmp_path / "out" / "bench.png").stat().st_size > 10_000
    text = docs.read_text()
    assert "| end to end, 500 readings/message |" in text
    assert r["streams"]["enrich_per_s"] > 0  # the stream backbone, beside its raw limit
    assert "| enrichment, one enricher |" in text
    assert (tmp_path / "benchmarks.png").exists()
