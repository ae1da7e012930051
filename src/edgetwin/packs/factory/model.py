"""Physics of the smart factory: 3 lines x 3 machines, 6 metrics each per 2 s cycle. Pure code.

Distributions follow the reference: temp base+N(0,2) °C, vibration_rms base+N(0,0.3) mm/s,
energy_kw base+N(0,1) kW, good_count 8-15, bad_count 0-2, state 0 RUN / 1 STOP (5 %) / 2 FAULT.
A machine an operator stopped (device command ``STOP``) idles: state STOP, no parts, 10 % of its
power, almost no vibration, and 10 °C cooler, until ``START``.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from edgetwin.core.point import Point

CYCLE_S = 2.0


@dataclass(frozen=True)
class Base:
    temp: float
    vibration: float
    energy: float


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    description: str


METRICS: tuple[Metric, ...] = (
    Metric("temp", "°C", "temperature"),
    Metric("vibration_rms", "mm/s", "vibration RMS velocity"),
    Metric("energy_kw", "kW", "electrical power"),
    Metric("good_count", "units", "good parts in the cycle"),
    Metric("bad_count", "units", "bad parts in the cycle"),
    Metric("state", "enum", "0 RUN, 1 STOP, 2 FAULT"),
)

LINES: dict[str, tuple[tuple[str, ...], Base]] = {
    "line-01": (("cnc-01", "cnc-02", "robot-arm-01"), Base(45.0, 2.5, 15.0)),
    "line-02": (("press-01", "conveyor-01", "robot-arm-02"), Base(50.0, 3.0, 25.0)),
    "line-03": (("welder-01", "welder-02", "inspection-01"), Base(60.0, 1.8, 35.0)),
}

MACHINES: tuple[tuple[str, str], ...] = tuple(
    (line, machine) for line, (machines, _) in LINES.items() for machine in machines
)

STATE_RUN, STATE_STOP, STATE_FAULT = 0, 1, 2
FAULT_COMMANDS = ("bearing_fault", "energy_spike", "network_outage")
DEVICE_COMMANDS = ("START", "STOP", "PING")  # one machine's own commands


@dataclass(frozen=True)
class Faults:
    bearing_fault: bool = False
    energy_spike: bool = False

    def apply(self, cmd: str, value: bool) -> Faults:
        """The faults after command ``cmd``; unknown or edge-side commands change nothing."""
        if cmd in ("bearing_fault", "energy_spike"):
            return replace(self, **{cmd: value})
        return self


def machine_values(
    base: Base, faults: Faults, rng: random.Random, *, running: bool = True
) -> dict[str, float]:
    """One cycle of one machine's six metrics."""
    if not running:
        return {
            "temp": round(base.temp - 10 + rng.gauss(0, 1), 3),
            "vibration_rms": round(abs(rng.gauss(0, 0.05)), 3),
            "energy_kw": round(max(base.energy * 0.1 + rng.gauss(0, 0.1), 0.0), 3),
            "good_count": 0.0,
            "bad_count": 0.0,
            "state": float(STATE_STOP),
        }
    temp = base.temp + rng.gauss(0, 2)
    vibration = base.vibration + rng.gauss(0, 0.3)
    energy = base.energy + rng.gauss(0, 1)
    good = rng.randint(8, 15)
    bad = rng.randint(0, 2)
    state = STATE_STOP if rng.random() < 0.05 else STATE_RUN
    if faults.bearing_fault:
        temp += rng.uniform(15, 25)
        vibration += rng.uniform(5, 10)
        bad += rng.randint(3, 8)
        state = STATE_FAULT
    if faults.energy_spike:
        energy *= rng.uniform(2.5, 4.0)
    return {
        "temp": round(temp, 3),
        "vibration_rms": round(max(vibration, 0.0), 3),
        "energy_kw": round(max(energy, 0.0), 3),
        "good_count": float(good),
        "bad_count": float(bad),
        "state": float(state),
    }


def cycle(
    ts: datetime,
    faults: Faults,
    rng: random.Random,
    tenant: str,
    plant: str,
    stopped: frozenset[tuple[str, str]] = frozenset(),
) -> list[Point]:
    """All 54 readings of one cycle, stamped ``ts``; ``stopped`` machines idle."""
    units = {m.name: m.unit for m in METRICS}
    points: list[Point] = []
    for line, (machines, base) in LINES.items():
        for machine in machines:
            running = (line, machine) not in stopped
            for metric, value in machine_values(base, faults, rng, running=running).items():
                points.append(
                    Point.make(
                        ts=ts,
                        tenant=tenant,
                        plant=plant,
                        line=line,
                        machine=machine,
                        metric=metric,
                        value=value,
                        unit=units[metric],
                        id=_uuid4(rng),
                    )
                )
    return points


def _uuid4(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)
