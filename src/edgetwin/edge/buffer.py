"""The edge's durable store-and-forward buffer: SQLite in WAL mode, bounded in bytes and age.

A reading is written here before anything else happens to it (the MQTT source acknowledges the
broker only after the commit) and deleted only after the cloud confirmed that its store committed
it. ``seq`` is AUTOINCREMENT, so it never goes back: the uplink splits the buffer into a
backlog (``seq <= watermark``, sent oldest first, flagged historical) and live readings
(``seq > watermark``). The ids of the most recent readings (buffered or forwarded) are kept in
memory and in the file, so a broker's redelivery is recognised instead of buffered or sent
twice. No index on the random ids: that keeps writes fast; a redelivery older than the memory
is simply sent again, and the cloud's idempotent ingest stores it once.

Bounds: ``max_bytes`` (payload bytes held) and ``max_age_s`` (time in the buffer, from
arrival: a device whose clock is off, or a reading stamped long ago, is not expired for it; its
own timestamp travels untouched in the payload). When full, the
policy applies: ``drop_oldest`` evicts the oldest readings to make room, ``refuse_newest`` keeps
what it has and drops the new ones. Either way every dropped reading is counted by reason
(``evicted_oldest``, ``buffer_full``, ``expired``, ``disk_full``); the counts are durable.
A file that is not a sound SQLite database at start is set aside (renamed, never deleted) and a
new buffer is started.

**A log with one outbox per durable sink.** Every reading is stored once in ``readings``; the
``outbox`` table holds one row ``(sink, seq)`` for each sink that still has to deliver it. A sink
acknowledges its own rows (:class:`~edgetwin.edge.outbox.Outbox`); a reading is deleted when no
outbox holds it any more. So several sinks read the same buffer, each at its own pace and each
exactly once, and a dead sink holds only its own backlog. The bounds are the buffer's: when the
policy evicts or expires readings, each sink that still held them counts them as its own drops.
The sinks are named when the buffer opens; a buffer written before outboxes existed, or with
other sinks, migrates then (a new sink is given everything buffered; a sink no longer configured
releases its rows, counted as ``sink_removed``).

**Routing.** A sink may take only some readings (its ``readings`` filter, see
:mod:`edgetwin.edge.routing`): the commit is given one bit mask per reading and writes outbox
rows only for the sinks it names, so a sink's outbox, depth and drops are its own readings'. With
one sink the readings table stays its outbox (no rows), and the readings it does not take are not
stored. A reading no sink takes is counted as dropped, reason ``unrouted`` (not a policy drop: it
raises no alert). A filter applies from the commit on; when a buffer of one sink gains sinks, each
is given the backlog its filter takes.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import orjson

from edgetwin.core.errors import ConfigError
from edgetwin.core.point import Point
from edgetwin.edge.buffer_sinks import migrate_sinks
from edgetwin.edge.outbox import ROW_OVERHEAD, Outbox, Row
from edgetwin.edge.routing import UNROUTED, ReadingFilter, Routing

__all__ = ["ROW_OVERHEAD", "BufferLimits", "BufferStats", "PutResult", "Row", "SqliteBuffer"]

log = logging.getLogger("edgetwin.edge.buffer")

Policy = Literal["drop_oldest", "refuse_newest"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS forwarded (n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    payload BLOB NOT NULL,
    reason TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sinks (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS outbox (
    sink INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (sink, seq)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class BufferLimits:
    max_bytes: int = 1 << 30
    max_age_s: float = 7 * 24 * 3600
    policy: Policy = "drop_oldest"
    warn_ratio: float = 0.8


@dataclass(frozen=True)
class PutResult:
    """What a commit did: ``stored`` new readings, ``redelivered`` ones it already had,
    ``dropped`` by the policy (by reason), ``unrouted``: readings no sink takes (not stored)."""

    stored: int
    redelivered: int
    dropped: dict[str, int] = field(default_factory=dict)
    unrouted: int = 0


@dataclass(frozen=True)
class BufferStats:
    depth: int
    oldest_at_ms: int | None  # arrival of the reading that has waited longest
    max_seq: int
    bytes: int
    file_bytes: int
    fill_ratio: float
    state: str  # ok | high | full
    dropped: dict[str, int]
    dead_letters: int


class SqliteBuffer:
    """Durable, bounded FIFO of wire-format readings. Use from one thread (the event loop)."""

    def __init__(
        self,
        path: Path,
        *,
        limits: BufferLimits | None = None,
        synchronous: str = "FULL",
        remember: int = 100_000,
        sinks: Sequence[str] = ("cloud",),
        filters: Mapping[str, ReadingFilter | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not sinks or len(set(sinks)) != len(sinks):
            raise ValueError(f"a buffer needs one or more sinks with distinct names, not {sinks!r}")
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = path
        self.limits = limits or BufferLimits()
        self.synchronous = synchronous
        # Ids of the last ``remember`` forwarded readings: a broker that redelivers them (after
        # a restart from its saved state) is recognised here instead of resending to the cloud.
        self.remember = remember
        self._recent: dict[str, None] = {}  # insertion-ordered set of recent ids
        self.set_aside: Path | None = None  # where a corrupt file went, if one was found
        self._db: sqlite3.Connection | None = None
        self._rows = 0
        self._bytes = 0
        self._dropped: Counter[str] = Counter()
        self._pending: list[tuple[str, int, bytes]] = []
        self._pending_unrouted: list[str] = []  # ids of the commit's unrouted readings
        self._unrouted = 0  # how many the last insert left unrouted
        self.totals: dict[str, int] = {}  # durable running totals, e.g. "accepted"
        self.sinks = tuple(sinks)
        self.routing = Routing(self.sinks, filters)  # which sinks take a reading
        self.clock = clock
        self._sink_ids: dict[str, int] = {}
        self._sink_rows: dict[str, int] = {}
        self._sink_bytes: dict[str, int] = {}
        self._sink_dropped: dict[str, Counter[str]] = {name: Counter() for name in sinks}
        self._max_seq = 0
        self._outboxes: dict[str, Outbox] = {}
        self._sinks_dirty = False  # set when drops changed outboxes behind the counters
        self._implicit = len(self.sinks) == 1  # one sink: the readings table is its outbox
        # Seq ranges the policy dropped lately, with the reason: a reading dropped while a sink
        # had it in flight may still be delivered, and is then no longer counted as dropped.
        self._drop_ranges: deque[tuple[int, int, str]] = deque(maxlen=256)

    # -- lifecycle --
    def open(self) -> SqliteBuffer:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = self._connect()
        except sqlite3.DatabaseError as exc:
            self.set_aside = self._set_aside(exc)
            db = self._connect()
        self._db = db
        self._rows, self._bytes = db.execute(
            "SELECT count(*), coalesce(sum(length(payload) + length(id)), 0) FROM readings"
        ).fetchone()
        self._bytes += self._rows * ROW_OVERHEAD
        for key, value in db.execute("SELECT key, value FROM meta WHERE key LIKE 'dropped:%'"):
            self._dropped[key.removeprefix("dropped:")] = int(value)
        for key, value in db.execute("SELECT key, value FROM meta WHERE key LIKE 'sinkdrop:%'"):
            _, sink, reason = key.split(":", 2)
            if sink in self._sink_dropped:
                self._sink_dropped[sink][reason] = int(value)
        self._max_seq = self.max_seq()
        migrate_sinks(self, db)
        for key, value in db.execute("SELECT key, value FROM meta WHERE key LIKE 'total:%'"):
            self.totals[key.removeprefix("total:")] = int(value)
        recent = db.execute(
            "SELECT id FROM (SELECT n, id FROM forwarded ORDER BY n DESC LIMIT ?) ORDER BY n",
            (self.remember,),
        ).fetchall()
        recent += db.execute(
            "SELECT id FROM (SELECT seq, id FROM readings ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (self.remember,),
        ).fetchall()
        self._remember([r[0] for r in recent])
        return self

    def _connect(self) -> sqlite3.Connection:
        _require_json_functions()
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            db.executescript(_SCHEMA)
            if "ts_ms" in {r[1] for r in db.execute("PRAGMA table_info(readings)")}:
                # A buffer from before: it kept the device's timestamp; from now on the arrival.
                db.execute("ALTER TABLE readings RENAME COLUMN ts_ms TO at_ms")
            columns = {r[1] for r in db.execute("PRAGMA table_info(dead_letters)")}
            if "sink" not in columns:  # a buffer from before outboxes
                db.execute("ALTER TABLE dead_letters ADD COLUMN sink TEXT NOT NULL DEFAULT ''")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _set_aside(self, exc: Exception) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                src.rename(Path(str(target) + suffix))
        log.error(
            "buffer %s is damaged (%s); set aside as %s, starting a new buffer",
            self.path,
            exc,
            target,
        )
        return target

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> SqliteBuffer:
        return self.open()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("buffer is not open")
        return self._db

    # -- writes --
    def put(self, points: Iterable[Point]) -> PutResult:
        """Store readings in one transaction, applying the bounds, the policy and the sinks'
        filters."""
        points = list(points)
        routes = None if self.routing.everything else self.routing.masks(points)
        return self.put_rows([(str(p.id), p.to_json()) for p in points], routes)

    def put_rows(
        self, rows: list[tuple[str, bytes]], routes: Sequence[int] | None = None
    ) -> PutResult:
        """Like :meth:`put`, for readings already validated and in wire form: ``(id,
        payload)``. The device's time stays in the payload; the buffer keeps the arrival.
        The payload a device sent is kept instead of re-encoded.

        ``routes``: one bit mask per row over :attr:`sinks` (``self.routing.masks``), the sinks
        that take it; ``None``: every sink takes every row."""
        if not rows:
            return PutResult(0, 0)
        if routes is not None and len(routes) != len(rows):
            raise ValueError(f"{len(routes)} routes for {len(rows)} rows")
        dropped: Counter[str] = Counter()
        if self.limits.policy == "refuse_newest":
            room = self.limits.max_bytes - self._bytes
            keep = 0
            for _id, payload in rows:
                size = _size(_id, payload)
                if size > room:
                    break
                room -= size
                keep += 1
            if keep < len(rows):
                dropped["buffer_full"] = len(rows) - keep
                rows = rows[:keep]
                routes = None if routes is None else routes[:keep]
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                stored = self._insert(db, rows, routes)
                self._count(db, "accepted", stored)
                if self.limits.policy == "drop_oldest" and self._bytes > self.limits.max_bytes:
                    dropped["evicted_oldest"] = self._evict(db, self._bytes - self.limits.max_bytes)
                self._count_dropped(db, dropped)
                db.execute("COMMIT")
                self._commit_inserted()
            except BaseException:
                _rollback(db)
                self._resync()
                raise
        except sqlite3.OperationalError as exc:
            if "full" not in str(exc):
                raise
            return self._disk_full(rows, dropped, exc, routes)
        unrouted, self._unrouted = self._unrouted, 0
        return PutResult(stored, len(rows) - stored - unrouted, dict(dropped), unrouted)

    def _insert(
        self, db: sqlite3.Connection, rows: list[tuple[str, bytes]], routes: Sequence[int] | None
    ) -> int:
        """Insert the rows whose id is not among the recent ones, with an outbox row for each
        sink its route names; call inside a transaction and :meth:`_commit_inserted` after the
        COMMIT."""
        recent = self._recent
        fresh: list[tuple[str, int, bytes]] = []
        seen: set[str] = set()
        now_ms = int(self.clock() * 1000)
        if routes is None:
            for rid, payload in rows:
                if rid not in recent and rid not in seen:
                    seen.add(rid)
                    fresh.append((rid, now_ms, payload))
            return self._insert_fresh(db, fresh, None)
        masks: list[int] = []
        unrouted: list[str] = []
        for (rid, payload), mask in zip(rows, routes, strict=True):
            if rid not in recent and rid not in seen:
                seen.add(rid)
                if mask:
                    fresh.append((rid, now_ms, payload))
                    masks.append(mask)
                else:
                    unrouted.append(rid)
        all_ = self.routing.all
        stored = self._insert_fresh(db, fresh, None if all(m == all_ for m in masks) else masks)
        if unrouted:  # counted in this transaction; a rollback takes it back (_resync)
            self._count_dropped(db, Counter({UNROUTED: len(unrouted)}))
            self._unrouted = len(unrouted)
            self._pending_unrouted = unrouted
        return stored

    def _insert_fresh(
        self, db: sqlite3.Connection, fresh: list[tuple[str, int, bytes]], masks: list[int] | None
    ) -> int:
        """Insert ``fresh`` and its outbox rows (``masks``: per row; None: every sink)."""
        db.executemany("INSERT INTO readings (id, at_ms, payload) VALUES (?, ?, ?)", fresh)
        sizes = [_size(i, p) for i, _t, p in fresh]
        if fresh and not self._implicit:
            if masks is None:
                db.execute(
                    "INSERT INTO outbox (sink, seq) SELECT s.id, r.seq FROM sinks s, readings r"
                    " WHERE r.seq > ?",
                    (self._max_seq,),
                )
            else:
                self._route(db, fresh, masks)
            self._max_seq = self.max_seq()
        self._pending = fresh
        # Counted now so the bounds see them; a rollback recounts from the file.
        size = sum(sizes)
        self._rows += len(fresh)
        self._bytes += size
        for bit, name in enumerate(self.sinks):
            if masks is None:
                self._sink_rows[name] += len(fresh)
                self._sink_bytes[name] += size
            else:
                b = 1 << bit
                taken = [s for s, m in zip(sizes, masks, strict=True) if m & b]
                self._sink_rows[name] += len(taken)
                self._sink_bytes[name] += sum(taken)
        return len(fresh)

    def _route(
        self, db: sqlite3.Connection, fresh: list[tuple[str, int, bytes]], masks: list[int]
    ) -> None:
        """One outbox row per (sink, reading) that the reading's mask names."""
        base = self._max_seq
        top = self.max_seq()
        if top - base == len(fresh):  # AUTOINCREMENT in one transaction: consecutive
            seqs: Sequence[int] = range(base + 1, top + 1)
        else:  # never seen; read them back rather than assume
            seqs = [
                r[0]
                for r in db.execute("SELECT seq FROM readings WHERE seq > ? ORDER BY seq", (base,))
            ]
        pairs = [
            (sink_id, seq)
            for bit, sink_id in enumerate(self._sink_ids[s] for s in self.sinks)
            for seq, m in zip(seqs, masks, strict=True)
            if m >> bit & 1
        ]
        db.executemany("INSERT INTO outbox (sink, seq) VALUES (?, ?)", pairs)

    def _commit_inserted(self) -> None:
        fresh, self._pending = self._pending, []
        unrouted, self._pending_unrouted = self._pending_unrouted, []
        # Unrouted ids are remembered too: a redelivery is recognised, not counted again.
        self._remember([r[0] for r in fresh] + unrouted)

    def _remember(self, ids: list[str]) -> None:
        recent = self._recent
        for i in ids:
            recent[i] = None
        excess = len(recent) - self.remember
        if excess > 0:
            for old in list(itertools.islice(recent, excess)):
                del recent[old]

    def _evict(self, db: sqlite3.Connection, excess: int) -> int:
        """Delete the oldest readings until ``excess`` bytes are freed; returns how many."""
        freed = evicted = 0
        first_seq = last_seq = None
        for seq, size in db.execute(
            "SELECT seq, length(payload) + length(id) FROM readings ORDER BY seq"
        ):
            freed += size + ROW_OVERHEAD
            evicted += 1
            first_seq = seq if first_seq is None else first_seq
            last_seq = seq
            if freed >= excess:
                break
        if first_seq is not None and last_seq is not None:
            self._drop_ranges.append((first_seq, last_seq, "evicted_oldest"))
            self._release(db, "seq <= ?", (last_seq,), "evicted_oldest")
            db.execute("DELETE FROM readings WHERE seq <= ?", (last_seq,))
            self._rows -= evicted
            self._bytes -= freed
        return evicted

    def _release(
        self, db: sqlite3.Connection, where: str, args: tuple[object, ...], reason: str
    ) -> None:
        """Delete the outbox rows of readings about to be dropped, counting each sink's loss."""
        if self._implicit:
            # ``where`` is always one of this module's own constant clauses (S608: no input)
            n = db.execute(f"SELECT count(*) FROM readings WHERE {where}", args).fetchone()[0]  # noqa: S608
            if n:
                self._count_sink_dropped(db, self.sinks[0], reason, n)
            self._sinks_dirty = True
            return
        names = {i: n for n, i in self._sink_ids.items()}
        for sink, n in db.execute(
            f"SELECT sink, count(*) FROM outbox WHERE {where} GROUP BY sink",  # noqa: S608
            args,
        ).fetchall():
            name = names.get(sink)
            if name is not None:
                self._count_sink_dropped(db, name, reason, n)
        db.execute(f"DELETE FROM outbox WHERE {where}", args)  # noqa: S608
        self._sinks_dirty = True

    def _count_sink_dropped(self, db: sqlite3.Connection, sink: str, reason: str, n: int) -> None:
        self._sink_dropped[sink][reason] += n
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (f"sinkdrop:{sink}:{reason}", str(self._sink_dropped[sink][reason])),
        )

    def _disk_full(
        self,
        rows: list[tuple[str, bytes]],
        dropped: Counter[str],
        exc: Exception,
        routes: Sequence[int] | None,
    ) -> PutResult:
        """The file cannot grow (disk or page limit). Apply the policy inside the space we have."""
        log.error("buffer cannot grow (%s); applying policy %s", exc, self.limits.policy)
        if self.limits.policy == "drop_oldest" and self._rows:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            evicted = self._evict(db, sum(_size(i, p) for i, p in rows) * 2)
            dropped["evicted_oldest"] += evicted
            self._count_dropped(db, dropped)
            db.execute("COMMIT")
            try:
                db.execute("BEGIN IMMEDIATE")
                stored = self._insert(db, rows, routes)
                self._count(db, "accepted", stored)
                db.execute("COMMIT")
                self._commit_inserted()
                unrouted, self._unrouted = self._unrouted, 0
                return PutResult(stored, len(rows) - stored - unrouted, dict(dropped), unrouted)
            except sqlite3.OperationalError:
                _rollback(db)
                self._resync()
        dropped["disk_full"] += len(rows)
        with_counts = self.db
        with_counts.execute("BEGIN IMMEDIATE")
        self._count_dropped(with_counts, dropped)
        with_counts.execute("COMMIT")
        return PutResult(0, 0, dict(dropped))

    def _count(self, db: sqlite3.Connection, key: str, n: int) -> None:
        """A durable running total kept in the same transaction as the rows it counts."""
        if n:
            self.totals[key] = self.totals.get(key, 0) + n
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + ?",
                (f"total:{key}", str(n), n),
            )

    def _count_dropped(self, db: sqlite3.Connection, dropped: Counter[str]) -> None:
        for reason, n in dropped.items():
            if n:
                self._dropped[reason] += n
                db.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (f"dropped:{reason}", str(self._dropped[reason])),
                )

    def _resync(self) -> None:
        if self._unrouted:  # an insert counted them, and its transaction was rolled back
            self._dropped[UNROUTED] -= self._unrouted
            self._unrouted, self._pending_unrouted = 0, []
        rows, size = self.db.execute(
            "SELECT count(*), coalesce(sum(length(payload) + length(id)), 0) FROM readings"
        ).fetchone()
        self._rows, self._bytes = rows, size + rows * ROW_OVERHEAD
        self._resync_sinks()

    def _resync_sinks(self) -> None:
        self._sinks_dirty = False
        if self._implicit:
            self._sink_rows[self.sinks[0]], self._sink_bytes[self.sinks[0]] = (
                self._rows,
                self._bytes,
            )
            return
        counted = {
            sink: (n, size)
            for sink, n, size in self.db.execute(
                "SELECT o.sink, count(*), coalesce(sum(length(r.payload) + length(r.id)), 0)"
                " FROM outbox o JOIN readings r ON r.seq = o.seq GROUP BY o.sink"
            )
        }
        for name, sink_id in self._sink_ids.items():
            n, size = counted.get(sink_id, (0, 0))
            self._sink_rows[name] = n
            self._sink_bytes[name] = size + n * ROW_OVERHEAD
        self._sinks_dirty = False

    def expire(self, now_ms: int | None = None) -> int:
        """Drop readings that have been in the buffer longer than ``max_age_s`` (counted as
        ``expired``), looked at in arrival order from the oldest. ``now_ms``: the clock's now."""
        if now_ms is None:
            now_ms = int(self.clock() * 1000)
        cutoff = now_ms - int(self.limits.max_age_s * 1000)
        db = self.db
        total = 0
        while True:
            head = db.execute("SELECT seq, at_ms FROM readings ORDER BY seq LIMIT 5000").fetchall()
            old = [(seq,) for seq, ts in head if ts < cutoff]
            if not old:
                break
            db.execute("BEGIN IMMEDIATE")
            self._release(
                db, "seq IN (SELECT value FROM json_each(?))",
                (orjson.dumps([o[0] for o in old]).decode(),), "expired",
            )  # fmt: skip
            db.executemany("DELETE FROM readings WHERE seq = ?", old)
            self._drop_ranges.append((old[0][0], old[-1][0], "expired"))
            self._count_dropped(db, Counter({"expired": len(old)}))
            db.execute("COMMIT")
            total += len(old)
            if len(old) < len(head):
                break
        if total:
            self._resync()
            log.warning("dropped %d reading(s) older than %.0f s", total, self.limits.max_age_s)
        return total

    # -- sinks and their outboxes --
    def _delete_unreferenced(self, db: sqlite3.Connection, where: str, *args: object) -> int:
        """Forget readings (matching ``where``) that no outbox holds any more; their ids are
        remembered as forwarded, so a redelivery is recognised."""
        if self._implicit:
            free = where
        else:
            ids = ",".join(str(i) for i in self._sink_ids.values()) or "NULL"
            # ``where`` is one of our constant clauses and the ids are integers from our table
            free = (
                f"{where} AND NOT EXISTS (SELECT 1 FROM outbox o"  # noqa: S608
                f" WHERE o.sink IN ({ids}) AND o.seq = readings.seq)"
            )
        db.execute(
            f"INSERT INTO forwarded (id) SELECT id FROM readings WHERE {free} ORDER BY seq",  # noqa: S608
            args,
        )
        before = db.total_changes
        db.execute(f"DELETE FROM readings WHERE {free}", args)  # noqa: S608
        return db.total_changes - before

    def outbox(self, sink: str) -> Outbox:
        """The view of one sink: its backlog, read in order and acknowledged by that sink."""
        if sink not in self._sink_ids:
            raise KeyError(f"no sink {sink!r} in this buffer; sinks: {', '.join(self.sinks)}")
        box = self._outboxes.get(sink)
        if box is None:
            box = self._outboxes[sink] = Outbox(self, sink, self._sink_ids[sink])
        return box

    def _dropped_among(self, rows: Sequence[Row]) -> list[int]:
        """The seqs of ``rows`` that fall in a range the policy dropped (usually none: cheap)."""
        if not self._drop_ranges:
            return []
        top = max(hi for _lo, hi, _r in self._drop_ranges)
        return [
            r.seq
            for r in rows
            if r.seq <= top and any(lo <= r.seq <= hi for lo, hi, _r in self._drop_ranges)
        ]

    def _delivered_after_drop(self, sink: str, seqs: Sequence[int]) -> None:
        """``sink`` delivered readings the policy had dropped while they were in flight: they
        are not lost, so they leave the drop counts (with one sink, the buffer's too)."""
        by_reason: Counter[str] = Counter()
        for seq in seqs:
            for lo, hi, reason in self._drop_ranges:
                if lo <= seq <= hi:
                    by_reason[reason] += 1
                    break
        if not by_reason:
            return
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for reason, n in by_reason.items():
                self._count_sink_dropped(db, sink, reason, -n)
                if self._implicit:
                    self._count_dropped(db, Counter({reason: -n}))
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        log.info(
            "%s delivered %d reading(s) dropped while in flight", sink, sum(by_reason.values())
        )

    def _after_ack(self, sink: str, rows: Sequence[Row], mine: int, freed: int) -> None:
        """Update the counts after ``sink`` acknowledged ``rows`` (``mine`` of them were still
        in its outbox; ``freed`` left the buffer)."""
        if self._sinks_dirty or mine != len(rows):
            self._resync()  # some were evicted or expired while in flight
            return
        size = sum(r.size for r in rows)
        self._sink_rows[sink] -= mine
        self._sink_bytes[sink] -= size
        if freed == len(rows):
            self._rows -= freed
            self._bytes -= size
        elif freed:
            self._resync()

    @property
    def single_sink(self) -> bool:
        """One sink: the readings table is its outbox (no outbox rows are kept)."""
        return self._implicit

    def sink_depth(self, sink: str) -> int:
        return self._sink_rows.get(sink, 0)

    def sink_bytes(self, sink: str) -> int:
        return self._sink_bytes.get(sink, 0)

    def sink_dropped(self, sink: str) -> dict[str, int]:
        """Readings this sink never delivered because the policy dropped them, by reason."""
        return dict(self._sink_dropped.get(sink, {}))

    # -- reads and acknowledgements of the first sink (the cloud), for callers of one sink --
    def after(self, seq: int, limit: int) -> list[Row]:
        """The first sink's oldest ``limit`` readings with a sequence number above ``seq``."""
        return self.outbox(self.sinks[0]).after(seq, limit)

    def between(self, low: int, high: int, limit: int) -> list[Row]:
        """The first sink's oldest ``limit`` readings with ``low < seq <= high``."""
        return self.outbox(self.sinks[0]).between(low, high, limit)

    def ack(self, rows: Sequence[Row]) -> None:
        """The first sink delivered these readings."""
        self.outbox(self.sinks[0]).ack(rows)

    def dead_letter(self, rows: Sequence[tuple[Row, str]], now_ms: int) -> None:
        """The first sink's target refused these readings for good."""
        self.outbox(self.sinks[0]).dead_letter(rows, now_ms)

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Durable edge state that must survive a restart (e.g. a standing network_outage)."""
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def max_seq(self) -> int:
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'readings'").fetchone()
        return int(row[0]) if row else 0

    @property
    def dropped(self) -> dict[str, int]:
        """Readings dropped by reason, since the buffer was created."""
        return dict(self._dropped)

    @property
    def depth(self) -> int:
        return self._rows

    @property
    def bytes(self) -> int:
        return self._bytes

    def oldest_at_ms(self) -> int | None:
        """Timestamp of the reading that has waited longest (the first in arrival order)."""
        row = self.db.execute("SELECT at_ms FROM readings ORDER BY seq LIMIT 1").fetchone()
        return int(row[0]) if row else None

    def stats(self) -> BufferStats:
        db = self.db
        oldest = self.oldest_at_ms()
        page_count = db.execute("PRAGMA page_count").fetchone()[0]
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        dead = db.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
        ratio = self._bytes / self.limits.max_bytes
        state = "full" if ratio >= 0.98 else "high" if ratio >= self.limits.warn_ratio else "ok"
        return BufferStats(
            depth=self._rows,
            oldest_at_ms=oldest,
            max_seq=self.max_seq(),
            bytes=self._bytes,
            file_bytes=int(page_count * page_size),
            fill_ratio=round(ratio, 4),
            state=state,
            dropped=dict(self._dropped),
            dead_letters=int(dead),
        )


def _size(reading_id: str, payload: bytes) -> int:
    return len(reading_id) + len(payload) + ROW_OVERHEAD


def _rollback(db: sqlite3.Connection) -> None:
    # SQLite may already have rolled back by itself (e.g. on SQLITE_FULL).
    if db.in_transaction:
        db.execute("ROLLBACK")


def _require_json_functions() -> None:
    """``ack`` needs SQLite's JSON functions (built in since 3.38; an option before)."""
    try:
        sqlite3.connect(":memory:").execute("SELECT value FROM json_each('[1]')").close()
    except sqlite3.OperationalError as exc:
        raise ConfigError(
            f"the edge buffer needs SQLite with JSON functions; this Python's SQLite "
            f"{sqlite3.sqlite_version} has none ({exc})"
        ) from exc
