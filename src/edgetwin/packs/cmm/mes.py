"""The ``cmm_mes`` sink: one quality record per CMM measurement to the MES, exactly once, in order.

The buffer hands a sink readings; the MES wants records. The sink therefore collects the readings
of each measurement (same line, machine and timestamp) in its own SQLite file
(``<edge data dir>/<name>.mes.db``) as they come, whichever batch or lane brings them, and posts
the *complete* measurements strictly in the order of their measurement number (the drop-folder
source's ``measurement`` reading: 1, 2, ...). A batch is acknowledged once its readings are
kept and everything it completed is posted; when the MES cannot answer, the sink raises
:class:`SinkRetryableError` and the batch waits in this sink's outbox (its depth is the MES's
backlog), while the cloud's sink goes on.

Each record is ``POST {url}/api/v1/cmm/measurements`` with ``Idempotency-Key`` = the id of the
measurement's raw-length reading (derived from the file and row, so stable across redeliveries
and crashes; a resend after a lost answer is a duplicate the MES recognises). A 4xx other than
408/429 refuses the record for good: its readings in the batch go to dead letters with the
answer as the reason and the next record goes on. The part serial, a text, is not a reading: it
is read from the drop-folder source's database (:func:`~edgetwin.edge.sources.dropfolder.read_texts`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field

from edgetwin.core.errors import SinkRetryableError
from edgetwin.core.ids import Segment
from edgetwin.core.plugins import Alerting, BatchInfo, PluginContext, WriteResult
from edgetwin.core.point import format_ts, ms_to_datetime, parse_point
from edgetwin.edge.sources.dropfolder import checkpoint_path, read_texts
from edgetwin.packs.cmm.compensation import STATUS_LABELS

log = logging.getLogger("edgetwin.edge.mes")
PATH = "/api/v1/cmm/measurements"
DEFAULT_PORT = 8700


def configured_mes_url(settings: object = None, environ: Mapping[str, str] = os.environ) -> str:
    """The MES's base URL, ``{mes_url}`` in the pack's pipeline snippet: the settings'
    ``mes_url`` when they have one, else ``EDGETWIN_MES_URL``, else
    ``http://127.0.0.1:<EDGETWIN_MES_PORT or 8700>`` (the mock MES, ``edgetwin sim mes``,
    listens on this URL's port)."""
    url = getattr(settings, "mes_url", None) or environ.get("EDGETWIN_MES_URL")
    if url:
        return str(url).rstrip("/")
    return f"http://127.0.0.1:{environ.get('EDGETWIN_MES_PORT') or DEFAULT_PORT}"


NEEDED = ("measurement", "temperature", "length", "compensated_length", "deviation", "verdict",
          "device_status")  # fmt: skip


class MesSinkConfig(BaseModel):
    """``[[sinks]] type = "cmm_mes"``.

    Attributes:
        url: the MES's base URL (records go to ``{url}/api/v1/cmm/measurements``).
        line, machine: the CMM whose measurements it sends (others are not its business).
        source: the drop-folder source whose database holds the part serials.
        timeout_s: per request.
        gap_timeout_s: how long a missing measurement (its readings dropped by the buffer's
            policy, or never complete) may hold back later complete ones before it is skipped,
            logged and raised as the alert ``mes_gap``. Readings of one measurement are
            committed together, so in normal operation nothing waits more than one batch.
    """

    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(pattern=r"^https?://")]
    line: Segment = "metrology"
    machine: Segment = "cmm-01"
    source: Segment = "cmm"
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    gap_timeout_s: Annotated[float, Field(gt=0)] = 300.0


