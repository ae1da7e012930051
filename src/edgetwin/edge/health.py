"""The edge's health: counters, the buffer's runway and alerts, folded into one
:class:`~edgetwin.core.status.EdgeStatus`.

The runway is how long the buffer can take the current inflow (bytes per second over the last
minute) before its policy starts dropping: ``(max_bytes - bytes) / inflow``, capped by the age
limit. Alerts: ``buffer_high`` at 80 % full, ``buffer_full`` from the first drop until the buffer
is below half full with its sinks delivering.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from edgetwin.core.status import Alert, EdgeStatus, SinkStatus
from edgetwin.edge.alerts import Alerts
from edgetwin.edge.buffer import SqliteBuffer

if TYPE_CHECKING:
    from edgetwin.edge.forwarder import Forwarder

log = logging.getLogger("edgetwin.edge")

RUNWAY_WINDOW_S = 60.0


class Health:
    """Counts what went through the edge and builds its status."""

    def __init__(self, buffer: SqliteBuffer, alerts: Alerts) -> None:
        self.buffer = buffer
        self.alerts = alerts
        self.forwarders: Sequence[Forwarder] = ()
        self.received = 0
        self.buffered = 0
        self.redelivered = 0
        self._rate: list[tuple[float, int]] = []  # (monotonic time, bytes buffered)
        self._last_drop_log = 0.0

    def inflow(self, nbytes: int) -> None:
        self._rate.append((time.monotonic(), nbytes))

    def runway_s(self) -> float | None:
        """Seconds until the buffer is full at the current inflow; None when nothing flows."""
        now = time.monotonic()
        self._rate = [(t, b) for t, b in self._rate if now - t <= RUNWAY_WINDOW_S]
        if not self._rate:
            return None
        span = max(now - self._rate[0][0], 1.0)
        rate = sum(b for _t, b in self._rate) / span
        if rate <= 0:
            return None
        room = max(self.buffer.limits.max_bytes - self.buffer.bytes, 0)
        return round(min(room / rate, self.buffer.limits.max_age_s), 1)

    def on_dropped(self) -> None:
        """The policy dropped readings: raise ``buffer_full`` and log (at most every 5 s)."""
        totals = self.buffer.dropped
        reasons = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in totals.items())
        policy = self.buffer.limits.policy
        self.alerts.raise_(
            "buffer_full",
            f"buffer full, policy {policy.replace('_', ' ')}: "
            f"{sum(totals.values())} reading(s) dropped ({reasons})",
        )
        now = time.monotonic()
        if now - self._last_drop_log > 5.0:
            self._last_drop_log = now
            log.error("buffer full: dropping by policy %s; dropped so far %s", policy, totals)

    def on_expired(self) -> None:
        """Readings outlived the age limit in the buffer: every policy drop raises an alert."""
        n = self.buffer.dropped.get("expired", 0)
        age_h = self.buffer.limits.max_age_s / 3600
        self.alerts.raise_(
            "buffer_expired",
            f"{n} reading(s) dropped after {age_h:g} h in the buffer (max_age_s); the sinks"
            " did not deliver them in time",
        )

    def status(
        self,
        *,
        edge_id: str,
        sources: dict[str, dict[str, Any]],
        rejected: dict[str, int],
        commands: dict[str, int],
    ) -> EdgeStatus:
        stats = self.buffer.stats()
        if stats.state in ("high", "full"):
            self.alerts.raise_(
                "buffer_high", f"buffer {stats.fill_ratio:.0%} full ({stats.bytes} bytes)"
            )
        else:
            self.alerts.clear("buffer_high")
            delivering = all(not f.cut.is_set() for f in self.forwarders)
            if delivering and stats.fill_ratio < 0.5:
                self.alerts.clear("buffer_full")
        now = time.time()
        runway = self.runway_s()
        sinks = {f.name: self._sink(f, now, runway) for f in self.forwarders}
        first = next((f for f in self.forwarders if getattr(f.sink, "remote", False)), None)
        if first is None and self.forwarders:
            first = self.forwarders[0]
        up = first.stats if first is not None else None
        return EdgeStatus(
            edge_id=edge_id,
            online=True,
            ts=now,
            buffer_depth=stats.depth,
            buffer_bytes=stats.bytes,
            buffer_file_bytes=stats.file_bytes,
            buffer_max_bytes=self.buffer.limits.max_bytes,
            buffer_fill=stats.fill_ratio,
            buffer_state=stats.state,
            buffer_policy=self.buffer.limits.policy,
            oldest_age_s=None
            if stats.oldest_at_ms is None
            else round(now - stats.oldest_at_ms / 1000, 1),
            runway_s=runway,
            dropped=stats.dropped,
            dead_letters=stats.dead_letters,
            uplink="unknown" if first is None else _state(first),
            uplink_error=None if up is None else up.last_error,
            uplink_failures=0 if up is None else up.failures,
            received=self.received,
            buffered=self.buffered,
            accepted_total=self.buffer.totals.get("accepted", 0),
            redelivered=self.redelivered,
            rejected=rejected,
            sent=0 if up is None else up.sent,
            cloud_duplicates=0 if up is None else up.duplicates,
            alerts=[Alert.model_validate(a) for a in self.alerts.listed()],
            sinks=sinks,
            sources=sources,
            commands=commands,
        )

    def _sink(self, fwd: Forwarder, now: float, runway: float | None) -> SinkStatus:
        box = fwd.outbox
        oldest = box.oldest_at_ms() if box.depth else None
        return SinkStatus(
            depth=box.depth,
            bytes=self.buffer.sink_bytes(box.name),
            oldest_age_s=None if oldest is None else round(now - oldest / 1000, 1),
            runway_s=runway if box.depth else None,
            state=_state(fwd),
            last_error=fwd.stats.last_error,
            sent=fwd.stats.sent,
            duplicates=fwd.stats.duplicates,
            dead_lettered=fwd.stats.dead_lettered,
            failures=fwd.stats.failures,
            dropped=self.buffer.sink_dropped(box.name),
            stats=_plugin_stats(fwd.sink),
        )


def _plugin_stats(sink: object) -> dict[str, Any]:
    """What a sink reports of itself: its ``stats()`` when it has one (optional)."""
    report = getattr(sink, "stats", None)
    if not callable(report):
        return {}
    try:
        got = report()
    except Exception:
        log.exception("sink %s: stats() failed", getattr(sink, "name", "?"))
        return {}
    return dict(got) if isinstance(got, dict) else {}


def _state(fwd: Forwarder) -> Any:
    return "cut" if fwd.cut.is_set() else fwd.stats.state
