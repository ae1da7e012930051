"""Device types as data: what a kind of machine measures and which commands it takes.

A pack declares its device types (Home Assistant's entity descriptions are the model): each
metric with its unit, kind, plausible range and, for an enumeration, the label of every code and
which codes count as a fault; each command with its argument model and what completes it. The
platform reads these instead of knowing any machine: the store counts faults from
``fault_states``, the edge's command router learns from ``completes_on`` that a reboot is done
only when the device has restarted, the serial source maps a device's own field names with
``field``, and ``/api/v1/device-types`` serves them to people and tools.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

MetricKind = Literal["gauge", "count", "enum", "counter"]
"""``gauge``: a level sampled now (°C, kW); ``count``: how many in the interval since the last
reading (parts made); ``counter``: a running total that only grows (sequence numbers);
``enum``: a code from ``states``."""

Completion = Literal["acknowledged", "restarted"]
"""``acknowledged``: the device's ``ack`` ends the command; ``restarted``: the ack only says it
heard, and the command succeeds when the device is seen to restart (its uptime starts again)."""


@dataclass(frozen=True)
class MetricSpec:
    """One metric of a device type.

    Attributes:
        name: the metric segment of the topic, e.g. ``temp``.
        unit: IEC/SI symbol as sent on the wire (``°C``, ``mm/s``, ``kW``, ``g``, ``s``).
        kind: see :data:`MetricKind`.
        description: one line for people.
        min, max: plausible range; outside it a reading is still stored, never clipped.
        states: for ``enum``: code -> label, e.g. ``{0: "RUN", 1: "STOP", 2: "FAULT"}``.
        fault_states: the codes that count as a fault in KPIs.
        field: the name in the device's own payload, when it differs from ``name``.
    """

    name: str
    unit: str
    kind: MetricKind = "gauge"
    description: str = ""
    min: float | None = None
    max: float | None = None
    states: Mapping[int, str] = field(default_factory=dict)
    fault_states: frozenset[int] = frozenset()
    field: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "enum" and not self.states:
            raise ValueError(f"metric {self.name!r}: an enum needs its states")
        unknown = set(self.fault_states) - set(self.states)
        if unknown:
            raise ValueError(f"metric {self.name!r}: fault states {unknown} are not states")

    @property
    def source_field(self) -> str:
        """The field that carries this metric in the device's own payload."""
        return self.field or self.name

    def code_of(self, label: str) -> int | None:
        """The code of an enum label (``"ANOMALY"`` -> 1), or None."""
        for code, name in self.states.items():
            if name == label:
                return code
        return None

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "kind": self.kind,
            "description": self.description,
            "min": self.min,
            "max": self.max,
            "states": {str(k): v for k, v in sorted(self.states.items())},
            "fault_states": sorted(self.fault_states),
        }


class NoArgs(BaseModel):
    """The arguments of a command that takes none (any given is refused)."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class CommandSpec:
    """One command a device type takes.

    Attributes:
        name: upper case, e.g. ``REBOOT``.
        description: one line for people.
        args: pydantic model of the arguments (None: no arguments).
        completes_on: see :data:`Completion`.
        timeout_s: how long the device has to answer before the command fails; a restart gets
            this on top of the acknowledgement's time.
    """

    name: str
    description: str = ""
    args: type[BaseModel] | None = None
    completes_on: Completion = "acknowledged"
    timeout_s: float = 5.0

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "args": None if self.args is None else self.args.model_json_schema(),
            "completes_on": self.completes_on,
            "timeout_s": self.timeout_s,
        }


@dataclass(frozen=True)
class DeviceType:
    """A kind of machine: its metrics and commands. ``name`` is stable (``pack.kind``).

    ``uptime_metric`` names a metric that starts again from 0 when the device resets; seeing it
    go back proves a restart (what completes a ``restarted`` command).
    """

    name: str
    title: str
    pack: str
    metrics: tuple[MetricSpec, ...]
    commands: tuple[CommandSpec, ...] = ()
    description: str = ""
    uptime_metric: str | None = None  # a metric that restarts from 0 when the device resets

    def metric(self, name: str) -> MetricSpec | None:
        for m in self.metrics:
            if m.name == name:
                return m
        return None

    def command(self, name: str) -> CommandSpec | None:
        upper = name.upper()
        for c in self.commands:
            if c.name == upper:
                return c
        return None

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "pack": self.pack,
            "description": self.description,
            "metrics": [m.public() for m in self.metrics],
            "commands": [c.public() for c in self.commands],
        }


def fault_rules(types: Iterable[DeviceType]) -> dict[str, frozenset[int]]:
    """metric name -> the codes that count as a fault, over all the given device types.

    Raises:
        ValueError: two device types give one metric name different fault codes (the store
            counts faults by metric name, so they must agree).
    """
    rules: dict[str, frozenset[int]] = {}
    for t in types:
        for m in t.metrics:
            if not m.fault_states:
                continue
            known = rules.get(m.name)
            if known is not None and known != m.fault_states:
                raise ValueError(
                    f"metric {m.name!r}: device types disagree on its fault states"
                    f" ({sorted(known)} vs {sorted(m.fault_states)} in {t.name})"
                )
            rules[m.name] = m.fault_states
    return rules
