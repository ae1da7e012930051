"""The forwarder: drains one sink's outbox into that sink, and acknowledges (deletes) readings
only once the sink answered that its target committed them. One forwarder runs per durable sink;
each reads its own outbox of the shared buffer, at its own pace.

Two lanes share the link: *live* readings (arrived since the link was last healthy) and the
*backlog* (everything that waited through an outage), sent oldest first and flagged historical.
The lanes take turns, so live data keeps flowing while a backlog drains.

Up to ``window`` batches are in flight at once, so the cloud parses and commits one batch while
the next is on the wire. Each batch is acknowledged (deleted) on its own answer, in whatever order
the answers come; when one fails, the others are let finish, and everything not yet acknowledged
is sent again. That is safe because the targets are idempotent on the reading's id (the cloud's
ingest, the MES by record id). Items the sink refuses for good are set aside as dead letters and
the rest of the batch is sent again at once; a retryable error backs off with jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from edgetwin.core.errors import BatchTooLargeError, SinkRetryableError
from edgetwin.core.plugins import BatchInfo, Sink
from edgetwin.edge.outbox import Outbox, Row

log = logging.getLogger("edgetwin.edge.forwarder")


@dataclass
class ForwarderStats:
    sent: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    failures: int = 0
    batches: int = 0
    state: str = "starting"  # ok | cut | failing
    last_error: str | None = None
    last_ok: float | None = None


class Forwarder:
    """Sends one sink's outbox to the sink; ``run()`` until cancelled.

    Args:
        outbox: the sink's view of the buffer.
        sink: the plugin that writes batches (entered and exited by ``run``).
        batch: most readings per batch; halved when the target says a batch is too large.
        window: batches in flight at once.
        max_backoff_s: ceiling of the jittered exponential backoff after failures.
        on_latency: called with the seconds each successful batch took.
    """

    def __init__(
        self,
        outbox: Outbox,
        sink: Sink,
        *,
        batch: int = 1000,
        window: int = 3,
        max_backoff_s: float = 10.0,
        on_latency: Callable[[float], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.sink = sink
        self.batch = batch
        self.window = window
        self.max_backoff_s = max_backoff_s
        self.on_latency = on_latency
        self.stats = ForwarderStats()
        self.cut = asyncio.Event()  # set while the network_outage fault holds the link down
        self.uncut = asyncio.Event()
        self.uncut.set()
        self.wake = asyncio.Event()  # set by the runtime when new readings were buffered
        self._watermark = 0  # seq <= watermark: backlog
        self._live_cursor = 0  # the highest seq handed to a live batch in flight
        self._backlog_cursor = 0  # the highest seq handed to a backlog batch in flight
        self._inflight: set[asyncio.Task[int]] = set()
        self._inflight_rows = 0  # readings handed to requests that have not answered yet
        self._backlog_turn = False

    @property
    def name(self) -> str:
        return self.outbox.name

    def set_cut(self, cut: bool) -> None:
        """Hold (``network_outage``) or release the sink's link; readings wait in the outbox."""
        if cut:
            self.cut.set()
            self.uncut.clear()
            self.stats.state = "cut"
            log.warning("%s: link cut (network_outage); readings stay in the buffer", self.name)
        else:
            self.cut.clear()
            self.uncut.set()
            self.wake.set()
            log.info("%s: link restored; draining the backlog oldest first", self.name)

    async def run(self) -> None:
        async with self.sink:
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
                    self._fill()
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
                        if not self.cut.is_set():  # batches in flight when the cut came
                            self.stats.state = "ok"
                        self.stats.last_error = None
                        self.stats.last_ok = time.time()
                        continue
                    await self._settle()  # let the other batches finish: fewer resends
                    exc = errors[0]
                    if not isinstance(exc, SinkRetryableError):
                        raise exc
                    self.stats.failures += 1
                    if not self.cut.is_set():
                        self.stats.state = "failing"
                    self.stats.last_error = str(exc)
                    self._restart_lanes()
                    if getattr(exc, "retry_now", False):  # e.g. the next ingest worker
                        log.warning("%s: %s", self.name, exc)
                        continue
                    delay = backoff * random.uniform(0.5, 1.5)
                    log.warning("%s: %s; retrying in %.1f s", self.name, exc, delay)
                    await self._sleep_or_cut(delay)
                    backoff = min(backoff * 2, self.max_backoff_s)
            finally:
                for task in self._inflight:
                    task.cancel()

    def _restart_lanes(self) -> None:
        """Whatever is still buffered becomes backlog, read again from its oldest reading."""
        self._watermark = self.outbox.max_seq()
        self._live_cursor = self._watermark
        self._backlog_cursor = 0

    def _fill(self) -> None:
        """Start batches until ``window`` are in flight, the lanes taking turns."""
        while len(self._inflight) < self.window:
            rows, historical = self._next_batch()
            if not rows:
                return
            task = asyncio.create_task(self._send(rows, historical=historical))
            self._inflight.add(task)

    def _next_batch(self) -> tuple[list[Row], bool]:
        for _ in range(2):
            self._backlog_turn = not self._backlog_turn
            if self._backlog_turn:
                rows = self.outbox.between(self._backlog_cursor, self._watermark, self.batch)
                if rows:
                    self._backlog_cursor = rows[-1].seq
                    return rows, True
            else:
                rows = self.outbox.after(self._live_cursor, self.batch)
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

    async def _send(self, rows: list[Row], *, historical: bool) -> int:
        self._inflight_rows += len(rows)
        try:
            return await self._write(rows, historical=historical)
        finally:
            self._inflight_rows -= len(rows)

    async def _write(self, rows: list[Row], *, historical: bool) -> int:
        oldest = self.outbox.oldest_at_ms()  # one indexed lookup: this is the hot path
        # What waits behind this batch once it commits, not the readings on their way
        # (counting those, a steady stream never showed an empty buffer).
        info = BatchInfo(
            historical=historical,
            waiting=max(0, self.outbox.depth - self._inflight_rows),
            oldest_age_s=None if oldest is None else round(time.time() - oldest / 1000, 1),
        )
        started = time.perf_counter()
        try:
            result = await self.sink.write([r.payload for r in rows], info)
        except BatchTooLargeError as exc:
            if len(rows) > 1:
                # Half of what was refused (several batches in flight all answer at once).
                self.batch = max(1, min(self.batch, len(rows) // 2))
                raise SinkRetryableError(f"{exc}; batch size lowered to {self.batch}") from exc
            raise
        if result.refused:
            # The target stored none of the batch: set the refused items aside and send the
            # rest now, in this slot (the lane's cursor has moved past them).
            rest = self._dead_letter(rows, result.refused)
            moved = len(rows) - len(rest)
            return moved + (await self._write(rest, historical=historical) if rest else 0)
        self.outbox.ack(rows)
        self.stats.sent += result.accepted
        self.stats.duplicates += result.duplicate
        self.stats.batches += 1
        if self.on_latency is not None:
            self.on_latency(time.perf_counter() - started)
        return len(rows)

    def _dead_letter(self, rows: list[Row], refused: dict[int, str]) -> list[Row]:
        """Set aside the refused items; return the others, to send again."""
        rejected = [(rows[i], reason) for i, reason in refused.items() if 0 <= i < len(rows)]
        if not rejected:
            raise SinkRetryableError(f"{self.name} refused items outside the batch: {refused}")
        self.outbox.dead_letter(rejected, int(time.time() * 1000))
        self.stats.dead_lettered += len(rejected)
        log.error(
            "%s refused %d reading(s) as malformed; moved to dead_letters", self.name, len(rejected)
        )
        return [r for i, r in enumerate(rows) if i not in refused]
