"""Versioned schema migrations of the PostgreSQL store.

Each step is a file ``migrations/NNNN_name.sql``; ``schema_version`` records the steps applied.
At start every worker calls :func:`migrate`: it takes a transaction-scoped advisory lock first, so
when several workers start together one applies the pending steps and the others wait, then find
nothing left to do. All pending steps run in one transaction: a failed upgrade leaves the
database exactly as it was. A database newer than this release is refused, never downgraded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from edgetwin.core.errors import ConfigError

# pg_advisory_xact_lock(int4, int4) keys: "edgetwin" as the class, one object per purpose.
LOCK_CLASS = 0x65_74_77_6E  # "etwn"
LOCK_MIGRATE = 1
LOCK_MAINTAIN = 2

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def migrations() -> tuple[Migration, ...]:
    """Every step shipped with this release, in order; numbering must have no gaps."""
    folder = resources.files(__package__).joinpath("migrations")
    steps = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            steps.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    steps.sort(key=lambda m: m.version)
    if [m.version for m in steps] != list(range(1, len(steps) + 1)):
        raise RuntimeError(f"migrations are not numbered 1..n: {[m.version for m in steps]}")
    return tuple(steps)


def newest_version() -> int:
    return migrations()[-1].version


async def current_version(conn: AsyncConnection[TupleRow]) -> int:
    """The version of the schema ``conn`` sees (0 when the database is empty)."""
    cur = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    row = await cur.fetchone()
    if row is None or not row[0]:
        return 0
    cur = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_version")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def migrate(conn: AsyncConnection[TupleRow], target: int | None = None) -> int:
    """Bring the schema up to ``target`` (default: the newest); returns the version reached.

    Raises:
        ConfigError: the database holds a schema newer than this release knows.
    """
    target = newest_version() if target is None else target
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, LOCK_MIGRATE))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version integer PRIMARY KEY,"
            " name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        version = await current_version(conn)
        if version > newest_version():
            raise ConfigError(
                f"the database's schema is version {version}, newer than this edgetwin "
                f"understands ({newest_version()}); upgrade edgetwin"
            )
        for step in migrations():
            if version < step.version <= target:
                await conn.execute(step.sql.encode())  # several statements: no parameters
                await conn.execute(
                    "INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                    (step.version, step.name),
                )
                version = step.version
    return version
