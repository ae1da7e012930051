"""Runs every measurement of ``edgetwin bench`` in order and hands the results to the report."""

from __future__ import annotations

import asyncio
import contextlib
import platform
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
from rich.console import Console

from edgetwin.bench import e2e, raw, report
from edgetwin.bench.pipeline import Load, Pipeline

console = Console()


def say(text: str) -> None:
    console.print(text, highlight=False)


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A fresh database on the server; dropped afterwards."""
    name = f"edgetwin_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _db = server_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def machine(pg_url: str | None) -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "os": platform.platform(),
    }
    if pg_url:
        with psycopg.connect(pg_url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            info["postgresql"] = row[0] if row else "?"
    return info


@dataclass(frozen=True)
class Plan:
    raw_rows: int
    pg_rows: int
    pg_repeat: int
    series_hours: int
    single: list[float]
    batched: list[float]
    step_s: float
    latency_rate: int
    latency_s: float
    outage_rate: int
    outage_s: float
    sustain_s: float


QUICK = Plan(50_000, 50_000, 1, 2, [1000, 3000], [5000, 20000], 3.0, 1000, 3.0, 2000, 5.0, 0.0)
FULL = Plan(
    300_000,
    200_000,
    3,
    24,
    [2000, 5000, 10000, 20000],
    [10000, 25000, 35000, 45000, 50000, 55000, 80000],
    15.0,
    10000,
    20.0,
    10000,
    60.0,
    60.0,
)


def run_bench(*, quick: bool, pg_url: str | None, out: Path, docs: Path | None) -> int:
    plan = QUICK if quick else FULL
    started = time.monotonic()
    pg_ok = False
    if pg_url:
        try:
            with psycopg.connect(pg_url, connect_timeout=5):
                pg_ok = True
        except psycopg.OperationalError as exc:
            say(
                f"[yellow]PostgreSQL at {pg_url} is not reachable ({exc}); measuring SQLite only[/]"
            )
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if quick else "full",
        "command": f"edgetwin bench{' --quick' if quick else ''}",
        "machine": machine(pg_url if pg_ok else None),
    }
    say(
        f"[bold]edgetwin bench[/] ({results['mode']}) on {results['machine']['cpu']}, "
        f"{results['machine']['cores']} cores"
    )

    say("[bold]1/6 raw limits[/]: SQLite inserts, the edge buffer")
    results["raw"] = raw.measure(quick)
    say(f"  {results['raw']}")

    with contextlib.ExitStack() as stack:
        dsn = stack.enter_context(scratch_database(pg_url)) if pg_ok and pg_url else None
        if dsn:
            from edgetwin.cloud.store.pg_bench import measure_ingest, measure_series

            say("[bold]2/6 PostgreSQL[/]: raw COPY against the store's ingest; /series latency")
            results["pg_ingest"] = asyncio.run(
                measure_ingest(dsn, rows=plan.pg_rows, repeat=plan.pg_repeat)
            )
            say(
                f"  raw COPY {results['pg_ingest']['raw_copy']}  store {results['pg_ingest']['unnest']}"
            )
            results["series"] = asyncio.run(measure_series(dsn, hours=plan.series_hours))
            say(f"  series over {plan.series_hours} h: {results['series']}")
        else:
            say("[bold]2/6 PostgreSQL[/]: skipped (no server)")

        say(
            f"[bold]3/6 end to end[/]: load -> MQTT -> edge -> cloud -> {'PostgreSQL' if dsn else 'SQLite'}"
        )
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edgetwin-bench-")))
        pipe = Pipeline(workdir, dsn)
        pipe.start()
        stack.callback(pipe.stop)
        results["e2e_broker"] = pipe.broker_kind
        results["e2e_store"] = "postgresql" if dsn else "sqlite"
        single = Load(pipe.mqtt_port, per_message=1)
        batched = Load(pipe.mqtt_port, per_message=500)
        stack.callback(single.close)
        stack.callback(batched.close)

        def total() -> int:
            return single.sent + batched.sent

        say("  one reading per message")
        results["e2e_single"] = e2e.rising(pipe, single, total, plan.single, plan.step_s, say)
        say("  500 readings per message")
        results["e2e_batched"] = e2e.rising(pipe, batched, total, plan.batched, plan.step_s, say)
        if plan.sustain_s:
            kept = [r["target_per_s"] for r in results["e2e_batched"] if r["kept_up"]]
            rate = max(kept) if kept else plan.batched[0]
            say(f"  sustained {plan.sustain_s:.0f} s at {rate:,.0f}/s")
            results["e2e_sustained"] = e2e.step(pipe, batched, total, rate, plan.sustain_s)
            say(f"  {results['e2e_sustained']}")

        say("[bold]4/6 latency[/] at a fixed rate")
        lat_load = Load(pipe.mqtt_port, per_message=max(1, plan.latency_rate // 100))
        stack.callback(lat_load.close)

        def total_all() -> int:
            return single.sent + batched.sent + lat_load.sent

        results["latency"] = e2e.latency(pipe, lat_load, plan.latency_rate, plan.latency_s)
        say(f"  {results['latency']}")

        say(f"[bold]5/6 backfill[/]: {plan.outage_s:.0f} s outage at {plan.outage_rate:,}/s")
        results["backfill"] = e2e.backfill(
            pipe, lat_load, total_all, plan.outage_rate, plan.outage_s, say
        )
        results["e2e_lost"] = total_all() - pipe.stored()
        results["e2e_sent"] = total_all()
        results["e2e_duplicated"] = _duplicates(dsn)

    say("[bold]6/6 stream backbone[/]: JetStream publish and consume, one enricher")
    from edgetwin.core.errors import ConfigError
    from edgetwin.streams.bench import measure as measure_streams

    try:
        results["streams"] = measure_streams(1000 if quick else 5000)
        say(f"  {results['streams']}")
    except ConfigError as exc:
        say(f"  skipped: {exc}")

    results["elapsed_s"] = round(time.monotonic() - started, 1)
    report.write(results, out=out, docs=docs, console=console)
    bad = results["e2e_lost"] != 0 or results["e2e_duplicated"] not in (0, None)
    return 1 if bad else 0


def _duplicates(dsn: str | None) -> int | None:
    """Readings stored more than once (by id). SQLite's primary key makes it 0 by construction."""
    if dsn is None:
        return 0
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) - count(DISTINCT id) FROM readings").fetchone()
        return int(row[0]) if row else None
