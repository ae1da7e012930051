"""What only the PostgreSQL command log has: its table comes with the store's migrations, workers
race on it, and the cloud rides out a database outage (503, then back by itself)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from edgetwin.cloud.app import create_app
from edgetwin.cloud.commands import PgCommandLog
from edgetwin.cloud.store.pg_schema import newest_version
from edgetwin.cloud.store.postgres import PostgresStore
from edgetwin.core.errors import ConfigError, StoreUnavailableError
from edgetwin.core.settings import load_settings
from tests.conftest import bearer
from tests.store.pg import OwnPostgres
from tests.store.test_command_log import MOTOR, migrated

BASE = "/api/v1/devices/stm32-motor-01/commands"


def _at_once(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """``fn(0) .. fn(n-1)`` on n threads released together."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_an_older_database_gets_the_table_when_the_store_starts(pg_url: str) -> None:
    migrated(pg_url, target=2)  # as release 2 left it
    log = PgCommandLog(pg_url)
    with pytest.raises(ConfigError, match="no commands table"):
        log.open()

    async def start_store() -> int | None:
        store = PostgresStore(pg_url)
        await store.start()
        await store.close()
        return store.schema_version

    assert asyncio.run(start_store()) == newest_version() >= 3  # the table came with 3
    log.open()
    try:
        cmd, existing = log.create(MOTOR, "PING", {}, 30, None, "alice")
        assert (log.get("acme", cmd["id"]), existing) == (cmd, False)
    finally:
        log.close()
    with psycopg.connect(pg_url) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM schema_version ORDER BY version")]
    assert names[:3] == ["base", "rollups", "commands"]  # and whatever later releases add


def test_workers_racing_on_one_command(pg_url: str) -> None:
    url = migrated(pg_url)
    logs = [PgCommandLog(url) for _ in range(4)]
    for log in logs:
        log.open()
    try:
        made = _at_once(4, lambda i: logs[i].create(MOTOR, "REBOOT", {}, 30, "op-1", "alice"))
        assert len({cmd["id"] for cmd, _ in made}) == 1
        assert sorted(existing for _, existing in made) == [False, True, True, True]
        cmd_id = made[0][0]["id"]
        moved = _at_once(4, lambda i: logs[i].transition("acme", cmd_id, "sent", None, f"w{i}"))
        assert sum(m is not None for m in moved) == 1
        got = logs[0].get("acme", cmd_id)
        assert got is not None
        assert [h["state"] for h in got["history"]] == ["queued", "sent"]
    finally:
        for log in logs:
            log.close()


def test_a_server_that_is_not_there_is_unavailable() -> None:
    log = PgCommandLog("postgresql://postgres@127.0.0.1:1/none")
    with pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1:1\b"):
        log.open()
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        log.list_for("acme", "plant-01")
    assert time.monotonic() - started < 0.5  # fails at once; a thread does the reconnecting
    log.close()


def _wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if last := predicate():
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_database_outage_answers_503_and_recovers_by_itself(
    own_pg: OwnPostgres, tmp_path: Path
) -> None:
    settings = load_settings(data_dir=tmp_path, db=own_pg.url, mqtt_url="mqtt://127.0.0.1:1")
    body = {"name": "PING", "ttl_s": 600}
    with TestClient(create_app(settings), headers=bearer(settings.data_dir)) as client:
        first = client.post(BASE, params={"line": "line-m"}, json=body)
        assert first.status_code == 201, first.text
        cmd_id = first.json()["id"]
        own_pg.stop()
        started = time.monotonic()
        r = client.post(BASE, params={"line": "line-m"}, json=body)
        assert r.status_code == 503, r.text
        assert "retry later" in r.json()["detail"]
        assert client.get(BASE).status_code == 503
        assert client.get(f"{BASE}/{cmd_id}").status_code == 503
        assert time.monotonic() - started < 5
        # an edge's report during the outage waits for the log instead of being lost
        commands = client.app.state.commands  # type: ignore[attr-defined]
        report = {"id": cmd_id, "state": "delivered", "edge_id": "edge-01"}
        client.portal.call(commands.apply_report, report)  # type: ignore[union-attr]
        own_pg.start()
        _wait_for(lambda: client.get(BASE).status_code == 200, 30, "the log to come back")
        again = client.post(BASE, params={"line": "line-m"}, json=body)
        assert again.status_code == 201, again.text
        done = _wait_for(
            lambda: (c := client.get(f"{BASE}/{cmd_id}").json())["state"] == "delivered" and c,
            10,
            "the waiting report to be applied",
        )
        assert [h["state"] for h in done["history"]] == ["queued", "sent", "delivered"]
        assert [c["id"] for c in client.get(BASE).json()] == [again.json()["id"], cmd_id]
