"""The buffer's sinks when it opens: make the outboxes match the configured sinks.

A buffer written by an older edgetwin (one sink, no outbox rows), or with other sinks, migrates
here (see :mod:`edgetwin.edge.buffer`): with one sink the ``readings`` table *is* its outbox and
no outbox rows are written (the common case pays nothing for the others); with several, every
sink has rows. A buffer of one sink that gains sinks gives each the backlog its ``readings``
filter takes; a sink no longer configured releases its rows (counted as ``sink_removed``).
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from typing import Protocol

from edgetwin.edge.routing import Routing


class SqliteBuffer(Protocol):
    """What these steps use of :class:`edgetwin.edge.buffer.SqliteBuffer` (a protocol, so this
    module does not import the buffer that imports it)."""

    sinks: tuple[str, ...]
    routing: Routing
    _sink_ids: dict[str, int]
    _implicit: bool

    def _count_dropped(self, db: sqlite3.Connection, dropped: Counter[str]) -> None: ...
    def _delete_unreferenced(self, db: sqlite3.Connection, where: str, *args: object) -> int: ...
    def _resync(self) -> None: ...


log = logging.getLogger("edgetwin.edge.buffer")


def migrate_sinks(buf: SqliteBuffer, db: sqlite3.Connection) -> None:
    """Make ``buf``'s outboxes match its configured sinks, in one transaction; then recount."""
    known = dict(db.execute("SELECT name, id FROM sinks").fetchall())
    before = set(known)
    was_implicit = len(known) <= 1  # one sink, or a buffer from before outboxes
    db.execute("BEGIN IMMEDIATE")
    try:
        for name in buf.sinks:
            if name not in known:
                cur = db.execute("INSERT INTO sinks (name) VALUES (?)", (name,))
                known[name] = int(cur.lastrowid or 0)
        buf._sink_ids = {name: known[name] for name in buf.sinks}
        removed = {n: i for n, i in known.items() if n not in buf._sink_ids}
        if was_implicit and not buf._implicit:
            # Every configured sink is given what is buffered now: the old sink's backlog,
            # and, for a new sink, everything the buffer holds that its filter takes.
            for name, sink_id in buf._sink_ids.items():
                _give_backlog(buf, db, name, sink_id)
        for name, sink_id in removed.items():
            n = (
                db.execute("SELECT count(*) FROM readings").fetchone()[0]
                if was_implicit
                else db.execute(
                    "SELECT count(*) FROM outbox WHERE sink = ?", (sink_id,)
                ).fetchone()[0]
            )
            db.execute("DELETE FROM outbox WHERE sink = ?", (sink_id,))
            db.execute("DELETE FROM sinks WHERE id = ?", (sink_id,))
            if n:
                log.warning(
                    "sink %s is no longer configured: its %d waiting reading(s) are released",
                    name,
                    n,
                )
                buf._count_dropped(db, Counter({"sink_removed": n}))
        if not was_implicit and buf._implicit:
            if buf.sinks[0] in before:
                buf._implicit = False  # judge by the old outboxes one last time
                buf._delete_unreferenced(db, "1")
                buf._implicit = True
            db.execute("DELETE FROM outbox")
        elif not buf._implicit:
            buf._delete_unreferenced(db, "1")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    buf._resync()


def _give_backlog(buf: SqliteBuffer, db: sqlite3.Connection, name: str, sink_id: int) -> None:
    """Put every buffered reading that sink ``name`` takes into its outbox."""
    if name not in buf.routing.filters:
        db.execute(
            "INSERT OR IGNORE INTO outbox (sink, seq) SELECT ?, seq FROM readings", (sink_id,)
        )
        return
    last = 0
    while chunk := db.execute(
        "SELECT seq, payload FROM readings WHERE seq > ? ORDER BY seq LIMIT 5000", (last,)
    ).fetchall():
        last = chunk[-1][0]
        db.executemany(
            "INSERT OR IGNORE INTO outbox (sink, seq) VALUES (?, ?)",
            [(sink_id, seq) for seq, p in chunk if buf.routing.takes(name, p)],
        )
