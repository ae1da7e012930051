"""The breakers' MQTT messages (the reference's shapes) and their channels (pure, no I/O).

A breaker publishes on ``iot/{device_id}/raw`` (telemetry), ``iot/{device_id}/trends`` (the
aggregate of a burst) and ``iot/{device_id}/status`` (retained; ``offline`` is its last will).
The edge reads every message as readings, one per channel (:func:`channels`), in IEC units:

=========================  ======  ==============================================================
channel                    unit    from
=========================  ======  ==============================================================
voltage_phase_{a,b,c}      V       ``measurements.voltage.phase_x`` (line to neutral, RMS)
current_phase_{a,b,c}      A       ``measurements.current.phase_x`` (RMS)
power_factor_phase_{a..c}  (1)     ``measurements.power.phase_factor.phase_x`` (cos φ)
active_power               W       ``measurements.power.active`` (Σ V·I·cos φ)
reactive_power             var     ``measurements.power.reactive`` (Σ V·I·sin φ)
apparent_power             VA      ``measurements.power.apparent`` (Σ V·I)
power_factor               (1)     ``measurements.power.factor`` (P/S)
frequency                  Hz      ``measurements.frequency.value``
temperature                °C      ``measurements.temperature.value``
breaker_state              enum    ``measurements.status.position`` (0 open, 1 closed, 2 tripped)
trip_count                 (1)     ``measurements.protection.trip_count``
trip_cause                 enum    ``measurements.protection.trip_cause``
ground_fault_current       A       ``measurements.protection.ground_fault_current``
arc_fault_detected         enum    ``measurements.protection.arc_fault_detected``
load_percentage            %       ``measurements.operational.load_percentage``
operating_hours            h       ``measurements.operational.operating_hours``
maintenance_due            enum    ``measurements.operational.maintenance_due``
{channel}_{avg,min,max}    unit    a trends message's entry for a trended channel
presence                   enum    a status message (1 online, 0 offline: the last will)
event_type                 enum    every message (0 telemetry, 1 trends, 2 status)
=========================  ======  ==============================================================

The reference wrote one ``unit: "W"`` for all of ``power``; the messages keep it and add
``units`` with the right one for each (W, var, VA), and the per-phase ``phase_factor`` that makes
``P = Σ V·I·cos φ`` checkable from the message alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from edgetwin.packs.grid.model import PHASES, Breaker, BreakerParams, maintenance_due, power

DEVICE_TYPE: Final = "smart_breaker"
EVENTS: Final = {0: "telemetry", 1: "trends", 2: "status"}
KINDS: Final = {"raw": "telemetry", "trends": "trends", "status": "status"}
"""Topic suffix -> the message's ``event_type``."""
POSITIONS: Final = {0: "OPEN", 1: "CLOSED", 2: "TRIPPED"}
TRIP_CAUSES: Final = {0: "NONE", 1: "OVERCURRENT", 2: "GROUND_FAULT", 3: "ARC_FAULT"}
TRENDED: Final = (
    *(f"voltage_{p}" for p in PHASES),
    *(f"current_{p}" for p in PHASES),
    "active_power",
    "reactive_power",
    "apparent_power",
    "power_factor",
    "frequency",
    "temperature",
)


@dataclass(frozen=True)
class Channel:
    """One channel of a breaker message: its reading's name, unit and where it sits."""

    name: str
    unit: str
    path: tuple[str, ...]  # keys under ``measurements``
    description: str
    min: float | None = None
    max: float | None = None
    states: Mapping[int, str] | None = None
    faults: frozenset[int] = frozenset()


def _phases(group: str, key: str, unit: str, what: str, lo: float, hi: float) -> list[Channel]:
    return [
        Channel(f"{group}_{p}", unit, (key, p), f"{what}, {p.replace('_', ' ')}", lo, hi)
        for p in PHASES
    ]


