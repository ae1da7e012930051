"""Trapezoidal point-to-point motion of one axis. Pure code.

A move is planned once, from rest, as a trapezoid (or a triangle when the distance is too short
to reach the top speed): accelerate at ``ACCEL_MM_S2`` (4·vmax/s), cruise at ``VMAX_MM_S``
(100 mm/s), decelerate at ``DECEL_MM_S2`` (2·vmax/s) — the reference's limits. Each tick samples
the planned profile at the move's own clock, so the position is monotone along the move and the
last sample is the target itself: no overshoot and nothing to hunt around. (The reference drove
each axis by 10 mm steps against a ±1 mm window and oscillated around 8 of its 9 slots.)

A stall (a worn motor's micro-stoppage) freezes the move's clock for the tick: the axis stands
still and resumes the same profile. A halt (emergency stop) ends the move where the axis is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from edgetwin.packs.warehouse.components import ACCEL_MM_S2, DECEL_MM_S2, VMAX_MM_S


@dataclass(frozen=True)
class Profile:
    """A planned move of ``distance`` mm (>= 0): times of its three phases (s) and top speed."""

    distance: float
    t_accel: float
    t_cruise: float
    t_decel: float
    v_peak: float

    @property
    def duration(self) -> float:
        """Total time of the move, s."""
        return self.t_accel + self.t_cruise + self.t_decel


def plan_profile(
    distance: float,
    vmax: float = VMAX_MM_S,
    accel: float = ACCEL_MM_S2,
    decel: float = DECEL_MM_S2,
) -> Profile:
    """The time-optimal trapezoid (or triangle) covering ``distance`` mm from rest to rest.

    Raises:
        ValueError: a negative distance or a limit that is not positive.
    """
    if distance < 0 or vmax <= 0 or accel <= 0 or decel <= 0:
        raise ValueError("distance must be >= 0 and the limits > 0")
    d_up, d_down = vmax * vmax / (2 * accel), vmax * vmax / (2 * decel)
    if distance >= d_up + d_down:
        cruise = (distance - d_up - d_down) / vmax
        return Profile(distance, vmax / accel, cruise, vmax / decel, vmax)
    peak = math.sqrt(2 * distance * accel * decel / (accel + decel))
    return Profile(distance, peak / accel, 0.0, peak / decel, peak)


def sample(p: Profile, t: float, accel: float = ACCEL_MM_S2, decel: float = DECEL_MM_S2) -> float:
    """Distance covered ``t`` s into the move, mm; exactly ``p.distance`` from its end on."""
    if t <= 0:
        return 0.0
    if t >= p.duration:
        return p.distance
    if t < p.t_accel:
        return 0.5 * accel * t * t
    d_up = 0.5 * accel * p.t_accel * p.t_accel
    if t < p.t_accel + p.t_cruise:
        return d_up + p.v_peak * (t - p.t_accel)
    tau = t - p.t_accel - p.t_cruise
    s = d_up + p.v_peak * p.t_cruise + p.v_peak * tau - 0.5 * decel * tau * tau
    return min(s, p.distance)


@dataclass(frozen=True)
class Axis:
    """One axis: where it is (mm), its speed over the last tick (mm/s, signed) and its move.

    ``target`` is None at rest; during a move ``start`` is where it began and ``t`` is the
    move's own clock (s).
    """

    pos: float
    vel: float = 0.0
    start: float = 0.0
    target: float | None = None
    t: float = 0.0

    @property
    def moving(self) -> bool:
        """True while a move is under way (also during a stall)."""
        return self.target is not None

    def at(self, position: float, tolerance: float = 1.0) -> bool:
        """At rest within ``tolerance`` mm of ``position``."""
        return not self.moving and abs(self.pos - position) <= tolerance


def plan(axis: Axis, target: float) -> Axis:
    """Start a move of ``axis`` to ``target`` mm; an axis already there stays at rest.

    Raises:
        ValueError: the axis is still moving (a move starts from rest).
    """
    if axis.moving:
        raise ValueError("an axis starts a move from rest")
    if axis.pos == target:
        return axis
    return Axis(pos=axis.pos, vel=0.0, start=axis.pos, target=target, t=0.0)


def advance(axis: Axis, dt: float, *, stalled: bool = False) -> Axis:
    """The axis ``dt`` s later: along its profile, or frozen for the tick when ``stalled``."""
    if axis.target is None:
        return replace(axis, vel=0.0) if axis.vel else axis
    if stalled:
        return replace(axis, vel=0.0)
    distance = abs(axis.target - axis.start)
    p = plan_profile(distance)
    t = axis.t + dt
    if t >= p.duration:
        return Axis(pos=axis.target, vel=(axis.target - axis.pos) / dt)
    direction = 1.0 if axis.target >= axis.start else -1.0
    pos = axis.start + direction * sample(p, t)
    return replace(axis, pos=pos, vel=(pos - axis.pos) / dt, t=t)


def halt(axis: Axis) -> Axis:
    """Stop where it is (emergency stop): no move, no speed."""
    return Axis(pos=axis.pos)
