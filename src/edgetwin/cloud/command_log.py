"""The audit log of device commands, in SQLite or in PostgreSQL.

:func:`command_log_for` picks it by the store's URL: with a PostgreSQL store, that database's
``commands`` table (made by the store's migration 3, shared by every worker); else the SQLite
file ``<data-dir>/commands.db``. Every query names the tenant except the two that serve all
tenants: the dispatcher's scan of open commands, and :meth:`CommandLog.lookup` of the command an
edge's report names by its id (a report carries no tenant).

Calls are synchronous and short: the command service makes them from the event loop, at the rate
operators send commands. The PostgreSQL log keeps one connection with a statement timeout; while
the server is out of reach every call fails at once with :class:`StoreUnavailableError` (the API
answers 503) and a thread reconnects, so the event loop never waits for a connection.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Protocol

import orjson

from edgetwin.cloud.commands import ORDER, Target, advance
from edgetwin.cloud.store import PG_SCHEMES
from edgetwin.sqlite_file import SqliteFile

log = logging.getLogger("edgetwin.cloud.command_log")

_OPEN: Final = "state IN ('queued', 'sent', 'delivered')"
_SAME_KEY: Final = (
    "tenant = %s AND plant = %s AND line = %s AND machine = %s AND idempotency_key = %s"
)


class CommandLog(Protocol):
    """The commands table, as :class:`edgetwin.cloud.commands.CommandService` uses it."""

    clock: Callable[[], float]

    def open(self) -> None: ...

    def close(self) -> None: ...

    def create(
        self, target: Target, name: str, args: dict[str, Any], ttl_s: float,
        idempotency_key: str | None, requested_by: str,
    ) -> tuple[dict[str, Any], bool]:  # fmt: skip
        """Insert a queued command; with a known idempotency key, return that one (and True)."""

    def get(self, tenant: str, cmd_id: str) -> dict[str, Any] | None: ...

    def lookup(self, cmd_id: str) -> dict[str, Any] | None:
        """The command with this id, whatever its tenant: only for an edge's progress report."""

    def list_for(
        self, tenant: str, plant: str, machine: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """A device's (or a whole plant's) commands, newest first."""

    def open_commands(self) -> list[dict[str, Any]]:
        """Every tenant's unfinished commands, oldest first: the dispatcher's work."""

    def transition(
        self, tenant: str, cmd_id: str, state: str, detail: dict[str, Any] | None = None,
        by: str = "system",
    ) -> dict[str, Any] | None:  # fmt: skip
        """Move a command forward; None if unknown or the move would go backwards."""


def command_log_for(
    store_url: str, data_dir: Path, clock: Callable[[], float] = time.time
) -> CommandLog:
    """The log beside the store at ``store_url``; not opened until ``open()``."""
    if store_url.startswith(PG_SCHEMES):
        from edgetwin.cloud.command_log_pg import PgCommandLog

        return PgCommandLog(store_url, clock)
    return SqliteCommandLog(data_dir / "commands.db", clock)


def _public(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as the API shows it (JSON columns arrive as text, times as Unix seconds)."""
    return {
        "id": row["id"],
        "device": {k: row[k] for k in ("tenant", "plant", "line", "machine")},
        "name": row["name"],
        "args": orjson.loads(row["args"]),
        **{k: row[k] for k in ("ttl_s", "idempotency_key", "requested_by", "state",
                               "created_at", "updated_at", "expires_at")},
        "detail": orjson.loads(row["detail"]),
        "history": orjson.loads(row["history"]),
    }  # fmt: skip


def _moved(
    row: Mapping[str, Any], state: str, detail: dict[str, Any] | None, by: str, now: float
) -> tuple[str, str] | None:
    """The new ``detail`` and ``history`` (JSON) of a forward move; None if it is not one."""
    if state not in ORDER or not advance(row["state"], state):
        return None
    history = orjson.loads(row["history"])
    history.append({"state": state, "at": now, "by": by, **({"detail": detail} if detail else {})})
    merged = {**orjson.loads(row["detail"]), **(detail or {})}
    return orjson.dumps(merged).decode(), orjson.dumps(history).decode()


_COLUMNS: Final = (
    "id, tenant, plant, line, machine, name, args, ttl_s, idempotency_key, requested_by,"
    " state, created_at, updated_at, expires_at, detail, history"
)
_SQLITE_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS commands (id TEXT PRIMARY KEY, tenant TEXT NOT NULL,
    plant TEXT NOT NULL, line TEXT NOT NULL, machine TEXT NOT NULL, name TEXT NOT NULL,
    args TEXT NOT NULL, ttl_s REAL NOT NULL, idempotency_key TEXT, requested_by TEXT NOT NULL,
    state TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    expires_at REAL NOT NULL, detail TEXT NOT NULL, history TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS commands_idem ON commands
    (tenant, plant, line, machine, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS commands_state ON commands (state);
"""


class _Reads:
    """The reads of both logs, written once so that both scope them alike. ``_where`` gives the
    commands that match a condition written with ``%s`` parameters."""

    def _where(self, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _key(self, cmd_id: str) -> object:
        """The id as the id column takes it; None for a string that no command has."""
        return cmd_id

    def get(self, tenant: str, cmd_id: str) -> dict[str, Any] | None:
        key = self._key(cmd_id)
        found = [] if key is None else self._where("tenant = %s AND id = %s", (tenant, key))
        return found[0] if found else None

    def lookup(self, cmd_id: str) -> dict[str, Any] | None:
        key = self._key(cmd_id)
        found = [] if key is None else self._where("id = %s", (key,))
        return found[0] if found else None

    def list_for(
        self, tenant: str, plant: str, machine: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        where, params = "tenant = %s AND plant = %s", [tenant, plant]
        if machine is not None:
            where += " AND machine = %s"
            params.append(machine)
        return self._where(f"{where} ORDER BY created_at DESC LIMIT %s", (*params, limit))

    def open_commands(self) -> list[dict[str, Any]]:
        return self._where(f"{_OPEN} ORDER BY created_at", ())


class SqliteCommandLog(_Reads, SqliteFile):
    """The commands table in a SQLite file. Calls are short local statements."""

    schema = _SQLITE_SCHEMA
    row_factory = sqlite3.Row
    check_same_thread = False

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        super().__init__(path)
        self.clock = clock

    def _where(self, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        query = f"SELECT {_COLUMNS} FROM commands WHERE {where}"  # noqa: S608
        query = query.replace("%s", "?")  # sqlite3's placeholder
        return [_public(r) for r in self.db.execute(query, params).fetchall()]

    def create(
        self, target: Target, name: str, args: dict[str, Any], ttl_s: float,
        idempotency_key: str | None, requested_by: str,
    ) -> tuple[dict[str, Any], bool]:  # fmt: skip
        device = (target.tenant, target.plant, target.line, target.machine)
        if idempotency_key is not None:
            found = self._where(_SAME_KEY, (*device, idempotency_key))
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
        moved = None if row is None else _moved(row, state, detail, by, now)
        if moved is None:
            return None
        self.db.execute(
            "UPDATE commands SET state=?, updated_at=?, detail=?, history=?"
            " WHERE tenant=? AND id=?",
            (state, now, *moved, tenant, cmd_id),
        )
        return self.get(tenant, cmd_id)
