"""A three-phase smart circuit breaker: electrical, thermal and protection physics (pure).

``step(state, params, dt, rng) -> state`` advances one breaker; nothing here does I/O or reads a
clock. The quantities and their relations:

- **Voltage** per phase (line to neutral) near ``v_nominal`` with a small, slowly wandering
  unbalance (each phase an Ornstein-Uhlenbeck process around its own offset).
- **Current** per phase from the load: ``load * i_rated * (1 + unbalance_x)``, where the load
  (per unit of rated current) follows a slow profile plus noise, and rare overload events.
- **Power** per phase from the displacement angle φ (``cos φ`` wandering in [0.80, 0.99]):
  ``P = Σ V·I·cos φ`` (W), ``Q = Σ V·I·sin φ`` (var), ``S = Σ V·I`` (VA, the arithmetic
  apparent power of IEEE 1459 §3.2.2.9) and ``PF = P / S``.
- **Frequency** drifts slowly around ``f_nominal`` (an Ornstein-Uhlenbeck process, σ ≈ 0.02 Hz,
  within the ±0.05 Hz an interconnection usually holds).
- **Temperature** of the breaker is a first-order thermal model heated by I² (the Joule losses):
  ``dT/dt = (T_amb + ΔT_rated·(I/I_rated)² − T) / τ``; ``ΔT_rated`` is the rise at rated current.
- **Protection**: an inverse-time overcurrent element (IEC 60255-151:2009, Table 1, "standard
  inverse": ``t = TMS · 0.14 / ((I/Is)^0.02 − 1)``), integrated over time so a varying current
  trips when ``∫ dt / t(I) ≥ 1`` (the element's "start" accumulator, reset when the current falls
  below the pickup). Rare ground faults (residual current above ``ig_pickup``) and arc faults
  trip it at once. A trip opens the breaker: the current goes to 0 and ``trip_count`` rises.
- **Operation**: operating hours accumulate while closed; maintenance is due after
  ``service_trips`` trips or ``service_hours`` hours since the last service.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Final

PHASES: Final = ("phase_a", "phase_b", "phase_c")


class Position(IntEnum):
    """Where the contacts are: the code of the ``breaker_state`` reading."""

    OPEN = 0
    CLOSED = 1
    TRIPPED = 2  # opened by its protection; ``reset_trip`` is needed before closing again


class TripCause(IntEnum):
    """Why the breaker last tripped (``trip_cause`` reading)."""

    NONE = 0
    OVERCURRENT = 1
    GROUND_FAULT = 2
    ARC_FAULT = 3


@dataclass(frozen=True)
class BreakerParams:
    """What a breaker is and how it is set.

    Attributes:
        v_nominal: line-to-neutral voltage, V (120 V: the reference's North American service).
        f_nominal: Hz.
        i_rated: rated current In, A (load 100 % = In).
        i_pickup: overcurrent pickup Is, A (1.1·In, a usual setting).
        tms: time multiplier setting of the inverse-time curve (IEC 60255-151).
        ig_pickup: ground-fault pickup, A.
        t_ambient: °C; dt_rated: temperature rise at In, K; tau_thermal: thermal time constant, s.
        overload_rate: overload events per second while closed (rare).
        ground_fault_rate, arc_fault_rate: faults per second while closed (rarer).
        service_trips, service_hours: maintenance is due after either.
    """

    v_nominal: float = 120.0
    f_nominal: float = 60.0
    i_rated: float = 100.0
    i_pickup: float = 110.0
    tms: float = 0.5
    ig_pickup: float = 1.0
    t_ambient: float = 25.0
    dt_rated: float = 40.0
    tau_thermal: float = 300.0
    overload_rate: float = 1 / 1800
    ground_fault_rate: float = 1 / 20_000
    arc_fault_rate: float = 1 / 40_000
    service_trips: int = 10
    service_hours: float = 2000.0


@dataclass(frozen=True)
class Breaker:
    """The state of one breaker; see the module's docstring for the physics.

    Attributes:
        t: simulated seconds since start.
        position: see :class:`Position`; trip_cause: the last trip's :class:`TripCause`.
        v_offset: per-phase voltage offset from nominal, per unit (the unbalance).
        i_share: per-phase share of the load, per unit around 1 (the current unbalance).
        cos_phi: per-phase displacement power factor.
        load_base: the load profile's level, per unit of In; overload: extra load now, per unit;
        overload_left_s: how long the present overload lasts.
        frequency: Hz; temperature: °C.
        trip_integral: the inverse-time element's accumulator (trips at 1).
        ground_fault_current: residual current, A; arc_fault: an arc is detected now.
        trip_count, trips_since_service, operating_hours, hours_since_service: counters.
        voltage, current: the values now, per phase (V, A).
    """

    t: float = 0.0
    position: Position = Position.CLOSED
    trip_cause: TripCause = TripCause.NONE
    v_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    i_share: tuple[float, float, float] = (1.0, 1.0, 1.0)
    cos_phi: tuple[float, float, float] = (0.93, 0.93, 0.93)
    load_base: float = 0.5
    overload: float = 0.0
    overload_left_s: float = 0.0
    frequency: float = 60.0
    temperature: float = 25.0
    trip_integral: float = 0.0
    ground_fault_current: float = 0.0
    arc_fault: bool = False
    trip_count: int = 0
    trips_since_service: int = 0
    operating_hours: float = 0.0
    hours_since_service: float = 0.0
    voltage: tuple[float, float, float] = (120.0, 120.0, 120.0)
    current: tuple[float, float, float] = (0.0, 0.0, 0.0)
    phase: float = field(default=0.0)  # the load profile's phase, rad

    @property
    def i_max(self) -> float:
        """The highest phase current, A (what the overcurrent element measures)."""
        return max(self.current)


def new_breaker(params: BreakerParams, rng: random.Random) -> Breaker:
    """A breaker in service, closed, with its own unbalance, load level and history."""
    hours = rng.uniform(0.0, 1500.0)
    return Breaker(
        v_offset=tuple(rng.gauss(0.0, 0.01) for _ in PHASES),  # type: ignore[arg-type]
        i_share=tuple(1.0 + rng.gauss(0.0, 0.08) for _ in PHASES),  # type: ignore[arg-type]
        cos_phi=tuple(rng.uniform(0.88, 0.97) for _ in PHASES),  # type: ignore[arg-type]
        load_base=rng.uniform(0.3, 0.7),
        frequency=params.f_nominal,
        temperature=params.t_ambient,
        operating_hours=hours,
        hours_since_service=hours % params.service_hours,
        trip_count=rng.randint(0, 4),
        phase=rng.uniform(0.0, 2 * math.pi),
        voltage=(params.v_nominal,) * 3,
    )


def trip_time(i: float, params: BreakerParams) -> float:
    """Operating time (s) of the standard-inverse curve at current ``i`` (A); ``inf`` below the
    pickup. IEC 60255-151:2009 Table 1: ``t = TMS · k / ((I/Is)^α − 1)``, k = 0.14, α = 0.02."""
    m = i / params.i_pickup
    if m <= 1.0:
        return math.inf
    return params.tms * 0.14 / (math.pow(m, 0.02) - 1.0)


def _ou(x: float, mean: float, tau: float, sigma: float, dt: float, rng: random.Random) -> float:
    """One exact step of an Ornstein-Uhlenbeck process (stationary std ``sigma``)."""
    a = math.exp(-dt / tau)
    return mean + (x - mean) * a + sigma * math.sqrt(1.0 - a * a) * rng.gauss(0.0, 1.0)


def load_pu(b: Breaker) -> float:
    """The load now, per unit of rated current: a slow profile (a 20-minute cycle of ±20 %)
    around the breaker's level, plus any overload."""
    return max(0.0, b.load_base * (1.0 + 0.2 * math.sin(2 * math.pi * b.t / 1200.0 + b.phase)))


def step(
    b: Breaker,
    params: BreakerParams,
    dt: float,
    rng: random.Random,
    *,
    force_overload: float | None = None,
) -> Breaker:
    """Advance ``b`` by ``dt`` seconds.

    Args:
        force_overload: if given, the load in per unit of In for this step (a test's or an
            operator's forced overcurrent), in place of the profile and the random overloads.

    Raises:
        ValueError: ``dt`` is not positive.
    """
    if dt <= 0:
        raise ValueError(f"dt must be positive, got {dt}")
    p = params
    t = b.t + dt
    closed = b.position is Position.CLOSED
    voltage = tuple(p.v_nominal * (1.0 + off) + rng.gauss(0.0, 0.15) for off in b.v_offset)
    cos_phi = tuple(min(0.99, max(0.80, _ou(c, c, 900.0, 0.004, dt, rng))) for c in b.cos_phi)
    frequency = _ou(b.frequency, p.f_nominal, 300.0, 0.02, dt, rng)

    overload, left = b.overload, max(0.0, b.overload_left_s - dt)
    if left == 0.0:
        overload = 0.0
    if closed and overload == 0.0 and rng.random() < p.overload_rate * dt:
        overload, left = rng.uniform(0.8, 2.5), rng.uniform(5.0, 60.0)  # a motor start, a jam
    load = (load_pu(replace(b, t=t)) + overload) if force_overload is None else force_overload
    load *= 1.0 + rng.gauss(0.0, 0.01)
    current = (
        tuple(max(0.0, load * p.i_rated * s) for s in b.i_share) if closed else (0.0, 0.0, 0.0)
    )

    ground, arc = 0.0, False
    if closed:
        ground = abs(rng.gauss(0.0, 0.02))  # leakage through insulation
        if rng.random() < p.ground_fault_rate * dt:
            ground = rng.uniform(0.5, 5.0)
        arc = rng.random() < p.arc_fault_rate * dt

    i_max = max(current)
    integral = b.trip_integral + dt / trip_time(i_max, p) if i_max > p.i_pickup else 0.0
    cause = TripCause.NONE
    if closed and arc:
        cause = TripCause.ARC_FAULT
    elif closed and ground >= p.ig_pickup:
        cause = TripCause.GROUND_FAULT
    elif closed and integral >= 1.0:
        cause = TripCause.OVERCURRENT

    i_rms = math.sqrt(sum(i * i for i in current) / 3.0)
    target = p.t_ambient + p.dt_rated * (i_rms / p.i_rated) ** 2
    temperature = target + (b.temperature - target) * math.exp(-dt / p.tau_thermal)
    hours = dt / 3600.0 if closed else 0.0
    out = replace(
        b,
        t=t,
        voltage=voltage,  # type: ignore[arg-type]
        cos_phi=cos_phi,  # type: ignore[arg-type]
        frequency=frequency,
        overload=overload,
        overload_left_s=left,
        current=current,  # type: ignore[arg-type]
        ground_fault_current=ground,
        arc_fault=arc,
        trip_integral=integral,
        temperature=temperature,
        operating_hours=b.operating_hours + hours,
        hours_since_service=b.hours_since_service + hours,
    )
    return trip(out, cause) if cause is not TripCause.NONE else out


def trip(b: Breaker, cause: TripCause) -> Breaker:
    """The protection opens the breaker: no current, one more trip, locked out until reset."""
    return replace(
        b,
        position=Position.TRIPPED,
        trip_cause=cause,
        current=(0.0, 0.0, 0.0),
        trip_integral=0.0,
        overload=0.0,
        overload_left_s=0.0,
        trip_count=b.trip_count + 1,
        trips_since_service=b.trips_since_service + 1,
    )


class CommandRefusedError(ValueError):
    """A command the breaker cannot carry out now (e.g. ``close`` while tripped)."""


COMMANDS: Final = ("OPEN", "CLOSE", "RESET_TRIP")


def command(b: Breaker, name: str) -> Breaker:
    """Apply an operator's command (case-insensitive): ``OPEN``, ``CLOSE``, ``RESET_TRIP``.

    Raises:
        CommandRefusedError: unknown command, or ``CLOSE`` on a tripped breaker (reset it first).
    """
    name = name.upper()
    if name == "OPEN":
        if b.position is Position.TRIPPED:
            return b  # already open
        return replace(b, position=Position.OPEN, current=(0.0, 0.0, 0.0), trip_integral=0.0)
    if name == "CLOSE":
        if b.position is Position.TRIPPED:
            raise CommandRefusedError("the breaker is tripped: reset_trip before closing it")
        return replace(b, position=Position.CLOSED)
    if name == "RESET_TRIP":
        if b.position is not Position.TRIPPED:
            return b
        return replace(b, position=Position.OPEN, trip_cause=TripCause.NONE)
    raise CommandRefusedError(f"unknown command {name!r}; a breaker takes {', '.join(COMMANDS)}")


def maintenance_due(b: Breaker, params: BreakerParams) -> bool:
    """Due after ``service_trips`` trips or ``service_hours`` hours since the last service."""
    return b.trips_since_service >= params.service_trips or (
        b.hours_since_service >= params.service_hours
    )


@dataclass(frozen=True)
class Power:
    """Three-phase power of a breaker now: W, var, VA and the power factor (dimensionless)."""

    active: float
    reactive: float
    apparent: float
    factor: float


def power(b: Breaker) -> Power:
    """``P = Σ V·I·cos φ``, ``Q = Σ V·I·sin φ``, ``S = Σ V·I``, ``PF = P/S`` (1.0 at no load)."""
    va = [v * i for v, i in zip(b.voltage, b.current, strict=True)]
    p = sum(s * c for s, c in zip(va, b.cos_phi, strict=True))
    q = sum(s * math.sqrt(1.0 - c * c) for s, c in zip(va, b.cos_phi, strict=True))
    s = sum(va)
    return Power(p, q, s, p / s if s > 0 else 1.0)
