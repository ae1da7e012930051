"""The ``dropfolder`` source: CSV files an instrument drops into a folder (a CMM's reports).

It takes files that are present at start, created or renamed in (watchfiles, plus a rescan every
few seconds in case the operating system dropped events), in order of modification time. A file
is taken once it is complete: its size unchanged for ``settle_s`` and its last row whole (see
:mod:`edgetwin.edge.sources.csvfile`); names starting with ``.`` (a writer's temporary file) are
ignored. Each file is one delivery: a reading per configured numeric column and data row, plus a
``seq_metric`` reading numbering the measurements (1, 2, ... for this source, kept across
restarts), all with ids derived from (source, file, row, metric), so a delivery made again after
a crash carries the same ids and the buffer recognises them.

A checkpoint per file in ``<edge data dir>/<name>.dropfolder.db`` (SQLite) makes "each file
exactly once" hold across kill -9: a file is ``delivered`` (its measurement numbers assigned)
before its readings go to the buffer, ``acked`` after the buffer committed them, and only then
moved to ``done/`` (or deleted). A file found again in the folder in state ``acked`` is moved
without being delivered again. A malformed file goes to ``rejected/`` with ``<name>.reason``
beside it, counted in ``stats()["rejected"]["malformed_file"]``.

Text columns (``texts``, e.g. a part serial: readings carry numbers only) are kept in the same
database, table ``texts``, by measurement number, for sinks that build records
(:func:`read_texts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import watchfiles
from pydantic import BaseModel, ConfigDict, Field

from edgetwin.core.ids import Segment
from edgetwin.core.plugins import Delivery, PluginContext
from edgetwin.core.point import Point
from edgetwin.edge.sources.csvfile import IncompleteFileError, MalformedFileError, Row, parse

log = logging.getLogger("edgetwin.edge.dropfolder")
_NS = uuid.UUID("6f1c9a52-2d4b-4f5e-9a51-0c1d2e3f4a5b")  # ids of drop-folder readings


class Column(BaseModel):
    """A numeric column and the unit of its readings."""

    model_config = ConfigDict(extra="forbid")
    column: str
    unit: Annotated[str, Field(max_length=16)] = ""


class DropFolderConfig(BaseModel):
    """``[[sources]] type = "dropfolder"``.

    Attributes:
        path: the watched folder (created if missing).
        pattern: file names taken (``fnmatch``).
        line, machine: where the readings belong.
        timestamp: the column with the measurement's time (ISO 8601; no offset means UTC).
        columns: metric -> numeric column and unit.
        texts: name -> text column, kept in the checkpoint database (:func:`read_texts`).
        seq_metric: the metric numbering the measurements (default None: no such reading;
            the cmm pack sets it, its MES sink orders records by it).
        delimiter, decimal: the CSV dialect (``auto`` guesses from the header).
        settle_s: a file's size must stay unchanged this long before it is read.
        on_done: ``move`` to ``done_dir`` or ``delete`` a processed file.
        done_dir, rejected_dir: default ``done`` and ``rejected`` beside ``path``.
    """

    model_config = ConfigDict(extra="forbid")

    path: str
    pattern: str = "*.csv"
    line: Segment
    machine: Segment
    timestamp: str = "Timestamp"
    columns: dict[Segment, Column]
    texts: dict[str, str] = Field(default_factory=dict)
    seq_metric: Segment | None = None
    delimiter: Literal["auto", ",", ";", "\t"] = "auto"
    decimal: Literal["auto", ".", ","] = "auto"
    settle_s: Annotated[float, Field(ge=0, le=60)] = 1.0
    on_done: Literal["move", "delete"] = "move"
    done_dir: str | None = None
    rejected_dir: str | None = None


def checkpoint_path(data_dir: Path, name: str) -> Path:
    """Where source ``name`` keeps its checkpoints (``data_dir``: the edge's data dir)."""
    return data_dir / f"{name}.dropfolder.db"


def read_texts(db_path: Path, seqs: list[int]) -> dict[int, dict[str, str]]:
    """The text columns of measurements ``seqs`` from a drop-folder source's database."""
    if not seqs or not db_path.exists():
        return {}
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        marks = ",".join("?" * len(seqs))
        rows = db.execute(f"SELECT seq, texts FROM texts WHERE seq IN ({marks})", seqs)  # noqa: S608
        return {seq: orjson.loads(texts) for seq, texts in rows}
    finally:
        db.close()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (name TEXT PRIMARY KEY, state TEXT NOT NULL,
    first_seq INTEGER, rows INTEGER, reason TEXT, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS texts (seq INTEGER PRIMARY KEY, file TEXT NOT NULL,
    row INTEGER NOT NULL, ts_ms INTEGER NOT NULL, texts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class DropFolderSource:
    """Watches one folder; see the module's docstring."""

    def __init__(self, name: str, config: DropFolderConfig, ctx: PluginContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self.folder = Path(config.path)
        self.done_dir = Path(config.done_dir or self.folder.parent / "done")
        self.rejected_dir = Path(config.rejected_dir or self.folder.parent / "rejected")
        self.db_path = checkpoint_path(ctx.data_dir, name)
        self.ready = asyncio.Event()
        self._db: sqlite3.Connection | None = None
        self._seen: dict[Path, tuple[int, float]] = {}  # path -> (size, since when)
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None
        self.counts = {"files": 0, "rows": 0, "redelivered": 0, "rejected": 0}

    @classmethod
    def from_config(
        cls, name: str, config: DropFolderConfig, ctx: PluginContext
    ) -> DropFolderSource:
        return cls(name, config, ctx)

    async def __aenter__(self) -> DropFolderSource:
        logging.getLogger("watchfiles").setLevel(logging.WARNING)  # a line per change otherwise
        for folder in (self.folder, self.done_dir, self.rejected_dir, self.db_path.parent):
            folder.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.db_path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._stop.clear()
        self._watch = asyncio.create_task(self._watcher(), name=f"watch-{self.name}")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        if self._db is not None:
            self._db.close()
            self._db = None

    def stats(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self.counts.items() if k != "rejected"},
            "pending": len(self._seen),
            "rejected": {"malformed_file": self.counts["rejected"]}
            if self.counts["rejected"]
            else {},
        }

    async def _watcher(self) -> None:
        """Wake the reader on any change in the folder; watchfiles is only a hint, the folder
        is listed again on every wake and every few seconds."""
        with contextlib.suppress(RuntimeError, OSError):
            async for _changes in watchfiles.awatch(
                self.folder, stop_event=self._stop, debounce=100, step=50, recursive=False
            ):
                self._wake.set()

    async def deliveries(self) -> AsyncIterator[Delivery]:
        self.ready.set()
        while True:
            for path in self._ready_files():
                delivery = self._take(path)
                if delivery is not None:
                    yield delivery
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.25 if self._seen else 3.0)

    def _ready_files(self) -> list[Path]:
        """Files whose size held still for ``settle_s``, oldest first."""
        now = time.monotonic()
        present: dict[Path, tuple[int, float]] = {}
        with contextlib.suppress(FileNotFoundError):
            for entry in self.folder.iterdir():
                if entry.name.startswith(".") or not fnmatch.fnmatch(
                    entry.name, self.config.pattern
                ):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    st = entry.stat()
                    if entry.is_file():
                        present[entry] = (st.st_size, st.st_mtime)
        ready = []
        for path, (size, mtime) in present.items():
            old = self._seen.get(path)
            if old is None or old[0] != size:
                self._seen[path] = (size, now)
            elif now - old[1] >= self.config.settle_s:
                ready.append((mtime, path.name, path))
        for path in set(self._seen) - set(present):
            del self._seen[path]
        return [p for _, _, p in sorted(ready)]

    def _take(self, path: Path) -> Delivery | None:
        db = self._db
        assert db is not None
        known = db.execute(
            "SELECT state, first_seq FROM files WHERE name = ?", (path.name,)
        ).fetchone()
        if known is not None and known[0] == "acked":
            self._finish(path)  # acknowledged before a crash, not yet moved: never again
            return None
        try:
            rows = parse(
                path.read_bytes(), timestamp=self.config.timestamp, texts=self.config.texts,
                numbers={m: c.column for m, c in self.config.columns.items()},
                delimiter=self.config.delimiter, decimal=self.config.decimal,
            )  # fmt: skip
        except IncompleteFileError:
            self._seen[path] = (-1, time.monotonic())  # look again once it settled again
            return None
        except MalformedFileError as exc:
            self._reject(path, str(exc))
            return None
        except FileNotFoundError:
            self._seen.pop(path, None)
            return None
        if known is None:
            first = self._assign(path.name, rows)
        else:
            first = int(known[1])
            self.counts["redelivered"] += 1
        points = self._points(path.name, rows, first)
        self._seen.pop(path, None)
        return Delivery(points, ack=lambda: self._ack(path), nack=lambda: None)

    def _assign(self, name: str, rows: list[Row]) -> int:
        """Number the file's measurements and note it ``delivered``, in one transaction."""
        db = self._db
        assert db is not None
        with db:
            db.execute("BEGIN IMMEDIATE")
            got = db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
            first = int(got[0]) if got else 1
            db.execute("INSERT OR REPLACE INTO meta VALUES ('next_seq', ?)", (first + len(rows),))
            db.execute(
                "INSERT INTO files VALUES (?, 'delivered', ?, ?, NULL, ?)",
                (name, first, len(rows), time.time()),
            )
            db.executemany(
                "INSERT OR REPLACE INTO texts VALUES (?, ?, ?, ?, ?)",
                [
                    (first + i, name, r.number, _ms(r), orjson.dumps(r.texts).decode())
                    for i, r in enumerate(rows)
                ],
            )
        return first

    def _points(self, file: str, rows: list[Row], first: int) -> list[Point]:
        c, t, p = self.config, self.ctx.tenant, self.ctx.plant
        points = []
        for i, row in enumerate(rows):
            values = [(m, row.values[m], col.unit) for m, col in c.columns.items()]
            if c.seq_metric is not None:
                values.append((c.seq_metric, float(first + i), ""))
            for metric, value, unit in values:
                pid = uuid.uuid5(_NS, f"{self.name}/{file}/{row.number}/{metric}")
                points.append(
                    Point.make(
                        ts=row.ts,
                        tenant=t,
                        plant=p,
                        line=c.line,
                        machine=c.machine,
                        metric=metric,
                        value=value,
                        unit=unit,
                        id=pid,
                    )
                )
        return points

    def _ack(self, path: Path) -> None:
        """After the buffer committed the file's readings: note it, then move it."""
        db = self._db
        assert db is not None
        with db:
            db.execute(
                "UPDATE files SET state = 'acked', at = ? WHERE name = ?", (time.time(), path.name)
            )
        self.counts["files"] += 1
        self._finish(path)

    def _finish(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self.config.on_done == "delete":
                path.unlink()
            else:
                path.replace(_free_name(self.done_dir, path.name))
        self._seen.pop(path, None)

    def _reject(self, path: Path, reason: str) -> None:
        log.warning("%s: %s rejected: %s", self.name, path.name, reason)
        target = _free_name(self.rejected_dir, path.name)
        with contextlib.suppress(FileNotFoundError):
            target.with_name(target.name + ".reason").write_text(reason + "\n", encoding="utf-8")
            path.replace(target)
            db = self._db
            assert db is not None
            with db:
                db.execute(
                    "INSERT OR REPLACE INTO files VALUES (?, 'rejected', NULL, 0, ?, ?)",
                    (path.name, reason, time.time()),
                )
            self.counts["rejected"] += 1
        self._seen.pop(path, None)


def _ms(row: Row) -> int:
    return int(row.ts.timestamp() * 1000)


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name.1``, ``name.2``... when taken (a re-used file name)."""
    target, n = folder / name, 0
    while target.exists():
        n += 1
        target = folder / f"{name}.{n}"
    return target
