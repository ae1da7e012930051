"""Horizontal ingest: two ``edgetwin cloud`` workers share one PostgreSQL. Under load one is
killed with ``kill -9``; the load generator retries every failed batch on the other worker, as
the edge does. Afterwards every reading is in the database exactly once, counted once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from edgetwin.packs.factory.model import MACHINES, METRICS
from tests.conftest import bearer, free_port, port_open
from tests.integration.conftest import wait_for
from tests.store.pg import fresh_database

pytestmark = pytest.mark.integration
READINGS = 100_000
BATCH = 500
SENDERS = 6
KILL_AFTER = 0.3  # share of batches acknowledged before the kill


class Worker:
    def __init__(self, name: str, db: str, workdir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = workdir / name
        self.data_dir.mkdir()
        self.log = self.data_dir / "cloud.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
        shared = port_open("127.0.0.1", 1883)
        env["EDGETWIN_MQTT_URL"] = "mqtt://127.0.0.1:1883" if shared else "mqtt://127.0.0.1:1"
        env["EDGETWIN_DATA_DIR"] = str(self.data_dir)
        env["EDGETWIN_IDENTITIES_FILE"] = str(workdir / "identities.db")  # one for all workers
        env["EDGETWIN_RATE_LIMIT_PER_S"] = "0"
        env["EDGETWIN_PACKS"] = "factory,motor"  # six senders as fast as they can: a load test
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgetwin", "cloud", "--http-port", str(self.port), "--db", db],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_ready(self) -> None:
        def healthy() -> bool:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            return httpx.get(f"{self.base}/health", timeout=2).status_code == 200

        wait_for(healthy, 60, what=f"{self.name} /health")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database("edgetwin_workers") as url:
        yield url


@pytest.fixture
def workers(database: str, tmp_path: Path) -> Iterator[list[Worker]]:
    started = [Worker(f"worker-{i}", database, tmp_path) for i in range(2)]
    try:
        for w in started:
            w.wait_ready()
        yield started
    finally:
        for w in started:
            w.stop()


def _batches() -> list[list[dict[str, Any]]]:
    """READINGS readings of the 54 factory series over the last hour, each with its own id."""
    rng = random.Random(42)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    series = [(line, machine, m.name, m.unit) for line, machine in MACHINES for m in METRICS]
    readings = []
    for i in range(READINGS):
        line, machine, metric, unit = series[i % len(series)]
        ts = start + timedelta(milliseconds=(i // len(series)) * 1000 + rng.randrange(1000))
        readings.append(
            {
                "ts": ts.isoformat().replace("+00:00", "Z"),
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "tenant": "acme",
                "plant": "plant-01",
                "line": line,
                "machine": machine,
                "metric": metric,
                "value": round(rng.gauss(50, 5), 3),
                "unit": unit,
            }
        )
    return [readings[i : i + BATCH] for i in range(0, READINGS, BATCH)]


@dataclass
class Load:
    """The load generator's books: what the workers acknowledged, and what failed."""

    batches: list[list[dict[str, Any]]]
    next: int = 0
    acked: int = 0
    accepted: int = 0
    duplicate: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> int | None:
        with self.lock:
            if self.next >= len(self.batches):
                return None
            self.next += 1
            return self.next - 1


def _send(load: Load, workers: list[Worker], deadline: float, headers: dict[str, str]) -> None:
    with httpx.Client(timeout=10, headers=headers) as http:
        while (index := load.take()) is not None:
            target = index % len(workers)
            while True:
                assert time.monotonic() < deadline, "load did not finish in time"
                worker = workers[target]
                try:
                    r = http.post(f"{worker.base}/api/v1/ingest", json=load.batches[index])
                    if r.status_code == 200:
                        body = r.json()
                        with load.lock:
                            load.acked += 1
                            load.accepted += body["accepted"]
                            load.duplicate += body["duplicate"]
                        break
                    reason = f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    reason = type(exc).__name__
                with load.lock:
                    load.failures[reason] = load.failures.get(reason, 0) + 1
                target = (target + 1) % len(workers)  # the edge tries the other worker
                time.sleep(0.05)


def test_two_workers_one_killed_nothing_lost_nothing_duplicated(
    workers: list[Worker], database: str
) -> None:
    load = Load(_batches())
    deadline = time.monotonic() + 240
    headers = bearer(workers[0].data_dir.parent, "operator", ("acme",))  # shared identities
    senders = [
        threading.Thread(target=_send, args=(load, workers, deadline, headers), daemon=True)
        for _ in range(SENDERS)
    ]
    for t in senders:
        t.start()
    wait_for(lambda: load.acked >= KILL_AFTER * len(load.batches), 120, interval=0.01)
    os.kill(workers[0].proc.pid, signal.SIGKILL)
    for t in senders:
        t.join(max(1.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in senders)
    assert workers[0].proc.wait(10) == -signal.SIGKILL

    sent = {r["id"] for batch in load.batches for r in batch}
    assert load.acked == len(load.batches)
    assert sum(load.failures.values()) >= 1, "the kill should have failed some requests"
    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT id::text FROM readings").fetchall()
        stored_ids = [r[0] for r in rows]
        rollup_1m, rollup_1h = conn.execute(
            "SELECT (SELECT sum(n) FROM rollup_1m), (SELECT sum(n) FROM rollup_1h)"
        ).fetchone() or (None, None)
        counters: dict[str, int] = dict(
            conn.execute("SELECT name, sum(value) FROM counters GROUP BY name").fetchall()
        )
    assert len(stored_ids) == len(set(stored_ids)) == READINGS, "duplicated or lost readings"
    assert set(stored_ids) == sent
    assert rollup_1m == rollup_1h == READINGS
    assert counters["stored"] == READINGS
    # Acknowledged counts can only undercount: a batch the killed worker committed without
    # answering came back as duplicates on the other one.
    assert load.accepted <= READINGS <= load.accepted + load.duplicate
    assert counters["duplicates"] >= load.duplicate
    stats = httpx.get(f"{workers[1].base}/api/v1/stats", timeout=5, headers=headers).json()
    assert stats["stored"] == READINGS
    print(f"failures during the kill: {load.failures}; duplicates answered: {load.duplicate}")
