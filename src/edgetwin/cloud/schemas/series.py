"""``GET /api/v1/series``."""

from __future__ import annotations

from pydantic import Field

from edgetwin.cloud.schemas.base import Public


class SeriesBucket(Public):
    """One time bucket: its start (ISO 8601, UTC) and the readings' avg, min, max and count."""

    bucket: str
    avg: float | None = Field(description="null only if the sum overflowed (never for values"
                              " within ±1e150, the range the ingest accepts)")  # fmt: skip
    min: float | None
    max: float | None
    count: int


class Series(Public):
    """A metric of a machine in time buckets of ``bucket_seconds`` over ``[start, end)``
    (ISO 8601, UTC). ``unit`` is null when the series has no readings; empty buckets are
    left out of ``points``."""

    tenant: str
    plant: str
    line: str
    machine: str
    metric: str
    unit: str | None
    bucket_seconds: int
    start: str
    end: str
    points: list[SeriesBucket]
