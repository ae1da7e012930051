"""The warehouse's safety interlocks and collision prevention. Pure code.

:func:`refusal` answers, before a move starts, whether it may: None, or the reason it may not.
The rules (``docs/warehouse.md`` lists them for operators):

1. every target within its axis' travel;
2. a Z axis extends (HBW fork out, VGR down) only while its X and Y stand at rest on a named
   position (a slot or the handover; a VGR station); retracting is always allowed;
3. X and Y move only with their Z retracted at rest;
4. the belt does not start while the VGR is over it, nor while the HBW's fork is out at the
   handover; the VGR does not move over a running belt;
5. before a transfer: the HBW's fork goes into a place holding a carrier only with the latch
   closed and the place free, empty-handed only with the latch open; it reaches the belt only
   when the belt stands at the in-feed. The VGR lowers a cookie only with the vacuum built, onto
   a free place; it moves a cookie only with the vacuum built;
6. collision: the HBW's fork and the VGR never enter the in-feed zone both: a move that would
   bring one in while the other is in it (or moving through it) is refused.

:func:`collision` is the physical check (both in the zone now) the tests evaluate every tick.
"""

from __future__ import annotations

from collections.abc import Mapping

from edgetwin.packs.warehouse.components import (
    BELT_IN_MM,
    BELT_LENGTH_MM,
    HBW_LIMITS,
    HBW_ZONE_X_MM,
    POSITION_TOLERANCE_MM,
    SLOTS,
    VGR_LIMITS,
    VGR_OVER_BELT,
    VGR_ZONE,
)
from edgetwin.packs.warehouse.model import State, hbw_place, vacuum_built, vgr_station

TOL = POSITION_TOLERANCE_MM
Box = tuple[tuple[float, float], tuple[float, float]]


def _limits(axis: str) -> tuple[float, float]:
    device, name = axis.split(".")
    if device == "hbw":
        return HBW_LIMITS[name]
    if device == "vgr":
        return VGR_LIMITS[name]
    return (0.0, BELT_LENGTH_MM)


def _overlap(a: Box, b: Box) -> bool:
    return all(a[i][0] <= b[i][1] and b[i][0] <= a[i][1] for i in range(2))


def vgr_sweep(s: State, targets: Mapping[str, float] | None = None) -> Box:
    """The X/Y box the VGR occupies from where it is to where it is going (its current moves,
    and ``targets`` if given)."""
    box = []
    for name in ("vgr.x", "vgr.y"):
        a = s.axes[name]
        ends = [a.pos, a.target if a.target is not None else a.pos]
        if targets and name in targets:
            ends.append(targets[name])
        box.append((min(ends), max(ends)))
    return (box[0], box[1])


def hbw_in_zone(s: State, *, planned: bool = False) -> bool:
    """The HBW's fork out at the in-feed zone (with ``planned``: or on its way out there)."""
    x, z = s.axes["hbw.x"], s.axes["hbw.z"]
    x_max = max(x.pos, x.target if (planned and x.target is not None) else x.pos)
    z_max = max(z.pos, z.target if (planned and z.target is not None) else z.pos)
    return min(x.pos, x_max) <= HBW_ZONE_X_MM and z_max > TOL


def vgr_in_zone(s: State) -> bool:
    """The VGR above the in-feed zone now."""
    return _overlap(((s.pos("vgr.x"),) * 2, (s.pos("vgr.y"),) * 2), VGR_ZONE)


def collision(s: State) -> bool:
    """Both robots in the in-feed zone at once: what must never happen."""
    return hbw_in_zone(s) and vgr_in_zone(s)


def refusal(s: State, targets: Mapping[str, float]) -> str | None:
    """Why the move ``targets`` (axis -> mm) may not start now, or None."""
    for axis, target in targets.items():
        lo, hi = _limits(axis)
        if not lo <= target <= hi:
            return f"{axis} to {target:g} mm is outside its travel {lo:g}..{hi:g} mm"
    for device in ("hbw", "vgr"):
        reason = _device(s, device, targets)
        if reason:
            return reason
    if "conveyor.belt" in targets and targets["conveyor.belt"] != s.pos("conveyor.belt"):
        if _overlap(vgr_sweep(s), VGR_OVER_BELT):
            return "the belt may not start while the VGR is over it"
        if s.pos("hbw.z") > TOL and s.pos("hbw.x") <= HBW_ZONE_X_MM:
            return "the belt may not start while the HBW's fork is out at the handover"
    return None


def _device(s: State, device: str, targets: Mapping[str, float]) -> str | None:
    z_name = f"{device}.z"
    xy = {k: v for k, v in targets.items() if k in (f"{device}.x", f"{device}.y")}
    moves_xy = any(s.pos(k) != v for k, v in xy.items())
    z_target = targets.get(z_name)
    extends = z_target is not None and z_target > s.pos(z_name) + TOL
    if moves_xy:
        z = s.axes[z_name]
        if z.moving or z.pos > TOL:
            return f"{device.upper()} X/Y may not move before its Z is retracted"
    if extends and (moves_xy or any(s.axes[k].moving for k in (f"{device}.x", f"{device}.y"))):
        return f"{device.upper()} Z may not move while X/Y are moving"
    if device == "hbw":
        return _hbw(s, extends, moves_xy, targets)
    return _vgr(s, extends, moves_xy, targets)


def _hbw(s: State, extends: bool, moves_xy: bool, targets: Mapping[str, float]) -> str | None:
    if not extends:
        return None
    place = hbw_place(s)
    if place is None:
        return "HBW Z may not move unless X/Y are at a slot or the handover"
    holding = s.hbw_carrier is not None
    if holding != s.gripper_closed:
        latch = "closed" if holding else "open"
        return f"HBW latch must be {latch} before the fork goes out"
    if place == "HANDOVER":
        if _overlap(vgr_sweep(s), VGR_ZONE):
            return "collision: the VGR is in the in-feed zone"
        belt = s.axes["conveyor.belt"]
        if not belt.at(BELT_IN_MM, TOL):
            return "the belt is not at rest at the in-feed"
        if holding and s.belt_carrier is not None:
            return "a carrier is already on the belt"
    elif place in SLOTS and holding and s.slots.get(place) is not None:
        return f"slot {place} is not free"
    return None


def _vgr(s: State, extends: bool, moves_xy: bool, targets: Mapping[str, float]) -> str | None:
    holding = s.vgr_cookie is not None
    if moves_xy:
        if holding and not vacuum_built(s):
            return "VGR may not move a cookie without the vacuum built"
        if hbw_in_zone(s, planned=True) and _overlap(vgr_sweep(s, targets), VGR_ZONE):
            return "collision: the HBW's fork is in the in-feed zone"
        belt = s.axes["conveyor.belt"]
        if belt.moving and _overlap(vgr_sweep(s, targets), VGR_OVER_BELT):
            return "the VGR may not move over a running belt"
    if not extends:
        return None
    station = vgr_station(s)
    if station is None:
        return "VGR Z may not move unless X/Y are at a station"
    if holding and not vacuum_built(s):
        return "VGR may not lower a cookie without the vacuum built"
    return None
