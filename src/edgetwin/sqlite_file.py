"""A small SQLite file a component owns (the edge's command memory, the cloud's command log,
the identity store):
opened in WAL mode with its schema, closed with its owner. The edge's buffer has its own, richer
lifecycle (integrity check, set-aside, synchronous setting) and does not use this."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Self


class SqliteFile:
    """Subclasses set ``schema`` (and ``row_factory``, ``check_same_thread`` where needed)."""

    schema = ""
    row_factory: type[sqlite3.Row] | None = None
    check_same_thread = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=self.check_same_thread
        )
        if self.row_factory is not None:
            db.row_factory = self.row_factory
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(self.schema)
        self._db = db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"{type(self).__name__} is not open")
        return self._db
