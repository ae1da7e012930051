"""The command log in a SQLite file, ``<data-dir>/commands.db``: the embedded default."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import orjson

from edgetwin.cloud.commands.lifecycle import Target
from edgetwin.cloud.commands.rows import SAME_KEY, Reads, moved, public
from edgetwin.sqlite_file import SqliteFile

_COLUMNS: Final = (
    "id, tenant, plant, line, machine, name, args, ttl_s, idempotency_key, requested_by,"
    " state, created_at, updated_at, expires_at, detail, history"
)
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS commands (id TEXT PRIMARY KEY, tenant TEXT NOT NULL,
    plant TEXT NOT NULL, line TEXT NOT NULL, machine TEXT NOT NULL, name TEXT NOT NULL,
    args TEXT NOT NULL, ttl_s REAL NOT NULL, idempotency_key TEXT, requested_by TEXT NOT NULL,
    state TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    expires_at REAL NOT NULL, detail TEXT NOT NULL, history TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS commands_idem ON commands
    (tenant, plant, line, machine, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS commands_state ON commands (state);
"""


class SqliteCommandLog(Reads, SqliteFile):
    """The commands table in a SQLite file. Calls are short local statements."""

    schema = _SCHEMA
    row_factory = sqlite3.Row
    check_same_thread = False

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        super().__init__(path)
        self.clock = clock

    def _where(self, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        query = f"SELECT {_COLUMNS} FROM commands WHERE {where}"  # noqa: S608
        query = query.replace("%s", "?")  # sqlite3's placeholder
        return [public(r) for r in self.db.execute(query, params).fetchall()]

    def create(
        self, target: Target, name: str, args: dict[str, Any], ttl_s: float,
        idempotency_key: str | None, requested_by: str,
    ) -> tuple[dict[str, Any], bool]:  # fmt: skip
        device = (target.tenant, target.plant, target.line, target.machine)
        if idempotency_key is not None:
            found = self._where(SAME_KEY, (*device, idempotency_key))
            if found:
                return found[0], True
        now = self.clock()
        cmd_id = str(uuid.uuid4())
        history = [{"state": "queued", "at": now, "by": requested_by}]
        try:
            self.db.execute(
                f"INSERT INTO commands ({_COLUMNS}) VALUES"  # noqa: S608
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, '{}', ?)",
                (
                    cmd_id, *device, name, orjson.dumps(args).decode(), ttl_s, idempotency_key,
                    requested_by, now, now, now + ttl_s, orjson.dumps(history).decode(),
                ),
            )  # fmt: skip
        except sqlite3.IntegrityError:  # a concurrent request with the same key won the race
            return self.create(target, name, args, ttl_s, idempotency_key, requested_by)
        got = self.get(target.tenant, cmd_id)
        assert got is not None
        return got, False

    def transition(
        self, tenant: str, cmd_id: str, state: str, detail: dict[str, Any] | None = None,
        by: str = "system",
    ) -> dict[str, Any] | None:  # fmt: skip
        row = self.db.execute(
            "SELECT state, detail, history FROM commands WHERE tenant=? AND id=?",
            (tenant, cmd_id),
        ).fetchone()
        now = self.clock()
        move = None if row is None else moved(row, state, detail, by, now)
        if move is None:
            return None
        self.db.execute(
            "UPDATE commands SET state=?, updated_at=?, detail=?, history=?"
            " WHERE tenant=? AND id=?",
            (state, now, *move, tenant, cmd_id),
        )
        return self.get(tenant, cmd_id)
