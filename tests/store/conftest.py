"""Fixtures of the shared store suite: every test runs once on SQLite and once on PostgreSQL.

PostgreSQL is the machine's real server: one fresh database per test session (dropped
afterwards), one fresh schema per test. Store calls are coroutines; a test drives them through
:class:`Harness`, which keeps one event loop for the store's whole life (the connection pool
belongs to the loop that opened it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from edgetwin.cloud.store import FaultRules, Store, open_store
from edgetwin.core.settings import Settings, load_settings
from tests.conftest import need
from tests.store.data import FACTORY_RULES
from tests.store.pg import OwnPostgres, fresh_database, fresh_schema, own_postgres_possible

T = TypeVar("T")
KINDS = ["sqlite", "postgresql"]


class Harness:
    """A started store and the loop it lives on."""

    def __init__(self, url: str, settings: Settings, rules: FaultRules = FACTORY_RULES) -> None:
        self.url = url
        self.settings = settings
        self.rules = rules
        self.runner = asyncio.Runner()
        self.store: Store = open_store(url, settings, fault_rules=rules)
        self.run(self.store.start())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    def reopen(self, rules: FaultRules | None = None) -> None:
        """Close the store and open a new one on the same database, as a restart would
        (with other fault rules, if given: as after a pack was enabled or disabled)."""
        self.run(self.store.close())
        if rules is not None:
            self.rules = rules
        self.store = open_store(self.url, self.settings, fault_rules=self.rules)
        self.run(self.store.start())

    def close(self) -> None:
        self.run(self.store.close())
        self.runner.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    with fresh_schema(pg_database) as url:
        yield url


@pytest.fixture
def own_pg() -> Iterator[OwnPostgres]:
    """A PostgreSQL server of the test's own, for tests that stop or restart it."""
    need(own_postgres_possible(), "initdb/pg_ctl of PostgreSQL 15 (or runuser) not available")
    pg = OwnPostgres()
    pg.init()
    pg.start()
    yield pg
    pg.destroy()


def store_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'cloud.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def harness(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    url = store_url(kind, request, tmp_path)
    h = Harness(url, load_settings(data_dir=tmp_path, db=url))
    yield h
    h.close()
