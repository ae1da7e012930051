"""Real PostgreSQL for the tests: a fresh database on the machine's server (dropped afterwards),
and a throwaway server of our own for tests that stop and restart it (the shared one is never
stopped or reconfigured)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from tests.conftest import free_port, need

ADMIN_URL = os.environ.get("EDGETWIN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PG_BIN = Path(os.environ.get("EDGETWIN_PG_BIN", "/usr/lib/postgresql/15/bin"))


def pg_reachable() -> bool:
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def need_pg() -> None:
    need(pg_reachable(), f"PostgreSQL is not reachable at {ADMIN_URL}")


def url_for(database: str) -> str:
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}"


@contextmanager
def fresh_database(prefix: str = "edgetwin_test") -> Iterator[str]:
    """A new, empty database; its URL. Dropped (connections and all) afterwards."""
    need_pg()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url_for(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(drop.format(sql.Identifier(name)))


@contextmanager
def fresh_schema(database_url: str) -> Iterator[str]:
    """A new schema in ``database_url``; a URL whose search_path points at it."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield f"{database_url}?options={quote(f'-c search_path={name}')}"
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


class OwnPostgres:
    """A PostgreSQL server of the test's own on a free port, run as the ``postgres`` user
    (the server refuses to run as root), in a temporary directory it owns."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="edgetwin-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts, "-w", "-t", "30",
            "-l", str(self.dir / "log"), "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def own_postgres_possible() -> bool:
    if not (PG_BIN / "initdb").exists():
        return False
    if os.geteuid() == 0:
        return shutil.which("runuser") is not None
    return True
