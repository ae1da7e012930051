"""Stores of readings. Every store implements :class:`edgetwin.cloud.store.base.Store`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgetwin.cloud.store.base import IngestResult, SeriesKey, Store
from edgetwin.core.errors import ConfigError

if TYPE_CHECKING:
    from edgetwin.core.settings import Settings

PG_SCHEMES = ("postgresql://", "postgres://")


def open_store(url: str, settings: Settings | None = None) -> Store:
    """A store for ``url`` (``sqlite:///path`` or ``postgresql://...``); not connected until
    ``await store.start()``.

    ``settings`` supplies the PostgreSQL store's pool size and retention; without it they are
    read from the environment (``EDGETWIN_RETENTION_DAYS`` ...), as the cloud process has them.
    """
    if url.startswith("sqlite:///"):
        from pathlib import Path

        from edgetwin.cloud.store.sqlite import SqliteStore

        return SqliteStore(Path(url.removeprefix("sqlite:///")))
    if url.startswith(PG_SCHEMES):
        from edgetwin.cloud.store.postgres import PgOptions, PostgresStore
        from edgetwin.core.settings import load_settings

        return PostgresStore(url, PgOptions.from_settings(settings or load_settings()))
    scheme = url.split(":", 1)[0]
    raise ConfigError(
        f"unsupported store URL scheme {scheme!r}; use sqlite:///PATH or postgresql://HOST/DB"
    )


__all__ = ["IngestResult", "SeriesKey", "Store", "open_store"]
