"""The reading: one value of one metric of one machine at one instant.

Wire format (JSON, as the smart-factory reference sends it)::

    {"ts": "2026-01-15T10:30:00.123Z", "id": "<uuid>", "tenant": "acme", "plant": "plant-01",
     "line": "line-01", "machine": "cnc-01", "metric": "temp", "value": 47.5, "unit": "°C", "q": 100}
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from edgetwin.core.errors import WireFormatError
from edgetwin.core.ids import Segment

# Every constraint below runs inside pydantic-core: a Python validator per field costs about a
# third of the validation time, which the edge and the cloud pay for every reading.

# A JSON number (an integer is fine); not a boolean, not a numeric string, not NaN or infinity.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]

# Any UTC offset is accepted and kept: the instant is what counts (``ts_ms``), and the wire and
# the store write it in UTC.
Timestamp = Annotated[
    AwareDatetime,
    Field(ge=datetime(2000, 1, 1, tzinfo=UTC), lt=datetime(2201, 1, 1, tzinfo=UTC)),
]


class Point(BaseModel):
    """One reading. Immutable; the same type on the wire, in the buffer and in the store."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    ts: Timestamp
    id: uuid.UUID
    tenant: Segment
    plant: Segment
    line: Segment
    machine: Segment
    metric: Segment
    value: Number
    unit: Annotated[str, Field(max_length=16)] = ""
    q: Annotated[int, Field(ge=0, le=100)] = 100

    @classmethod
    def make(
        cls,
        *,
        ts: datetime,
        tenant: str,
        plant: str,
        line: str,
        machine: str,
        metric: str,
        value: float,
        unit: str,
        q: int = 100,
        id: uuid.UUID | None = None,
    ) -> Point:
        """Build a reading from trusted code (simulators) without re-validating every field."""
        return cls.model_construct(
            ts=ts.astimezone(UTC),
            id=id or uuid.uuid4(),
            tenant=tenant,
            plant=plant,
            line=line,
            machine=machine,
            metric=metric,
            value=float(value),
            unit=unit,
            q=q,
        )

    @property
    def ts_ms(self) -> int:
        # Exact integer arithmetic: float timestamps lose a millisecond now and then.
        return (self.ts - _EPOCH) // _MS

    @property
    def series_key(self) -> tuple[str, str, str, str, str]:
        return (self.tenant, self.plant, self.line, self.machine, self.metric)

    def to_wire(self) -> dict[str, Any]:
        return {
            "ts": format_ts(self.ts),
            "id": str(self.id),
            "tenant": self.tenant,
            "plant": self.plant,
            "line": self.line,
            "machine": self.machine,
            "metric": self.metric,
            "value": self.value,
            "unit": self.unit,
            "q": self.q,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_wire())


def format_ts(ts: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``, as the reference wrote it."""
    # isoformat is twice as fast as strftime; the wire wants "Z", not "+00:00"
    return ts.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def ms_to_datetime(ms: int) -> datetime:
    return _EPOCH + ms * _MS


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_POINT = TypeAdapter(Point)
_POINTS = TypeAdapter(list[Point])


def _problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "reading"
        out.append(f"{loc}: {err['msg']}")
    return out


def parse_point(raw: bytes | str | dict[str, Any]) -> Point:
    """Parse one reading from JSON bytes, text or a decoded dict.

    Raises:
        WireFormatError: with the reasons, if it is not a valid reading.
    """
    try:
        data = orjson.loads(raw) if isinstance(raw, bytes | str) else raw
    except orjson.JSONDecodeError as exc:
        raise WireFormatError([{"index": 0, "errors": [f"not JSON: {exc}"]}]) from exc
    if not isinstance(data, dict):
        raise WireFormatError([{"index": 0, "errors": ["a reading must be a JSON object"]}])
    try:
        return _POINT.validate_python(data)
    except ValidationError as exc:
        raise WireFormatError([{"index": 0, "errors": _problems(exc)}]) from exc


def parse_points(items: list[Any]) -> list[Point]:
    """Parse a list of decoded readings; all or nothing.

    The list is validated in one call (pydantic's loop, not ours: about twice as fast); the
    errors it reports carry the item's index, so every bad item is still named.

    Raises:
        WireFormatError: naming every bad item by its index.
    """
    try:
        return _POINTS.validate_python(items)
    except ValidationError as exc:
        by_index: dict[int, list[str]] = {}
        for err in exc.errors(include_url=False, include_input=False):
            loc = err["loc"]
            index = int(loc[0]) if loc and isinstance(loc[0], int) else 0
            field = ".".join(str(p) for p in loc[1:]) or "reading"
            msg = "a reading must be a JSON object" if err["type"] == "model_type" else err["msg"]
            by_index.setdefault(index, []).append(f"{field}: {msg}" if field != "reading" else msg)
        raise WireFormatError(
            [{"index": i, "errors": errs} for i, errs in sorted(by_index.items())]
        ) from exc
