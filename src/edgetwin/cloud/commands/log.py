"""The audit log of device commands: its protocol, and the factory that picks SQLite or
PostgreSQL by the store's URL.

With a PostgreSQL store, the log is that database's ``commands`` table (made by the store's
migration 3, shared by every worker; :mod:`.log_pg`); else the SQLite file
``<data-dir>/commands.db`` (:mod:`.log_sqlite`). Every query names the tenant except the two
that serve all tenants: the dispatcher's scan of open commands, and :meth:`CommandLog.lookup`
of the command an edge's report names by its id (a report carries no tenant).

Calls are synchronous and short: the command service makes them from the event loop, at the rate
operators send commands. While PostgreSQL is out of reach every call fails at once with
:class:`~edgetwin.core.errors.StoreUnavailableError` (the API answers 503).

A command, as every method returns it, is a dict of the shape of
:class:`edgetwin.cloud.schemas.commands.CommandRecord`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from edgetwin.cloud.commands.lifecycle import Target
from edgetwin.cloud.commands.log_pg import PgCommandLog
from edgetwin.cloud.commands.log_sqlite import SqliteCommandLog
from edgetwin.cloud.store import PG_SCHEMES


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
        return PgCommandLog(store_url, clock)
    return SqliteCommandLog(data_dir / "commands.db", clock)