CHANNELS: Final = (
    *_phases("voltage", "voltage", "V", "RMS voltage line to neutral", 0.0, 300.0),
    *_phases("current", "current", "A", "RMS current", 0.0, 2000.0),
    *[
        Channel(f"power_factor_{p}", "", ("power", "phase_factor", p), f"cos φ, {p}", 0.0, 1.0)
        for p in PHASES
    ],
    Channel("active_power", "W", ("power", "active"), "P = Σ V·I·cos φ", 0.0, 1e6),
    Channel("reactive_power", "var", ("power", "reactive"), "Q = Σ V·I·sin φ", 0.0, 1e6),
    Channel("apparent_power", "VA", ("power", "apparent"), "S = Σ V·I", 0.0, 1e6),
    Channel("power_factor", "", ("power", "factor"), "PF = P / S", 0.0, 1.0),
    Channel("frequency", "Hz", ("frequency", "value"), "grid frequency", 45.0, 65.0),
    Channel("temperature", "°C", ("temperature", "value"), "breaker temperature", -40.0, 150.0),
    Channel(
        "breaker_state", "enum", ("status", "position"), "contacts", states=POSITIONS,
        faults=frozenset({2}),
    ),
    Channel("trip_count", "", ("protection", "trip_count"), "trips since installation", 0.0),
    Channel(
        "trip_cause", "enum", ("protection", "trip_cause"), "why it last tripped",
        states=TRIP_CAUSES,
    ),
    Channel(
        "ground_fault_current", "A", ("protection", "ground_fault_current"), "residual current",
        0.0, 100.0,
    ),
    Channel(
        "arc_fault_detected", "enum", ("protection", "arc_fault_detected"), "arc detected",
        states={0: "NO", 1: "YES"}, faults=frozenset({1}),
    ),
    Channel("load_percentage", "%", ("operational", "load_percentage"), "I / In", 0.0, 1000.0),
    Channel("operating_hours", "h", ("operational", "operating_hours"), "hours closed", 0.0),
    Channel(
        "maintenance_due", "enum", ("operational", "maintenance_due"), "service needed",
        states={0: "NO", 1: "YES"},
    ),
)  # fmt: skip
BY_NAME: Final = {c.name: c for c in CHANNELS}


def _r(x: float, digits: int) -> float:
    return round(x, digits)


def telemetry(device_id: str, b: Breaker, params: BreakerParams, ts: str) -> dict[str, Any]:
    """The ``raw`` message of breaker ``b`` at ``ts`` (ISO 8601, UTC)."""
    pw = power(b)
    closed = 1 if b.position == 1 else 0
    return {
        "device_id": device_id,
        "device_type": DEVICE_TYPE,
        "timestamp": ts,
        "event_type": "telemetry",
        "measurements": {
            "voltage": {**{p: _r(v, 2) for p, v in zip(PHASES, b.voltage, strict=True)},
                        "unit": "V"},
            "current": {**{p: _r(i, 2) for p, i in zip(PHASES, b.current, strict=True)},
                        "unit": "A"},
            "power": {
                "active": _r(pw.active, 2),
                "reactive": _r(pw.reactive, 2),
                "apparent": _r(pw.apparent, 2),
                "factor": _r(pw.factor, 4),
                "unit": "W",
                "units": {"active": "W", "reactive": "var", "apparent": "VA"},
                "phase_factor": {p: _r(c, 4) for p, c in zip(PHASES, b.cos_phi, strict=True)},
            },
            "frequency": {"value": _r(b.frequency, 3), "unit": "Hz"},
            "temperature": {"value": _r(b.temperature, 2), "unit": "°C"},
            "status": {"breaker": closed, "position": int(b.position), "communication": 1},
            "protection": {
                "trip_count": b.trip_count,
                "trip_cause": int(b.trip_cause),
                "ground_fault_current": _r(b.ground_fault_current, 3),
                "arc_fault_detected": b.arc_fault,
            },
            "operational": {
                "load_percentage": _r(100.0 * max(b.current) / params.i_rated, 1),
                "operating_hours": _r(b.operating_hours, 3),
                "maintenance_due": maintenance_due(b, params),
            },
        },
    }  # fmt: skip


