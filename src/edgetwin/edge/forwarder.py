"""The uplink: sends buffered readings to the cloud, and deletes them only once the cloud
answered that its store committed them.

Two lanes share the link: *live* readings (arrived since the link was last healthy) and the
*backlog* (everything that waited through an outage), sent oldest first and flagged historical.
The lanes take turns, so live data keeps flowing while a backlog drains.

Up to ``window`` batches are in flight at once, so the cloud parses and commits one batch while
the next is on the wire. Each batch is acknowledged (deleted) on its own answer, in whatever order
the answers come; when one fails, the others are let finish, and everything not yet acknowledged
is sent again. That is safe because ingest is idempotent on the reading's id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
import orjson

from edgetwin.edge.buffer import Row, SqliteBuffer

log = logging.getLogger("edgetwin.edge.uplink")


@dataclass
class UplinkStats:
    sent: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    failures: int = 0
    batches: int = 0
    state: str = "starting"  # ok | cut | failing
    last_error: str | None = None
    last_ok: float | None = None


class SendError(Exception):
    """A batch did not reach a committed store; it stays in the buffer."""


class Uplink:
    def __init__(
        self,
        buffer: SqliteBuffer,
        cloud_url: str | Sequence[str],
        edge_id: str,
        *,
        batch: int = 1000,
        window: int = 3,
        timeout_s: float = 5.0,
        max_backoff_s: float = 10.0,
        on_latency: Callable[[float], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.buffer = buffer
        bases = [cloud_url] if isinstance(cloud_url, str) else list(cloud_url)
        self.urls = [f"{base}/api/v1/ingest" for base in bases]  # ingest workers, in turn
        self._worker = 0
        self._failed_in_turn = 0  # failures since the last success: a whole round backs off
        self.edge_id = edge_id
        self.batch = batch
        self.window = window
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self.on_latency = on_latency
        self.transport = transport  # None: the network
        self.stats = UplinkStats()
        self.cut = asyncio.Event()  # set while the network_outage fault holds the link down
        self.uncut = asyncio.Event()
        self.uncut.set()
        self.wake = asyncio.Event()  # set by the source when new readings were buffered
        self._watermark = 0  # seq <= watermark: backlog
        self._live_cursor = 0  # the highest seq handed to a live batch in flight
        self._backlog_cursor = 0  # the highest seq handed to a backlog batch in flight
        self._inflight: set[asyncio.Task[int]] = set()
        self._inflight_rows = 0  # readings handed to requests that have not answered yet
        self._backlog_turn = False

    def set_cut(self, cut: bool) -> None:
        if cut:
            self.cut.set()
            self.uncut.clear()
            self.stats.state = "cut"
            log.warning("uplink cut (network_outage); readings stay in the buffer")
        else:
            self.cut.clear()
            self.uncut.set()
            self.wake.set()
            log.info("uplink restored; draining the backlog oldest first")

    async def run(self) -> None:
        limits = httpx.Limits(
            max_connections=self.window + 1, max_keepalive_connections=self.window + 1
        )
        async with httpx.AsyncClient(
            timeout=self.timeout_s, limits=limits, transport=self.transport
        ) as http:
            self._restart_lanes()  # whatever a previous run left is backlog
            backoff = min(0.5, self.max_backoff_s)
            try:
                while True:
                    if self.cut.is_set():
                        await self._settle()
                        await self._wait_uncut()
                        # Everything buffered during the outage is backlog: sent oldest first,
                        # flagged historical, alternating with what arrives from now on.
                        self._restart_lanes()
                        continue
                    self._fill(http)
                    if not self._inflight:
                        if not self.cut.is_set():
                            self.stats.state = "ok"
                        self.wake.clear()
                        await self._sleep_or_wake(0.5)
                        continue
                    done, _ = await asyncio.wait(
                        self._inflight, return_when=asyncio.FIRST_COMPLETED
                    )
                    self._inflight -= done
                    errors = [e for t in done if (e := t.exception()) is not None]
                    if not errors:
                        backoff = min(0.5, self.max_backoff_s)
                        self._failed_in_turn = 0
                        if not self.cut.is_set():  # batches in flight when the cut came
                            self.stats.state = "ok"
                        self.stats.last_error = None
                        self.stats.last_ok = time.time()
                        continue
                    await self._settle()  # let the other batches finish: fewer resends
                    exc = errors[0]
                    if not isinstance(exc, SendError):
                        raise exc
                    self.stats.failures += 1
                    if not self.cut.is_set():
                        self.stats.state = "failing"
                    self.stats.last_error = str(exc)
                    self._restart_lanes()
                    if len(self.urls) > 1:  # the next ingest worker; wait only after a round
                        self._worker = (self._worker + 1) % len(self.urls)
                        self._failed_in_turn += 1
                        if self._failed_in_turn % len(self.urls):
                            log.warning("uplink: %s; trying %s", exc, self.url)
                            continue
                    delay = backoff * random.uniform(0.5, 1.5)
                    log.warning("uplink: %s; retrying in %.1f s", exc, delay)
                    await self._sleep_or_cut(delay)
                    backoff = min(backoff * 2, self.max_backoff_s)
            finally:
                for task in self._inflight:
                    task.cancel()

    @property
    def url(self) -> str:
        """The ingest endpoint batches go to now."""
        return self.urls[self._worker]

    def _restart_lanes(self) -> None:
        """Whatever is still buffered becomes backlog, read again from its oldest reading."""
        self._watermark = self.buffer.max_seq()
        self._live_cursor = self._watermark
        self._backlog_cursor = 0

    def _fill(self, http: httpx.AsyncClient) -> None:
        """Start batches until ``window`` are in flight, the lanes taking turns."""
        while len(self._inflight) < self.window:
            rows, historical = self._next_batch()
            if not rows:
                return
            task = asyncio.create_task(self._send(http, rows, historical=historical))
            self._inflight.add(task)

    def _next_batch(self) -> tuple[list[Row], bool]:
        for _ in range(2):
            self._backlog_turn = not self._backlog_turn
            if self._backlog_turn:
                rows = self.buffer.between(self._backlog_cursor, self._watermark, self.batch)
                if rows:
                    self._backlog_cursor = rows[-1].seq
                    return rows, True
            else:
                rows = self.buffer.after(self._live_cursor, self.batch)
                if rows:
                    self._live_cursor = rows[-1].seq
                    return rows, False
        return [], False

    async def _settle(self) -> None:
        """Wait for the batches in flight; their failures are left to the next round's resend."""
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
            self._inflight.clear()

    async def _wait_uncut(self) -> None:
        await self.uncut.wait()

    async def _sleep_or_cut(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.cut.wait(), delay)

    async def _sleep_or_wake(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), delay)

    async def _send(self, http: httpx.AsyncClient, rows: list[Row], *, historical: bool) -> int:
        self._inflight_rows += len(rows)
        try:
            return await self._post(http, rows, historical=historical)
        finally:
            self._inflight_rows -= len(rows)

    async def _post(self, http: httpx.AsyncClient, rows: list[Row], *, historical: bool) -> int:
        body = b"[" + b",".join(r.payload for r in rows) + b"]"
        oldest = self.buffer.oldest_ts_ms()  # one indexed lookup: this is the hot path
        age = "" if oldest is None else f"{time.time() - oldest / 1000:.1f}"
        # The depth the cloud shows once this request commits: what waits behind it, not the
        # readings on their way (counting those, a steady stream never showed an empty buffer).
        waiting = max(0, self.buffer.depth - self._inflight_rows)
        headers = {
            "content-type": "application/json",
            "x-edgetwin-edge": self.edge_id,
            "x-edgetwin-buffer-depth": str(waiting),
            "x-edgetwin-buffer-oldest-age-s": age,
        }
        started = time.perf_counter()
        try:
            resp = await http.post(
                self.url,
                content=body,
                headers=headers,
                params={"historical": str(historical).lower()},
            )
        except httpx.HTTPError as exc:
            raise SendError(
                f"cloud unreachable at {self.url}: {type(exc).__name__}: {exc}"
            ) from exc
        if resp.status_code == 200:
            result = orjson.loads(resp.content)
            self.buffer.ack(rows)
            self.stats.sent += int(result.get("accepted", 0))
            self.stats.duplicates += int(result.get("duplicate", 0))
            self.stats.batches += 1
            elapsed = time.perf_counter() - started
            if self.on_latency is not None:
                self.on_latency(elapsed)
            return len(rows)
        if resp.status_code == 413 and len(rows) > 1:
            # Half of what was refused (several batches in flight all answer 413 at once).
            self.batch = max(1, min(self.batch, len(rows) // 2))
            raise SendError(f"cloud said 413 (too large); batch size lowered to {self.batch}")
        if resp.status_code == 422:
            # The cloud stored none of the batch: set the bad items aside and send the rest
            # now, in this slot (the lane's cursor has moved past them).
            rest = self._dead_letter(rows, resp)
            moved = len(rows) - len(rest)
            return moved + (await self._post(http, rest, historical=historical) if rest else 0)
        raise SendError(f"cloud answered {resp.status_code}: {resp.text[:200]}")

    def _dead_letter(self, rows: list[Row], resp: httpx.Response) -> list[Row]:
        """Set aside the items the cloud named as malformed; return the others, to send again.
        A 422 that names none of the items is a failure (the whole batch is retried later)."""
        try:
            problems = orjson.loads(resp.content)["detail"]["problems"]
            bad = {int(p["index"]): "; ".join(p["errors"]) for p in problems}
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise SendError(f"cloud answered 422 without item reasons: {resp.text[:200]}") from exc
        rejected = [(rows[i], reason) for i, reason in bad.items() if 0 <= i < len(rows)]
        if not rejected:
            raise SendError(f"cloud answered 422 naming no item of the batch: {resp.text[:200]}")
        self.buffer.dead_letter(rejected, int(time.time() * 1000))
        self.stats.dead_lettered += len(rejected)
        log.error("cloud refused %d reading(s) as malformed; moved to dead_letters", len(rejected))
        return [r for i, r in enumerate(rows) if i not in bad]
