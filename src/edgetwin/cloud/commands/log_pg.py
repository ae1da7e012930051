"""The command log in the PostgreSQL store's ``commands`` table (made by its migration 3).

One connection of its own with a statement timeout; while the server is out of reach every call
fails at once with :class:`StoreUnavailableError` (the API answers 503) and a thread reconnects,
so the event loop never waits for a connection.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Final

import orjson
import psycopg
from psycopg.rows import DictRow, dict_row

from edgetwin.cloud.commands.lifecycle import Target
from edgetwin.cloud.commands.rows import SAME_KEY, Reads, moved, public
from edgetwin.cloud.store.postgres import redact
from edgetwin.core.errors import ConfigError, StoreUnavailableError

log = logging.getLogger("edgetwin.cloud.command_log")


# Times are timestamptz (queryable as times); they come back as Unix seconds, as from SQLite.
_PG_COLUMNS: Final = (
    "id::text AS id, tenant, plant, line, machine, name, args::text AS args, ttl_s,"
    " idempotency_key, requested_by, state,"
    " extract(epoch FROM created_at)::float8 AS created_at,"
    " extract(epoch FROM updated_at)::float8 AS updated_at,"
    " extract(epoch FROM expires_at)::float8 AS expires_at,"
    " detail::text AS detail, history::text AS history"
)
_PG_INSERT: Final = (
    "INSERT INTO commands (id, tenant, plant, line, machine, name, args, ttl_s, idempotency_key,"
    " requested_by, state, created_at, updated_at, expires_at, detail, history) VALUES (%s, %s, %s,"
    " %s, %s, %s, %s::json, %s, %s, %s, 'queued', to_timestamp(%s), to_timestamp(%s),"
    " to_timestamp(%s), '{}', %s::json)"
)
CONNECT_TIMEOUT_S: Final = 3
CALL_TIMEOUT_MS: Final = 3000  # no call waits longer for the server: the event loop is waiting
_RECONNECT_MAX_S: Final = 2.0

PgConn = psycopg.Connection[DictRow]


class PgCommandLog(Reads):
    """The ``commands`` table of the PostgreSQL store, on one connection of its own.

    Times are rounded to the microsecond, as timestamptz keeps them, so that a command's
    history shows exactly the times of its columns.
    """

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.clock = clock
        self._db: PgConn | None = None
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._reconnector: threading.Thread | None = None
        self._error = "not open"

    def open(self) -> None:
        """Connect, and check that the store's migrations made the table (ConfigError if not)."""
        self._closing.clear()
        try:
            db = self._connect()
        except psycopg.OperationalError as exc:
            self._error = str(exc).strip()
            raise StoreUnavailableError(f"PostgreSQL at {redact(self.url)}: {exc}") from exc
        row = db.execute("SELECT to_regclass('commands') IS NOT NULL AS ok").fetchone()
        if row is None or not row["ok"]:
            db.close()
            raise ConfigError("no commands table: the store's schema must be migrated first")
        self._db = db

    def close(self) -> None:
        self._closing.set()
        if self._reconnector is not None:
            self._reconnector.join(CONNECT_TIMEOUT_S + 1)
            self._reconnector = None
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _connect(self) -> PgConn:
        db = psycopg.connect(
            self.url,
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=CONNECT_TIMEOUT_S,
            tcp_user_timeout=CALL_TIMEOUT_MS,  # a server gone from the network fails the call
            # and one that stops answering after it acknowledged the request: ~5 s at most
            keepalives=1,
            keepalives_idle=2,
            keepalives_interval=1,
            keepalives_count=3,
            application_name="edgetwin-commands",
        )
        db.execute("SELECT set_config('statement_timeout', %s, false)", (str(CALL_TIMEOUT_MS),))
        return db

    def _reconnect_forever(self) -> None:
        delay = 0.1
        while not self._closing.is_set():
            try:
                db = self._connect()
            except psycopg.OperationalError as exc:
                self._error = str(exc).strip()
                self._closing.wait(delay)
                delay = min(delay * 2, _RECONNECT_MAX_S)
                continue
            with self._lock:
                if self._closing.is_set():
                    db.close()
                else:
                    self._db = db
                    log.info("command log reconnected to %s", redact(self.url))
            return

    @contextlib.contextmanager
    def _conn(self) -> Iterator[PgConn]:
        """The connection; without one, StoreUnavailableError at once (and a reconnection)."""
        with self._lock:
            if self._db is None:
                thread = self._reconnector
                if not self._closing.is_set() and (thread is None or not thread.is_alive()):
                    self._reconnector = threading.Thread(
                        target=self._reconnect_forever, name="command-log-reconnect", daemon=True
                    )
                    self._reconnector.start()
                raise StoreUnavailableError(f"PostgreSQL command log: {self._error}")
            try:
                yield self._db
            except psycopg.OperationalError as exc:
                self._error = str(exc).strip()
                log.warning("command log lost PostgreSQL: %s", self._error)
                with contextlib.suppress(psycopg.Error):
                    self._db.close()
                self._db = None
                raise StoreUnavailableError(f"PostgreSQL command log: {self._error}") from exc

    def _rows(self, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self._conn() as db:
            rows = db.execute(query.encode(), params).fetchall()
        return [public(r) for r in rows]

    def _where(self, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        return self._rows(f"SELECT {_PG_COLUMNS} FROM commands WHERE {where}", params)  # noqa: S608

    def _key(self, cmd_id: str) -> uuid.UUID | None:
        try:
            return uuid.UUID(cmd_id)
        except ValueError:
            return None

    def create(
        self, target: Target, name: str, args: dict[str, Any], ttl_s: float,
        idempotency_key: str | None, requested_by: str,
    ) -> tuple[dict[str, Any], bool]:  # fmt: skip
        now = round(self.clock(), 6)
        history = [{"state": "queued", "at": now, "by": requested_by}]
        device = (target.tenant, target.plant, target.line, target.machine)
        # On a conflict a concurrent request (or another worker) with the same key won the race.
        created = self._rows(
            f"{_PG_INSERT} ON CONFLICT DO NOTHING RETURNING {_PG_COLUMNS}",
            (
                uuid.uuid4(), *device, name, orjson.dumps(args).decode(), ttl_s, idempotency_key,
                requested_by, now, now, round(now + ttl_s, 6),
                orjson.dumps(history).decode(),
            ),
        )  # fmt: skip
        if created:
            return created[0], False
        found = self._where(SAME_KEY, (*device, idempotency_key))
        if not found:
            raise RuntimeError(f"a command for {device} conflicts but cannot be found")
        return found[0], True

    def transition(
        self, tenant: str, cmd_id: str, state: str, detail: dict[str, Any] | None = None,
        by: str = "system",
    ) -> dict[str, Any] | None:  # fmt: skip
        key = self._key(cmd_id)
        if key is None:
            return None
        now = round(self.clock(), 6)
        # The row lock orders concurrent moves of one command (several workers, a late report).
        with self._conn() as db, db.transaction():
            row = db.execute(
                "SELECT state, detail::text AS detail, history::text AS history FROM commands"
                " WHERE tenant = %s AND id = %s FOR UPDATE",
                (tenant, key),
            ).fetchone()
            move = None if row is None else moved(row, state, detail, by, now)
            if move is None:
                return None
            row = db.execute(
                "UPDATE commands SET state = %s, updated_at = to_timestamp(%s), detail = %s::json,"  # noqa: S608
                f" history = %s::json WHERE tenant = %s AND id = %s RETURNING {_PG_COLUMNS}",
                (state, now, *move, tenant, key),
            ).fetchone()
        return None if row is None else public(row)
