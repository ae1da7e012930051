"""Shared plumbing for the cloud's relational (SQLAlchemy) tables beside the readings' store:
an engine for a SQLAlchemy URL and versioned migrations.

Migrations are numbered steps applied in order, each recorded in the caller's migrations table,
inside the caller's transaction; on PostgreSQL an advisory lock keeps two cloud workers from
applying the same step at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import Connection, Engine, Table, create_engine, select, text

Step = tuple[int, str, Callable[[Connection], None]]


def engine_for(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created first."""
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url, pool_pre_ping=True)


def migrate(conn: Connection, record: Table, steps: Sequence[Step], lock_key: int) -> list[int]:
    """Apply the steps the database lacks (by version, recorded in ``record``: version, name,
    applied_ms); returns the versions applied now."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key})
    record.create(conn, checkfirst=True)
    done = set(conn.execute(select(record.c.version)).scalars())
    applied = []
    for version, name, step in steps:
        if version in done:
            continue
        step(conn)
        conn.execute(record.insert().values(version=version, name=name,
                                            applied_ms=int(time.time() * 1000)))  # fmt: skip
        applied.append(version)
    return applied