class MesSink:
    """See the module's docstring."""

    remote = True

    def __init__(
        self, name: str, config: MesSinkConfig, data_dir: Path, alerts: Alerting | None = None
    ) -> None:
        self.name = name
        self.config = config
        self.db_path = data_dir / f"{name}.mes.db"
        self.texts_db = checkpoint_path(data_dir, config.source)
        self._db: sqlite3.Connection | None = None
        self._http: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()  # one write at a time: records go out in order
        self.alerts = alerts
        self._held: tuple[int, float] | None = None  # (missing seq, since when: monotonic)
        self.counts = {"posted": 0, "duplicates": 0, "refused": 0, "skipped": 0}

    @classmethod
    def from_config(cls, name: str, config: MesSinkConfig, ctx: PluginContext) -> MesSink:
        return cls(name, config, ctx.data_dir, ctx.alerts)

    async def __aenter__(self) -> MesSink:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.db_path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS parts (ts_ms INTEGER PRIMARY KEY, fields TEXT NOT NULL,"
            " seq INTEGER);"
            "CREATE INDEX IF NOT EXISTS parts_seq ON parts (seq);"
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        )
        self._http = httpx.AsyncClient(timeout=self.config.timeout_s)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._db is not None:
            self._db.close()
            self._db = None

    def stats(self) -> dict[str, Any]:
        """What the sink reports of itself (the edge's status, ``sinks.<name>``): the MES's
        URL, records ``posted``, ``duplicates`` the MES already had, ``refused`` for good and
        ``skipped`` (never complete), and the last measurement number delivered."""
        return {
            "type": "mes",
            "url": self.config.url,
            **self.counts,
            "delivered": self.delivered if self._db is not None else None,
        }

    @property
    def delivered(self) -> int:
        """The highest measurement number the MES has (or refused)."""
        assert self._db is not None
        row = self._db.execute("SELECT value FROM meta WHERE key = 'delivered'").fetchone()
        return int(row[0]) if row else 0

    async def write(self, payloads: Sequence[bytes], info: BatchInfo) -> WriteResult:
        """Raises:
        SinkRetryableError: the MES did not answer, or answered 408, 429 or 5xx."""
        async with self._lock:
            where = self._keep(payloads)
            refused: dict[int, str] = {}
            while (part := self._next()) is not None:
                seq, fields = part
                reason = await self._post(seq, fields)
                if reason is not None:
                    self.counts["refused"] += 1
                    for i in where.get(fields["ts_ms"], []):
                        refused[i] = reason
                self._done(seq, int(fields["ts_ms"]))
            if refused:
                return WriteResult(refused=refused)
            return WriteResult(accepted=len(payloads))

    def _keep(self, payloads: Sequence[bytes]) -> dict[int, list[int]]:
        """Merge this batch's readings of the CMM into their measurements; ts_ms -> indexes."""
        db, c = self._db, self.config
        assert db is not None
        where: dict[int, list[int]] = {}
        merged: dict[int, dict[str, Any]] = {}
        for i, raw in enumerate(payloads):
            r = orjson.loads(raw)
            if r["line"] != c.line or r["machine"] != c.machine:
                continue
            ts_ms = parse_point(raw).ts_ms
            where.setdefault(ts_ms, []).append(i)  # all of a refused record's readings go aside
            if r["metric"] not in NEEDED:
                continue
            fields = merged.setdefault(ts_ms, {})
            fields[r["metric"]] = r["value"]
            if r["metric"] == "length":
                fields["key"] = r["id"]
        delivered = self.delivered
        with db:
            for ts_ms, fields in merged.items():
                row = db.execute("SELECT fields FROM parts WHERE ts_ms = ?", (ts_ms,)).fetchone()
                old = orjson.loads(row[0]) if row else {}
                both = {**old, **fields, "ts_ms": ts_ms}
                seq = both.get("measurement")
                if seq is not None and int(seq) <= delivered:
                    continue  # sent before (a batch offered again)
                db.execute(
                    "INSERT OR REPLACE INTO parts VALUES (?, ?, ?)",
                    (ts_ms, orjson.dumps(both).decode(), None if seq is None else int(seq)),
                )
        return where

    def _next(self) -> tuple[int, dict[str, Any]] | None:
        """The next measurement in order, if it is complete (see ``gap_timeout_s``)."""
        db = self._db
        assert db is not None
        while True:
            seq = self.delivered + 1
            row = db.execute("SELECT fields FROM parts WHERE seq = ?", (seq,)).fetchone()
            fields: dict[str, Any] = orjson.loads(row[0]) if row else {}
            if row is not None and all(k in fields for k in (*NEEDED, "key")):
                self._held = None
                return seq, fields
            later = db.execute("SELECT 1 FROM parts WHERE seq > ? LIMIT 1", (seq,)).fetchone()
            if later is None:
                return None  # nothing behind it: it is simply not here yet
            now = time.monotonic()
            if self._held is None or self._held[0] != seq:
                self._held = (seq, now)
            if now - self._held[1] < self.config.gap_timeout_s:
                return None
            why = f"measurement {seq} never came complete; skipped after {self.config.gap_timeout_s:.0f} s"
            log.error("%s: %s", self.name, why)
            if self.alerts is not None:
                self.alerts.raise_("mes_gap", why)
            self.counts["skipped"] += 1
            self._done(seq, int(fields.get("ts_ms", 0)))

    def _done(self, seq: int, ts_ms: int) -> None:
        """Note ``seq`` delivered; forget it, and the pieces of earlier ones a resend left."""
        db = self._db
        assert db is not None
        with db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('delivered', ?)", (seq,))
            db.execute(
                "DELETE FROM parts WHERE seq <= ? OR (seq IS NULL AND ts_ms <= ?)", (seq, ts_ms)
            )

    async def _post(self, seq: int, f: dict[str, Any]) -> str | None:
        """POST one record; None when the MES has it, the reason when it refused it for good."""
        assert self._http is not None
        texts = await asyncio.to_thread(read_texts, self.texts_db, [seq])
        record = {
            "machine_id": self.config.machine,
            "part_serial": texts.get(seq, {}).get("part_serial"),
            "measurement": seq,
            "timestamp": format_ts(ms_to_datetime(int(f["ts_ms"]))),
            "temperature_c": f["temperature"],
            "raw_length_mm": f["length"],
            "compensated_length_mm": f["compensated_length"],
            "deviation_um": f["deviation"],
            "verdict": "PASS" if f["verdict"] == 0 else "FAIL",
            "status": STATUS_LABELS.get(int(f["device_status"]), "IDLE"),
        }
        url = self.config.url.rstrip("/") + PATH
        try:
            resp = await self._http.post(url, json=record, headers={"Idempotency-Key": f["key"]})
        except httpx.HTTPError as exc:
            raise SinkRetryableError(f"MES {url} unreachable: {type(exc).__name__}") from exc
        code = resp.status_code
        if 200 <= code < 300:
            dup = code == 200 and resp.json().get("status") == "duplicate"
            self.counts["duplicates" if dup else "posted"] += 1
            return None
        if 400 <= code < 500 and code not in (408, 429):
            log.warning("MES refused measurement %d for good: %d %s", seq, code, resp.text[:200])
            return f"MES refused measurement {seq}: {code} {resp.text[:200]}"
        raise SinkRetryableError(f"MES {url} answered {code}")
