"""Stores of readings. Every store implements :class:`edgetwin.cloud.store.base.Store`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgetwin.cloud.store.base import FaultRules, IngestResult, SeriesKey, Store
from edgetwin.core.errors import ConfigError

if TYPE_CHECKING:
    from edgetwin.core.settings import Settings

PG_SCHEMES = ("postgresql://", "postgres://")


def open_store(
    url: str, settings: Settings | None = None, *, fault_rules: FaultRules | None = None
) -> Store:
    """A store for ``url`` (``sqlite:///path`` or ``postgresql://...``); not connected until
    ``await store.start()``.

    ``settings`` supplies the PostgreSQL store's pool size and retention; without it they are
    read from the environment (``EDGETWIN_RETENTION_DAYS`` ...), as the cloud process has them.
    ``fault_rules`` (metric -> fault codes, from the enabled packs' device types: see
    :func:`edgetwin.core.device.fault_rules`) says which readings the KPIs count as faults;
    without it none are.

    Raises:
        ConfigError: an unsupported URL scheme.
    """
    if url.startswith("sqlite:///"):
        from pathlib import Path

        from edgetwin.cloud.store.sqlite import SqliteStore

        return SqliteStore(Path(url.removeprefix("sqlite:///")), fault_rules)
    if url.startswith(PG_SCHEMES):
        from edgetwin.cloud.store.postgres import PgOptions, PostgresStore
        from edgetwin.core.settings import load_settings

        options = PgOptions.from_settings(settings or load_settings())
        return PostgresStore(url, options, fault_rules)
    scheme = url.split(":", 1)[0]
    raise ConfigError(
        f"unsupported store URL scheme {scheme!r}; use sqlite:///PATH or postgresql://HOST/DB"
    )


__all__ = ["FaultRules", "IngestResult", "SeriesKey", "Store", "open_store"]