def trends(
    device_id: str, ts: str, epoch_s: int, window: Iterable[dict[str, Any]]
) -> dict[str, Any]:
    """The ``trends`` message aggregating telemetry messages ``window`` (each trended channel:
    the last value ``v``, ``avg``, ``min``, ``max``; ``t`` in Unix seconds)."""
    series: dict[str, list[float]] = {c: [] for c in TRENDED}
    for msg in window:
        for name, value, _unit in channels(msg):
            if name in series:
                series[name].append(value)
    return {
        "device_id": device_id,
        "device_type": DEVICE_TYPE,
        "timestamp": ts,
        "event_type": "trends",
        "trends": [
            {"c": c, "t": epoch_s, "v": vs[-1], "avg": _r(math.fsum(vs) / len(vs), 4),
             "min": min(vs), "max": max(vs)}
            for c, vs in series.items() if vs
        ],
    }  # fmt: skip


def status(
    device_id: str,
    ts: str,
    b: Breaker | None,
    *,
    online: bool,
    ack: dict[str, Any] | None = None,
    session: str = "",
) -> dict[str, Any]:
    """The ``status`` message: ``online`` with the breaker's position (and the answer to the
    last command, ``ack``: ``{"id", "name", "ok", "error"?}``), or the last will ``offline``."""
    msg: dict[str, Any] = {
        "device_id": device_id,
        "device_type": DEVICE_TYPE,
        "timestamp": ts,
        "event_type": "status",
        "status": "online" if online else "offline",
        "session": session,
    }
    if b is not None:
        msg["breaker"] = {"position": int(b.position), "trip_cause": int(b.trip_cause),
                          "trip_count": b.trip_count}  # fmt: skip
    if ack is not None:
        msg["ack"] = ack
    return msg


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):  # the reference sent trend values as strings
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


class MessageError(ValueError):
    """A message that is not a breaker message; the text says what is wrong."""


def channels(msg: Mapping[str, Any]) -> list[tuple[str, float, str]]:
    """``(channel, value, unit)`` of every channel a message carries (see the module's table).

    A channel missing from a telemetry message is left out (the data-quality score counts it);
    a value that is not a number is left out too.

    Raises:
        MessageError: no known ``event_type``, or the shape is not a breaker message's.
    """
    kind = msg.get("event_type")
    code = {v: k for k, v in EVENTS.items()}.get(kind) if isinstance(kind, str) else None
    if code is None:
        raise MessageError(f"event_type {kind!r} is not one of {', '.join(EVENTS.values())}")
    out: list[tuple[str, float, str]] = [("event_type", float(code), "enum")]
    if kind == "telemetry":
        m = msg.get("measurements")
        if not isinstance(m, Mapping):
            raise MessageError("a telemetry message has an object 'measurements'")
        for ch in CHANNELS:
            node: Any = m
            for key in ch.path:
                node = node.get(key) if isinstance(node, Mapping) else None
            value = _number(node)
            if value is not None:
                out.append((ch.name, value, ch.unit))
    elif kind == "trends":
        items = msg.get("trends")
        if not isinstance(items, list):
            raise MessageError("a trends message has a list 'trends'")
        for item in items:
            c = item.get("c") if isinstance(item, Mapping) else None
            if c not in BY_NAME:
                continue
            for stat in ("avg", "min", "max"):
                value = _number(item.get(stat))
                if value is not None:
                    out.append((f"{c}_{stat}", value, BY_NAME[c].unit))
    else:
        state = msg.get("status")
        if state not in ("online", "offline"):
            raise MessageError(f"status {state!r} is neither 'online' nor 'offline'")
        out.append(("presence", 1.0 if state == "online" else 0.0, "enum"))
        breaker = msg.get("breaker")
        if isinstance(breaker, Mapping) and _number(breaker.get("position")) is not None:
            out.append(("breaker_state", float(breaker["position"]), "enum"))
    return out
