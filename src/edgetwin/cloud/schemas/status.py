"""``GET /health``, ``GET /api/v1/stats`` and ``GET /api/v1/devices``."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from edgetwin.cloud.schemas.base import Public
from edgetwin.cloud.schemas.edges import EdgeAlert, EdgePublic


class LoopHealth(Public):
    """A background loop: ``running`` or ``died`` (with its ``error``); the items it failed and
    skipped (logged, counted, the loop went on) and the last of them."""

    state: Literal["running", "died"]
    error: str | None
    item_errors: int
    last_item_error: str | None


class Health(Public):
    """Liveness: the process answers, with its store's kind, the plant broker link and its
    background loops (``status`` is ``degraded`` while one of them has died)."""

    status: Literal["ok", "degraded"] = "ok"
    version: str
    store: str = Field(examples=["sqlite", "postgresql"])
    mqtt_connected: bool
    loops: dict[str, LoopHealth] = Field(default_factory=dict)


class StoreInfo(Public):
    """The store as it describes itself. Its keys depend on its kind: ``sqlite`` has ``path``;
    ``postgresql`` has ``url`` (password redacted), ``schema_version``, ``retention_days`` and
    ``rollup_retention_days``. Other keys a store adds are passed on as they are."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(examples=["sqlite", "postgresql"])


class Stats(Public):
    """The cloud's counters (readings, since the store was created), its edges and their alerts.

    Attributes:
        stored: readings stored at their first arrival; duplicates: arrivals of a reading id
            already stored; rejected: malformed readings refused with 422; historical: readings
            that arrived as backfill (``?historical=true``).
        ingest_rate_per_s: readings stored per second over the last 10 s.
        edges: every edge the cloud has heard of, by id.
        alerts: every edge's alerts (active first, newest first) and silent edges.
        uptime_s: seconds since this cloud process started.
    """

    stored: int
    duplicates: int
    rejected: int
    historical: int
    ingest_rate_per_s: float
    edges: list[EdgePublic]
    alerts: list[EdgeAlert]
    store: StoreInfo
    uptime_s: float


class DeviceMetric(Public):
    """A metric's newest value; ``ts`` is the reading's time (ISO 8601, UTC, milliseconds).
    ``label``: for an enum metric, the label the device types declare for the value's code
    (``state`` 2 -> ``FAULT``; the codes and labels are in ``/api/v1/device-types``)."""

    value: float = Field(description="a double (see the Reading schema's value)")
    label: str | None = Field(default=None, exclude_if=lambda v: v is None, examples=["RUN"])
    unit: str
    ts: str


class Device(Public):
    """A machine that has sent readings.

    Attributes:
        id: ``{plant}:{line}:{machine}``: the id ``GET /api/v1/devices/{id}`` and its
            sub-resources (``.../commands``) accept; URL-safe (``:`` is in no name). Names are
            as the readings carry them (case kept: ``STM32-MOTOR-01`` on the motor's serial
            line is published as the machine ``stm32-motor-01`` by its edge source).
        last_seen: the time of its newest reading (ISO 8601, UTC); null never happens for a
            listed device but is kept for the shape's sake.
        metrics: its metrics by name, each with its newest value.
        online: whether its newest reading is under 10 s old.
        device_type: the enabled device type that declares most of its metrics (null: none,
            or a tie); an application's key sees only devices of its types.
    """

    id: str
    tenant: str
    plant: str
    line: str
    machine: str
    last_seen: str | None
    metrics: dict[str, DeviceMetric]
    online: bool
    device_type: str | None = None
