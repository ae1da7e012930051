"""The cloud's view of an edge, as ``/api/v1/stats`` shows it in ``edges[]`` and ``alerts[]``."""

from __future__ import annotations

from pydantic import Field

from edgetwin.cloud.schemas.base import Public, iso_seconds
from edgetwin.core.status import Alert, SinkStatus, UplinkState


class AlertPublic(Public):
    """An edge's alert as the API and the live stream show it: ``since`` (when it was raised)
    and ``cleared`` (null while active) in ISO 8601 UTC; listed for an hour after it clears."""

    kind: str
    message: str
    since: str = Field(examples=["2026-01-15T10:30:00.123Z"])
    active: bool
    cleared: str | None = None

    @classmethod
    def of(cls, alert: Alert) -> AlertPublic:
        """The public view of an edge's :class:`~edgetwin.core.status.Alert` (UNIX seconds)."""
        return cls(
            kind=alert.kind,
            message=alert.message,
            since=iso_seconds(alert.since),
            active=alert.active,
            cleared=None if alert.cleared is None else iso_seconds(alert.cleared),
        )


class EdgePublic(Public):
    """An edge's last report (status topic or ingest headers), with its liveness.

    Fields that only the status topic carries are null for an edge heard of only through ingest
    headers. Ages are seconds, sizes bytes; alerts' times are ISO 8601 UTC. ``reported_at``
    is the edge's own time of its last status report, ISO 8601 UTC like every time.

    Attributes:
        buffer_depth: readings in its buffer; oldest_age_s: age of the oldest of them.
        uplink: the state of its link to the cloud.
        online: it said so, and its last report is under 15 s old.
        last_report_age_s: seconds since the cloud heard from it (null: never).
        reported_at: the edge's own time of its last status report.
        buffer_fill: buffer bytes / its byte limit (0..1); buffer_state: ok | high | full;
            buffer_policy: what a full buffer does (drop_oldest | ...).
        runway_s: time until the buffer is full at the current inflow.
        dropped: readings lost to the buffer's policy, by reason; rejected: readings refused
            at intake, by reason.
        received, buffered, accepted_total, redelivered, sent: its pipeline counters.
        dead_letters: items set aside as refused for good.
        alerts: its alerts, listed for an hour after they clear.
        sinks: each durable sink's own outbox (depth, oldest age, runway, counters), by name.
    """

    edge_id: str
    tenant: str | None = None
    plant: str | None = None
    buffer_depth: int
    oldest_age_s: float | None
    uplink: UplinkState
    online: bool
    last_report_age_s: float | None
    reported_at: str | None
    buffer_bytes: int | None
    buffer_fill: float | None
    buffer_state: str | None
    buffer_policy: str | None
    runway_s: float | None
    dropped: dict[str, int]
    rejected: dict[str, int]
    received: int | None
    buffered: int | None
    accepted_total: int | None
    redelivered: int | None
    sent: int | None
    dead_letters: int
    alerts: list[AlertPublic]
    sinks: dict[str, SinkStatus] = Field(default_factory=dict)


class EdgeAlert(AlertPublic):
    """An edge's alert in the cloud's list, with its ``source`` (``edge:{edge_id}``). Besides the
    edge's own alerts, the cloud raises ``edge_silent`` for an edge not heard from for 15 s."""

    source: str = Field(examples=["edge:edge-01"])
