"""The edge's health as one typed model: built by the edge from each plugin's stats, published
retained on ``v1/{tenant}/{plant}/status/{edge_id}``, served to Prometheus by the edge and read
back by the cloud (``/api/v1/stats``, the dashboard). One model, so no reader depends on keys
spelled by hand elsewhere.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

UplinkState = Literal["starting", "ok", "cut", "failing", "unknown"]


class Alert(BaseModel):
    """An alert of the edge; listed for an hour after it clears.

    ``since`` and ``cleared`` are UNIX seconds.
    """

    model_config = ConfigDict(extra="ignore")

    kind: str
    message: str
    since: float
    active: bool
    cleared: float | None = None


class SinkStatus(BaseModel):
    """One durable sink's outbox and delivery counters.

    Attributes:
        depth: readings waiting for this sink; bytes: their size in the buffer.
        oldest_age_s: how long the oldest of them has waited (seconds).
        runway_s: time until the buffer is full at the current inflow if this sink took none.
        state: ok | cut (network_outage) | failing | starting.
        sent: items the target confirmed; duplicates: items it already had;
        dead_lettered: items refused for good and set aside; failures: failed attempts.
        dropped: readings this sink lost to the buffer's policy, by reason.
        stats: what the sink plugin reports of itself (its optional ``stats()``), e.g. an
            OPC UA server's ``clients`` and ``subscriptions``, an MES sink's records posted.
    """

    model_config = ConfigDict(extra="ignore")

    depth: int = 0
    bytes: int = 0
    oldest_age_s: float | None = None
    runway_s: float | None = None
    state: UplinkState = "starting"
    last_error: str | None = None
    sent: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    failures: int = 0
    dropped: dict[str, int] = Field(default_factory=dict)
    stats: dict[str, Any] = Field(default_factory=dict)


class EdgeStatus(BaseModel):
    """Everything an edge reports about itself (times in UNIX seconds, sizes in bytes).

    The top-level buffer fields describe the whole buffer; ``sinks`` has one entry per durable
    sink (its own outbox); ``uplink`` is the state of the first remote sink (the cloud).
    """

    model_config = ConfigDict(extra="ignore")

    edge_id: str
    online: bool = True
    ts: float | None = None
    buffer_depth: int = 0
    buffer_bytes: int = 0
    buffer_file_bytes: int = 0
    buffer_max_bytes: int = 0
    buffer_fill: float = 0.0
    buffer_state: str = "ok"
    buffer_policy: str = "drop_oldest"
    oldest_age_s: float | None = None
    runway_s: float | None = None
    dropped: dict[str, int] = Field(default_factory=dict)
    dead_letters: int = 0
    uplink: UplinkState = "unknown"
    uplink_error: str | None = None
    uplink_failures: int = 0
    received: int = 0
    buffered: int = 0
    accepted_total: int = 0
    redelivered: int = 0
    rejected: dict[str, int] = Field(default_factory=dict)
    sent: int = 0
    cloud_duplicates: int = 0
    alerts: list[Alert] = Field(default_factory=list)
    sinks: dict[str, SinkStatus] = Field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    commands: dict[str, int] = Field(default_factory=dict)
