"""The reading: one value of one metric of one machine at one instant.

Wire format (JSON, as the smart-factory reference sends it)::

    {"ts": "2026-01-15T10:30:00.123Z", "id": "<uuid>", "tenant": "acme", "plant": "plant-01",
     "line": "line-01", "machine": "cnc-01", "metric": "temp", "value": 47.5, "unit": "°C", "q": 100}
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from edgetwin.core.errors import WireFormatError
from edgetwin.core.ids import Segment

# Every constraint below runs inside pydantic-core: a Python validator per field costs about a
# third of the validation time, which the edge and the cloud pay for every reading.

MAX_MAGNITUDE: Final = 1e150
"""The largest magnitude a value may have. Values are doubles; this bound keeps every sum and
square the stores and the KPIs compute finite (1e150 squared is 1e300, and a sum of a hundred
million of those still fits), so no aggregate of stored data can overflow."""

MAX_EXACT_INTEGER: Final = 2**53
"""The largest integer magnitude a double holds exactly (9007199254740992). A bigger integer is
refused rather than silently rounded (``9007199254740993`` would be stored as ``...992``)."""

NUMBER_RULE: Final = (
    "must be a finite number within ±1e150 (a double); an integer within ±2^53"
    " (9007199254740992), which a double holds exactly"
)


def _number_schema() -> core_schema.CoreSchema:
    # An integer within ±2^53, converted to a double; or a float (not a bool, not a string) that
    # is finite and within ±1e150. All inside pydantic-core: no Python call per reading.
    exact_int = core_schema.chain_schema(
        [
            core_schema.int_schema(strict=True, ge=-MAX_EXACT_INTEGER, le=MAX_EXACT_INTEGER),
            core_schema.float_schema(),
        ]
    )
    bounded_float = core_schema.chain_schema(
        [
            core_schema.is_instance_schema(float),
            core_schema.float_schema(allow_inf_nan=False, ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE),
        ]
    )
    return core_schema.union_schema(
        [exact_int, bounded_float],
        mode="left_to_right",
        custom_error_type="number",
        custom_error_message=NUMBER_RULE,
    )


def _exact_integer(value: Any) -> Any:
    # JSON mode only (``model_validate_json``; the wire path decodes with orjson first).
    if type(value) is int and abs(value) > MAX_EXACT_INTEGER:
        raise PydanticCustomError("number", NUMBER_RULE)
    return value


class _NumberRule:
    """The value rule as a pydantic annotation (see :data:`Number`)."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        json_schema = core_schema.no_info_before_validator_function(
            _exact_integer,
            core_schema.float_schema(
                strict=True, allow_inf_nan=False, ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE
            ),
        )
        return core_schema.json_or_python_schema(
            json_schema=json_schema, python_schema=_number_schema()
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, _schema: core_schema.CoreSchema, _handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "number",
            "format": "double",
            "minimum": -MAX_MAGNITUDE,
            "maximum": MAX_MAGNITUDE,
            "description": (
                "A double (IEEE 754, 64 bits), finite, within ±1e150. An integer is accepted"
                " within ±2^53 (9007199254740992), where a double holds it exactly; a bigger"
                " one is refused, not rounded."
            ),
        }


# A JSON number (an integer is fine); not a boolean, not a numeric string, not NaN or infinity,
# within ±1e150, and an integer only where a double holds it exactly.
Number = Annotated[float, _NumberRule]

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


_NUMBER: TypeAdapter[float] = TypeAdapter(Number)


def valid_value(value: object) -> bool:
    """Whether ``value`` (as decoded from JSON) is a reading's value by the one rule of
    :data:`Number` (see :data:`NUMBER_RULE`): for sources that build readings with
    :meth:`Point.make` from a device's own fields (a serial line, a CSV file)."""
    try:
        _NUMBER.validate_python(value)
    except ValidationError:
        return False
    return True


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
