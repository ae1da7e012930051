"""What the cloud knows about each edge: its last reported status and a history of its buffer
depth. Edges report through ingest request headers and, where the cloud shares the plant's
broker, through their retained status topic (which keeps working while the data uplink is cut).

An edge that cannot reach its broker cannot publish its status either; it sends the reason with
each batch instead (``x-edgetwin-broker-link``), and the cloud lists it as that edge's
``broker_link`` alert, beside the alerts of its last status report.

A status report is validated as :class:`edgetwin.core.status.EdgeStatus` (keys the model does not
know are ignored, so an edge newer than its cloud still reports); one that does not validate is
logged and ignored. The public view (``/api/v1/stats`` ``edges[]``) is
:class:`edgetwin.cloud.schemas.edges.EdgePublic`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from edgetwin.cloud.schemas.base import iso_seconds
from edgetwin.cloud.schemas.edges import AlertPublic, EdgeAlert, EdgePublic
from edgetwin.core.status import EdgeStatus, UplinkState

log = logging.getLogger("edgetwin.cloud.edges")

Visible = Callable[[str], bool]
"""Whether a caller may see objects of a tenant (``Caller.may_see``)."""

SILENT_AFTER_S: Final = 15.0  # an edge reports every 2 s; this long without a word, it is silent
BROKER_LINK_HEADER: Final = "x-edgetwin-broker-link"
MAX_HEADER_MESSAGE: Final = 500


@dataclass
class EdgeState:
    """One edge: the fields that either kind of report updates, and its last status report."""

    edge_id: str
    tenant: str | None = None  # from its credential or its status topic; None: not known yet
    plant: str | None = None
    buffer_depth: int = 0
    oldest_age_s: float | None = None
    uplink: UplinkState = "unknown"
    online: bool = True
    last_report: float = 0.0
    status: EdgeStatus | None = None
    history: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=1800))
    broker_link: str | None = None  # why the edge cannot reach its broker, from its batches
    broker_link_since: float = 0.0

    def header_alert(self) -> AlertPublic | None:
        """The broker-link error the edge sent with its batches, as an alert; None when it sent
        none, or when its last status report (newer than the error) already lists one."""
        if self.broker_link is None:
            return None
        s = self.status
        if s is not None and any(a.kind == "broker_link" and a.active for a in s.alerts):
            return None
        return AlertPublic(
            kind="broker_link",
            message=f"{self.broker_link} (sent with the edge's readings: its status reports"
            " go through that broker)",
            since=iso_seconds(self.broker_link_since),
            active=True,
        )

    def record(self, now: float) -> None:
        """One sample per second: later reports in the same second update its value. (Moving the
        sample's time instead would keep a busy edge, reporting every 100 ms, at one sample.)"""
        if self.history and int(now) == int(self.history[-1][0]):
            self.history[-1] = (self.history[-1][0], self.buffer_depth)
        else:
            self.history.append((now, self.buffer_depth))

    def silent(self, now: float) -> bool:
        return now - self.last_report >= SILENT_AFTER_S

    def view(self, now: float) -> EdgePublic:
        """The edge as ``/api/v1/stats`` shows it; status-only fields are None without one."""
        s = self.status
        return EdgePublic(
            edge_id=self.edge_id,
            buffer_depth=self.buffer_depth,
            oldest_age_s=self.oldest_age_s,
            uplink=self.uplink,
            online=self.online and not self.silent(now),
            last_report_age_s=round(now - self.last_report, 1) if self.last_report else None,
            tenant=self.tenant,
            plant=self.plant,
            reported_at=None if s is None or s.ts is None else iso_seconds(s.ts),
            buffer_bytes=None if s is None else s.buffer_bytes,
            buffer_fill=None if s is None else s.buffer_fill,
            buffer_state=None if s is None else s.buffer_state,
            buffer_policy=None if s is None else s.buffer_policy,
            runway_s=None if s is None else s.runway_s,
            dropped={} if s is None else s.dropped,
            rejected={} if s is None else s.rejected,
            received=None if s is None else s.received,
            buffered=None if s is None else s.buffered,
            accepted_total=None if s is None else s.accepted_total,
            redelivered=None if s is None else s.redelivered,
            sent=None if s is None else s.sent,
            dead_letters=0 if s is None else s.dead_letters,
            alerts=([] if s is None else [AlertPublic.of(a) for a in s.alerts])
            + ([] if (h := self.header_alert()) is None else [h]),
            sinks={} if s is None else s.sinks,
        )

    def public(self, now: float) -> dict[str, Any]:
        """:meth:`view` as a dict (the shape services and metrics read)."""
        return self.view(now).model_dump()


class EdgeRegistry:
    """Every edge the cloud has heard of, by id. Called on the event loop's thread."""

    def __init__(self) -> None:
        self.edges: dict[str, EdgeState] = {}
        self._invalid: dict[str, str] = {}  # edge id -> the last invalid report's error

    def _get(self, edge_id: str, tenant: str | None, plant: str | None) -> EdgeState:
        state = self.edges.get(edge_id)
        if state is None:
            state = self.edges[edge_id] = EdgeState(edge_id)
        if tenant is not None:
            state.tenant, state.plant = tenant, plant
        return state

    def from_headers(
        self,
        edge_id: str,
        depth: str | None,
        oldest_age: str | None,
        broker_link: str | None = None,
        *,
        tenant: str | None = None,
        plant: str | None = None,
    ) -> None:
        """An ingest request's ``x-edgetwin-*`` headers: the buffer's depth (readings), its
        oldest reading's age (seconds) and, while the edge cannot reach its broker, why
        (``x-edgetwin-broker-link``; a batch without it says the link is fine). Values that are
        not numbers are ignored."""
        now = time.time()
        state = self._get(edge_id, tenant, plant)
        try:
            state.buffer_depth = int(depth) if depth else state.buffer_depth
            state.oldest_age_s = float(oldest_age) if oldest_age else None
        except ValueError:
            return
        if broker_link:
            if state.broker_link is None:
                state.broker_link_since = now
                log.warning("edge %s cannot reach its broker: %s", edge_id, broker_link)
            state.broker_link = broker_link[:MAX_HEADER_MESSAGE]
        elif state.broker_link is not None:
            log.info("edge %s reaches its broker again", edge_id)
            state.broker_link = None
        state.uplink = "ok"
        state.online = True
        state.last_report = now
        state.record(now)

    def from_status(
        self, report: Mapping[str, Any], tenant: str | None = None, plant: str | None = None
    ) -> None:
        """An edge's status report (its retained status topic). Ignored without a string
        ``edge_id``, when it does not validate as :class:`EdgeStatus` (logged once per distinct
        error), and when it is older than the one held (a retained report a restarted broker
        restored)."""
        edge_id = report.get("edge_id")
        if not isinstance(edge_id, str):
            return
        try:
            status = EdgeStatus.model_validate(report)
        except ValidationError as exc:
            error = str(exc)
            if self._invalid.get(edge_id) != error:
                self._invalid[edge_id] = error
                log.warning("status report of %s ignored: %s", edge_id, error)
            return
        self._invalid.pop(edge_id, None)
        now = time.time()
        state = self._get(edge_id, tenant, plant)
        held = None if state.status is None else state.status.ts
        if status.ts is not None and held is not None and status.ts < held:
            return
        state.buffer_depth = status.buffer_depth
        state.oldest_age_s = status.oldest_age_s
        state.uplink = status.uplink
        state.online = status.online
        state.last_report = now
        state.status = status
        state.record(now)

    def _visible(self, sees: Visible | None) -> list[EdgeState]:
        found = sorted(self.edges.values(), key=lambda e: e.edge_id)
        if sees is None:
            return found
        return [e for e in found if sees(e.tenant or "*")]

    def views(self, sees: Visible | None = None) -> list[EdgePublic]:
        """The public view of every edge ``sees`` lets through (by its tenant; an edge whose
        tenant is not known yet counts as tenant ``*``), by id."""
        now = time.time()
        return [e.view(now) for e in self._visible(sees)]

    def public(self, sees: Visible | None = None) -> list[dict[str, Any]]:
        """:meth:`views` as dicts."""
        return [v.model_dump() for v in self.views(sees)]

    def alert_list(self, sees: Visible | None = None) -> list[EdgeAlert]:
        """Every edge's alerts (active and recently cleared), tagged with the edge, and an
        ``edge_silent`` alert for each edge that reported a status once and then fell silent;
        active ones first, then newest first."""
        now = time.time()
        out: list[EdgeAlert] = []
        for e in self._visible(sees):
            source = f"edge:{e.edge_id}"
            header = e.header_alert()
            if header is not None:
                out.append(EdgeAlert(**header.model_dump(), source=source))
            if e.status is None:  # heard of only through ingest headers: no silence
                continue
            out.extend(
                EdgeAlert(**AlertPublic.of(a).model_dump(), source=source) for a in e.status.alerts
            )
            if now - e.last_report > SILENT_AFTER_S:
                out.append(
                    EdgeAlert(
                        kind="edge_silent",
                        source=source,
                        active=True,
                        message=f"no report from {e.edge_id} for {now - e.last_report:.0f} s",
                        since=iso_seconds(e.last_report),
                        cleared=None,
                    )
                )
        # newest first (ISO times of one format sort as the instants do), then active first
        out.sort(key=lambda a: a.since, reverse=True)
        return sorted(out, key=lambda a: not a.active)

    def alerts(self, sees: Visible | None = None) -> list[dict[str, Any]]:
        """:meth:`alert_list` as dicts."""
        return [a.model_dump() for a in self.alert_list(sees)]
