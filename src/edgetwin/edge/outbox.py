"""One sink's view of the buffer: the readings it still has to deliver, in arrival order.

Reads (``after``, ``between``) and acknowledgements (``ack``, ``dead_letter``) touch only this
sink's rows of the ``outbox`` table; a reading leaves the buffer when the last outbox that held it
acknowledges it. See :mod:`edgetwin.edge.buffer`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import NamedTuple, Protocol

import orjson

ROW_OVERHEAD = 48  # bytes SQLite spends per row beyond the payload and id (measured, rounded)
UUID_TEXT_LEN = 36


class Row(NamedTuple):
    """A buffered reading as a sink reads it back (a tuple: made by the thousand per batch)."""

    seq: int
    payload: bytes

    @property
    def size(self) -> int:
        return UUID_TEXT_LEN + len(self.payload) + ROW_OVERHEAD


class _Log(Protocol):
    """What an outbox needs of its buffer (:class:`~edgetwin.edge.buffer.SqliteBuffer`)."""

    remember: int

    @property
    def db(self) -> sqlite3.Connection: ...
    @property
    def single_sink(self) -> bool: ...
    def max_seq(self) -> int: ...
    def oldest_at_ms(self) -> int | None: ...
    def sink_depth(self, sink: str) -> int: ...
    def _delete_unreferenced(self, db: sqlite3.Connection, where: str, *args: object) -> int: ...
    def _after_ack(self, sink: str, rows: Sequence[Row], mine: int, freed: int) -> None: ...
    def _dropped_among(self, rows: Sequence[Row]) -> list[int]: ...
    def _delivered_after_drop(self, sink: str, seqs: Sequence[int]) -> None: ...
    def _resync(self) -> None: ...


class Outbox:
    """The backlog of one sink. Made by :meth:`SqliteBuffer.outbox`; use from the event loop."""

    def __init__(self, buffer: _Log, name: str, sink_id: int) -> None:
        self.buffer = buffer
        self.name = name
        self.sink_id = sink_id

    def after(self, seq: int, limit: int) -> list[Row]:
        """The oldest ``limit`` readings of this sink with a sequence number above ``seq``."""
        if self.buffer.single_sink:
            cur = self.buffer.db.execute(
                "SELECT seq, payload FROM readings WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            )
            return list(map(Row._make, cur))
        cur = self.buffer.db.execute(
            "SELECT r.seq, r.payload FROM outbox o JOIN readings r ON r.seq = o.seq"
            " WHERE o.sink = ? AND o.seq > ? ORDER BY o.seq LIMIT ?",
            (self.sink_id, seq, limit),
        )
        return list(map(Row._make, cur))

    def between(self, low: int, high: int, limit: int) -> list[Row]:
        """The oldest ``limit`` readings of this sink with ``low < seq <= high``."""
        if self.buffer.single_sink:
            cur = self.buffer.db.execute(
                "SELECT seq, payload FROM readings WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (low, high, limit),
            )
            return list(map(Row._make, cur))
        cur = self.buffer.db.execute(
            "SELECT r.seq, r.payload FROM outbox o JOIN readings r ON r.seq = o.seq"
            " WHERE o.sink = ? AND o.seq > ? AND o.seq <= ? ORDER BY o.seq LIMIT ?",
            (self.sink_id, low, high, limit),
        )
        return list(map(Row._make, cur))

    def ack(self, rows: Sequence[Row]) -> None:
        """This sink delivered ``rows``: take them out of its outbox, and out of the buffer
        when no other sink still needs them."""
        if not rows:
            return
        buf = self.buffer
        db = buf.db
        # One set-based statement each, not one per row: a third of the cost per reading.
        seqs = orjson.dumps([r.seq for r in rows]).decode()
        suspects = buf._dropped_among(rows)
        db.execute("BEGIN IMMEDIATE")
        try:
            gone: list[int] = []
            if suspects:  # rows the policy may have dropped while they were in flight
                held = self._held(db, suspects)
                gone = [seq for seq in suspects if seq not in held]
            if buf.single_sink:
                freed = buf._delete_unreferenced(
                    db, "seq IN (SELECT value FROM json_each(?))", seqs
                )
                mine = freed
            else:
                before = db.total_changes
                db.execute(
                    "DELETE FROM outbox WHERE sink = ? AND seq IN (SELECT value FROM json_each(?))",
                    (self.sink_id, seqs),
                )
                mine = db.total_changes - before
                freed = buf._delete_unreferenced(
                    db, "seq IN (SELECT value FROM json_each(?))", seqs
                )
            db.execute(
                "DELETE FROM forwarded WHERE n <= (SELECT max(n) FROM forwarded) - ?",
                (buf.remember,),
            )
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        buf._after_ack(self.name, rows, mine, freed)
        if gone:
            buf._delivered_after_drop(self.name, gone)

    def _held(self, db: sqlite3.Connection, seqs: list[int]) -> set[int]:
        """Which of ``seqs`` are still in this outbox."""
        args = orjson.dumps(seqs).decode()
        if self.buffer.single_sink:
            cur = db.execute(
                "SELECT seq FROM readings WHERE seq IN (SELECT value FROM json_each(?))", (args,)
            )
        else:
            cur = db.execute(
                "SELECT seq FROM outbox WHERE sink = ? AND seq IN (SELECT value FROM json_each(?))",
                (self.sink_id, args),
            )
        return {int(r[0]) for r in cur}

    def dead_letter(self, rows: Sequence[tuple[Row, str]], now_ms: int) -> None:
        """Set aside readings this sink's target refused as malformed, with the reason, so they
        stop blocking the outbox and can be inspected."""
        buf = self.buffer
        db = buf.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for row, reason in rows:
                db.execute(
                    "INSERT OR REPLACE INTO dead_letters (seq, id, payload, reason, at_ms, sink) "
                    "SELECT seq, id, payload, ?, ?, ? FROM readings WHERE seq = ?",
                    (reason, now_ms, self.name, row.seq),
                )
                db.execute("DELETE FROM outbox WHERE sink = ? AND seq = ?", (self.sink_id, row.seq))
            seqs = orjson.dumps([r.seq for r, _ in rows]).decode()
            buf._delete_unreferenced(db, "seq IN (SELECT value FROM json_each(?))", seqs)
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        buf._resync()

    def max_seq(self) -> int:
        """The highest sequence number the buffer ever gave (the lanes' watermark)."""
        return self.buffer.max_seq()

    @property
    def depth(self) -> int:
        """Readings waiting for this sink."""
        return self.buffer.sink_depth(self.name)

    def oldest_at_ms(self) -> int | None:
        """Timestamp of the reading that has waited longest for this sink."""
        if self.buffer.single_sink:
            return self.buffer.oldest_at_ms()
        row = self.buffer.db.execute(
            "SELECT r.at_ms FROM outbox o JOIN readings r ON r.seq = o.seq"
            " WHERE o.sink = ? ORDER BY o.seq LIMIT 1",
            (self.sink_id,),
        ).fetchone()
        return int(row[0]) if row else None


def _rollback(db: sqlite3.Connection) -> None:
    # SQLite may already have rolled back by itself (e.g. on SQLITE_FULL).
    if db.in_transaction:
        db.execute("ROLLBACK")
