"""The registries' rows through SQLAlchemy: blocking, one short transaction per call (the routes
call them from a worker thread).

SQLite by default (``<data-dir>/registries.db``); when the cloud's store is PostgreSQL, the same
database, in the tables of :mod:`.tables`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from edgetwin.cloud.registries import tables as t
from edgetwin.cloud.store import PG_SCHEMES
from edgetwin.cloud.store.relational import engine_for
from edgetwin.core.settings import Settings


def url_for(settings: Settings) -> str:
    """The SQLAlchemy URL of the registries' database for these settings."""
    url = settings.store_url
    if url.startswith(PG_SCHEMES):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return f"sqlite:///{Path(settings.data_dir) / 'registries.db'}"


def _plain(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row as a dict with plain ``str`` keys (SQLAlchemy's are a subclass orjson refuses)."""
    return {str(k): v for k, v in row.items()}


def _now_ms() -> int:
    return int(time.time() * 1000)


class RegistryStore:
    """Device types and applications; ``open()`` connects and migrates, ``close()``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self.migrated: list[int] = []

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the registry store is not open")
        return self._engine

    def open(self) -> None:
        """Connect and migrate. Raises sqlalchemy's OperationalError when unreachable."""
        self._engine = engine_for(self.url)
        with self._engine.begin() as conn:
            self.migrated = t.migrate(conn)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- device types --
    def seed_device_types(self, entries: Iterable[Mapping[str, Any]]) -> int:
        """Add the device types that are missing (an edited one is kept); returns how many."""
        added = 0
        with self.engine.begin() as conn:
            have = set(conn.execute(select(t.device_types.c.device_type)).scalars())
            for e in entries:
                if e["device_type"] in have:
                    continue
                cols = {c.name for c in t.device_types.columns}
                row = {k: v for k, v in e.items() if k in cols} | {"updated_ms": _now_ms()}
                conn.execute(insert(t.device_types).values(**row))
                added += 1
        return added

    def device_types(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.device_types).order_by(t.device_types.c.device_type))
            return [_plain(r._mapping) for r in rows]

    # -- applications --
    def create_app(self, tenant: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        now = _now_ms()
        row = {**fields, "id": str(uuid.uuid4()), "tenant": tenant, "status": "active",
               "created_ms": now, "updated_ms": now}  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(insert(t.applications).values(**row))
        found = self.app(row["id"])
        assert found is not None
        return found

    def app(self, app_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(t.applications).where(t.applications.c.id == app_id)).first()
            return None if r is None else _plain(r._mapping)

    def apps(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.applications).order_by(t.applications.c.created_ms))
            return [_plain(r._mapping) for r in rows]

    def update_app(self, app_id: str, fields: Mapping[str, Any]) -> dict[str, Any] | None:
        """Change some fields; None when there is no such application."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(t.applications).where(t.applications.c.id == app_id)
                .values(**fields, updated_ms=_now_ms())
            )  # fmt: skip
        return self.app(app_id) if done.rowcount else None

    def delete_app(self, app_id: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(delete(t.applications).where(t.applications.c.id == app_id))
        return bool(done.rowcount)


def open_seeded(settings: Settings) -> RegistryStore:
    """The registries of these settings, opened, migrated and seeded with every registered
    pack's device types (blocking)."""
    from edgetwin.packs import REGISTRY, load_pack
    from edgetwin.streams.registry import device_type_entry

    store = RegistryStore(url_for(settings))
    store.open()
    days = settings.nats_max_age_s.get("IOT_ENRICHED", 30 * 86400.0) / 86400.0
    types = [dt for name in REGISTRY for dt in load_pack(name).device_types]
    store.seed_device_types(device_type_entry(dt, days) for dt in types)
    return store
