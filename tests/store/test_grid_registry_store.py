"""The registries' store on SQLite and PostgreSQL: migrated once, seeded without overwriting an
edit, applications kept and changed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from edgetwin.cloud.registries import tables as t
from edgetwin.cloud.registries.store import RegistryStore, url_for
from edgetwin.core.settings import load_settings
from edgetwin.packs.grid.device_types import SMART_BREAKER
from edgetwin.streams.registry import device_type_entry
from tests.store.conftest import KINDS


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegistryStore]:
    db = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    s = RegistryStore(url_for(load_settings(data_dir=tmp_path, db=db)))
    s.open()
    yield s
    s.close()


def test_migrated_once_and_seeded_without_overwriting(store: RegistryStore) -> None:
    assert store.migrated == [1]
    store.close()
    store.open()
    assert store.migrated == []
    assert store.seed_device_types([device_type_entry(SMART_BREAKER)]) == 1
    with store.engine.begin() as conn:
        conn.execute(t.device_types.update().values(update_frequency="5_seconds"))
    assert store.seed_device_types([device_type_entry(SMART_BREAKER)]) == 0
    (row,) = store.device_types()
    assert row["update_frequency"] == "5_seconds"
    assert row["expected"]["voltage.phase_a"] == [0.0, 300.0]
    with store.engine.connect() as conn:
        assert list(conn.execute(select(t.migrations_table.c.version)).scalars()) == [1]


def test_applications_are_kept_changed_and_deleted(store: RegistryStore) -> None:
    app = store.create_app("acme", {"name": "Monitor", "platform": "web",
                                    "device_types": ["smart_breaker"]})  # fmt: skip
    assert app["status"] == "active"
    assert app["device_types"] == ["smart_breaker"]
    changed = store.update_app(app["id"], {"token_id": "t1", "status": "inactive"})
    assert changed is not None
    assert (changed["token_id"], changed["status"]) == ("t1", "inactive")
    assert store.update_app("nope", {"status": "active"}) is None
    assert [a["id"] for a in store.apps()] == [app["id"]]
    assert store.delete_app(app["id"])
    assert not store.delete_app(app["id"])
    assert store.apps() == []
