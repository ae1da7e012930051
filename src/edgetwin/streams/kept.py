"""Device messages kept unchanged for the stream, beside the readings made of them.

A source that turns a device's message into readings (one per channel) also keeps the message
itself here, under the id of one of those readings (its *marker*), before it hands the readings
to the buffer. The stream sink (:mod:`edgetwin.edge.sinks.jetstream`) meets the marker in its
outbox like any reading, publishes the kept message under the marker's id and only then lets the
marker go: the message travels with the buffer's guarantees (durable, exactly once by id) without
the buffer learning a second kind of row.

A row is deleted once the stream acknowledged it; a marker that comes back after that (a crash
between the stream's answer and the outbox's acknowledgement) finds no row and is known to be
published. Rows whose marker never reached the sink (the buffer's policy dropped it) are pruned
after the buffer's maximum age.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from edgetwin.sqlite_file import SqliteFile

FILE: Final = "kept-messages.db"


def kept_path(edge_data_dir: Path) -> Path:
    """The one file of an edge's kept messages."""
    return edge_data_dir / FILE


class KeptMessages(SqliteFile):
    """``id -> (subject, body)``; see the module's docstring. Not shared across threads."""

    schema = (
        "CREATE TABLE IF NOT EXISTS kept (id TEXT PRIMARY KEY, subject TEXT NOT NULL,"
        " body BLOB NOT NULL, at REAL NOT NULL);"
        "CREATE INDEX IF NOT EXISTS kept_at ON kept (at);"
    )

    def put(self, rows: Iterable[tuple[str, str, bytes]], now: float | None = None) -> None:
        """Keep ``(id, subject, body)`` rows (an id kept already is left as it is)."""
        at = time.time() if now is None else now
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR IGNORE INTO kept (id, subject, body, at) VALUES (?, ?, ?, ?)",
                [(i, s, b, at) for i, s, b in rows],
            )

    def get(self, ids: Sequence[str]) -> dict[str, tuple[str, bytes]]:
        """The kept messages among ``ids``: ``id -> (subject, body)``."""
        out: dict[str, tuple[str, bytes]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for i, s, b in self.db.execute(
                f"SELECT id, subject, body FROM kept WHERE id IN ({marks})",  # noqa: S608 - marks
                chunk,
            ):
                out[i] = (s, bytes(b))
        return out

    def done(self, ids: Sequence[str]) -> None:
        """Forget messages the stream acknowledged."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("DELETE FROM kept WHERE id = ?", [(i,) for i in ids])

    def prune(self, max_age_s: float, now: float | None = None) -> int:
        """Forget messages kept longer than ``max_age_s``; returns how many."""
        cutoff = (time.time() if now is None else now) - max_age_s
        with self.db:
            cur = self.db.execute("DELETE FROM kept WHERE at < ?", (cutoff,))
        return cur.rowcount

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM kept").fetchone()[0])
