"""Physics of the tabletop warehouse at 10 Hz. Pure code: ``step(state, inputs, dt, rng)``.

What is simulated, each tick:

- **Axes** (HBW X/Y/Z, the conveyor belt, VGR X/Y/Z) follow planned trapezoids
  (:mod:`.kinematics`); an emergency stop halts every axis in the tick it is seen.
- **Motors** (:mod:`.components`): a switched-off motor draws its idle current; switched on, its
  inrush for the first 0.5 s, then its running current. The energy of a tick is the exact
  integral ``∫V·I dt`` of that piecewise-constant current over the tick, so the inrush is counted
  to the millisecond whatever the tick. The current reported is the tick's mean, hence
  ``Σ V·I·dt`` of the reports equals the energy.
- **Wear**: health falls 0.0001 per second of running. Below 0.8 each running tick has a 5 %
  chance of a 3.5 A spike (bearing wear); below 0.5 a 2 % chance of a micro-stoppage (the axis
  stands still for the tick, the motor draws idle current). Time to failure
  ``(health − 0.5) / 0.0001 / 3600`` h (reference).
- **Material**: carriers and cookies move only with the machine. The HBW's fork takes or puts a
  carrier when it is extended at a slot or at the handover; the belt carries its carrier; a
  carrier that crosses the oven (L2 then L3) with the oven on bakes its raw cookie; the VGR's
  suction cup takes a cookie when lowered at a station with the vacuum built and puts it down
  when the vacuum is released there (elsewhere the cookie is dropped and counted); the packaging
  station wraps a baked cookie in 2 s; a cookie put on the shipping outlet is shipped.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from edgetwin.packs.warehouse.components import (
    BARRIERS,
    BELT_IN_MM,
    BELT_OUT_MM,
    CARRIER_HALF_MM,
    HBW_HANDOVER,
    HBW_Z_IN_MM,
    OVEN,
    PACKAGING_S,
    POSITION_TOLERANCE_MM,
    POWERED,
    SLOTS,
    SPECS,
    VGR_STATIONS,
    VGR_Z_DOWN_MM,
    VOLTAGE_V,
    ComponentSpec,
)
from edgetwin.packs.warehouse.kinematics import Axis, advance, halt, plan

WEAR_PER_S = 0.0001  # health lost per second of running (reference)
SPIKE_BELOW, SPIKE_P = 0.8, 0.05  # health below which a tick may spike, and its chance
STOP_BELOW, STOP_P = 0.5, 0.02  # health below which a tick may stall, and its chance
GRIPPER_S = 1.0  # the HBW latch's actuator runs this long after each change
EPS_S = 1e-9  # sums of 0.1 s ticks are not exact in binary; compare durations with this slack

AXES: dict[str, str] = {
    "hbw.x": "HBW_X_MOTOR",
    "hbw.y": "HBW_Y_MOTOR",
    "hbw.z": "HBW_Z_MOTOR",
    "conveyor.belt": "CONV_M1",
    "vgr.x": "VGR_X_MOTOR",
    "vgr.y": "VGR_Y_MOTOR",
    "vgr.z": "VGR_Z_MOTOR",
}
"""Axis name -> the motor that drives it."""


class CookieState(StrEnum):
    """A cookie's lifecycle (reference): RAW_DOUGH -> BAKED -> PACKAGED -> SHIPPED."""

    RAW_DOUGH = "RAW_DOUGH"
    BAKED = "BAKED"
    PACKAGED = "PACKAGED"
    SHIPPED = "SHIPPED"


@dataclass(frozen=True)
class Cookie:
    id: str
    flavor: str
    state: CookieState = CookieState.RAW_DOUGH


@dataclass(frozen=True)
class Motor:
    """One powered component: switched on for ``on_for`` s (None: off), mean current of the last
    tick (A), energy drawn (J), running time (s), health (1 new .. 0), counts of spikes and
    micro-stoppages, and whether the last tick stalled."""

    on_for: float | None = None
    current_a: float = 0.0
    energy_j: float = 0.0
    running_s: float = 0.0
    health: float = 1.0
    spikes: int = 0
    stops: int = 0
    stalled: bool = False

    @property
    def ttf_h(self) -> float:
        """Hours of running left before health reaches 0.5 (reference); 0 when below."""
        return max(0.0, (self.health - 0.5) / WEAR_PER_S / 3600)


def current_at(spec: ComponentSpec, on_for: float | None) -> float:
    """Instantaneous current, A, of a healthy component switched on ``on_for`` s ago (None:
    off): idle, inrush during the first ``inrush_s``, then running (reference)."""
    if on_for is None:
        return spec.idle_a
    return spec.inrush_a if on_for < spec.inrush_s else spec.running_a


def tick_charge(spec: ComponentSpec, on_for: float | None, dt: float) -> float:
    """Exact ``∫I dt`` (A·s) over a tick of ``dt`` s that starts ``on_for`` s after switch-on."""
    if on_for is None:
        return spec.idle_a * dt
    inrush = min(max(spec.inrush_s - on_for, 0.0), dt)
    return spec.inrush_a * inrush + spec.running_a * (dt - inrush)


@dataclass(frozen=True)
class Inputs:
    """What the controller asks of the machine for one tick.

    Attributes:
        targets: axis name (:data:`AXES`) -> target, mm; an axis at rest starts a move there,
            one moving keeps its move.
        gripper: close (True) or open (False) the HBW's latch; None keeps it.
        vacuum: switch the VGR's compressor and valve on or off; None keeps it.
        oven: switch the oven on or off; None keeps it.
        estop: emergency stop: every axis halts in this tick, the oven goes off.
        supply: ``(cookie id, flavor)`` of a raw cookie put at the intake (when it is free).
    """

    targets: Mapping[str, float] = field(default_factory=dict)
    gripper: bool | None = None
    vacuum: bool | None = None
    oven: bool | None = None
    estop: bool = False
    supply: tuple[str, str] | None = None


@dataclass(frozen=True)
class State:
    """The whole machine. Positions in mm, times in s; material by id.

    ``slots``: slot -> carrier id or None; ``carriers``: carrier -> cookie id or None;
    ``cookies``: every cookie not yet shipped or dropped; ``baking``: the carrier that entered the
    oven with the oven on.
    """

    t: float = 0.0
    axes: Mapping[str, Axis] = field(default_factory=lambda: {a: Axis(0.0) for a in AXES})
    gripper_closed: bool = False
    gripper_t: float = GRIPPER_S
    vacuum: bool = False
    oven: bool = False
    hbw_carrier: str | None = None
    belt_carrier: str | None = None
    vgr_cookie: str | None = None
    intake: str | None = None
    packaging: str | None = None
    packaging_t: float = 0.0
    baking: str | None = None
    slots: Mapping[str, str | None] = field(default_factory=dict)
    carriers: Mapping[str, str | None] = field(default_factory=dict)
    cookies: Mapping[str, Cookie] = field(default_factory=dict)
    shipped: int = 0
    dropped: int = 0
    motors: Mapping[str, Motor] = field(default_factory=lambda: {m: Motor() for m in POWERED})
    barriers: Mapping[str, bool] = field(default_factory=lambda: dict.fromkeys(BARRIERS, False))

    def pos(self, axis: str) -> float:
        return self.axes[axis].pos

    def xy_at(self, device: str, xy: tuple[float, float]) -> bool:
        """Both X and Y of ``device`` (``hbw``, ``vgr``) at rest on ``xy`` within ±1 mm."""
        x, y = self.axes[f"{device}.x"], self.axes[f"{device}.y"]
        tol = POSITION_TOLERANCE_MM
        return x.at(xy[0], tol) and y.at(xy[1], tol)

    def power_w(self) -> float:
        """Electrical power drawn in the last tick, W."""
        return VOLTAGE_V * sum(m.current_a for m in self.motors.values())


def initial_state(cookies: Mapping[str, tuple[str, CookieState]] | None = None) -> State:
    """The rack with a carrier in each slot (``CAR-A1`` lives in ``A1``), axes home; ``cookies``
    puts ``slot -> (flavor, state)`` on those slots' carriers (ids ``CK-A1``...)."""
    slots = {s: f"CAR-{s}" for s in SLOTS}
    carriers: dict[str, str | None] = dict.fromkeys(slots.values())
    found: dict[str, Cookie] = {}
    for slot, (flavor, state) in (cookies or {}).items():
        found[f"CK-{slot}"] = Cookie(f"CK-{slot}", flavor, state)
        carriers[f"CAR-{slot}"] = f"CK-{slot}"
    axes = {a: Axis(0.0) for a in AXES}
    axes["hbw.x"], axes["hbw.y"] = Axis(HBW_HANDOVER[0]), Axis(HBW_HANDOVER[1])
    park = VGR_STATIONS["PARK"]
    axes["vgr.x"], axes["vgr.y"] = Axis(park[0]), Axis(park[1])
    return State(axes=axes, slots=slots, carriers=carriers, cookies=found)


def step(state: State, inputs: Inputs, dt: float, rng: random.Random) -> State:
    """The machine ``dt`` s later (see the module's docstring). ``state`` is not changed."""
    axes = dict(state.axes)
    gripper, gripper_t = state.gripper_closed, state.gripper_t + dt
    vacuum, oven = state.vacuum, state.oven
    if inputs.estop:
        axes = {name: halt(a) for name, a in axes.items()}
        oven = False
    else:
        for name, target in inputs.targets.items():
            if not axes[name].moving:
                axes[name] = plan(axes[name], target)
        if inputs.gripper is not None and inputs.gripper != gripper:
            gripper, gripper_t = inputs.gripper, 0.0
        vacuum = vacuum if inputs.vacuum is None else inputs.vacuum
        oven = oven if inputs.oven is None else inputs.oven
    on = dict.fromkeys(POWERED, False)
    for name, motor in AXES.items():
        on[motor] = axes[name].moving
    on["HBW_GRIPPER"] = gripper_t < GRIPPER_S - EPS_S
    on["VGR_COMP"] = on["VGR_VALVE"] = vacuum
    motors = {m: _motor(SPECS[m], state.motors[m], on[m], dt, rng) for m in POWERED}
    for name, motor in AXES.items():
        axes[name] = advance(axes[name], dt, stalled=motors[motor].stalled)
    s = replace(
        state, t=state.t + dt, axes=axes, gripper_closed=gripper, gripper_t=gripper_t,
        vacuum=vacuum, oven=oven, motors=motors,
    )  # fmt: skip
    if inputs.supply is not None and s.intake is None:
        cid, flavor = inputs.supply
        if cid not in s.cookies:
            s = replace(s, intake=cid, cookies={**s.cookies, cid: Cookie(cid, flavor)})
    s = _hbw_transfer(s)
    s = _belt(s, state.pos("conveyor.belt"))
    s = _vgr_transfer(s)
    return _packaging(s, dt)


def _motor(spec: ComponentSpec, m: Motor, on: bool, dt: float, rng: random.Random) -> Motor:
    on_for = (0.0 if m.on_for is None else m.on_for) if on else None
    stalled = spike = False
    if on_for is not None and spec.axis is not None and m.health < STOP_BELOW:
        stalled = rng.random() < STOP_P
    if on_for is not None and not stalled and m.health < SPIKE_BELOW:
        spike = rng.random() < SPIKE_P
    if stalled:
        charge = spec.idle_a * dt
    elif spike:
        charge = spec.spike_a * dt
    else:
        charge = tick_charge(spec, on_for, dt)
    running = dt if on_for is not None else 0.0
    return Motor(
        on_for=None if on_for is None else on_for + dt,
        current_a=charge / dt,
        energy_j=m.energy_j + VOLTAGE_V * charge,
        running_s=m.running_s + running,
        health=max(0.0, m.health - WEAR_PER_S * running),
        spikes=m.spikes + spike,
        stops=m.stops + stalled,
        stalled=stalled,
    )


def hbw_place(s: State) -> str | None:
    """Where the HBW's X/Y stand at rest: a slot name, ``HANDOVER``, or None."""
    if s.xy_at("hbw", HBW_HANDOVER):
        return "HANDOVER"
    for slot, xy in SLOTS.items():
        if s.xy_at("hbw", xy):
            return slot
    return None


def vgr_station(s: State) -> str | None:
    """The VGR station its X/Y stand on at rest, or None."""
    for name, xy in VGR_STATIONS.items():
        if s.xy_at("vgr", xy):
            return name
    return None


def _hbw_transfer(s: State) -> State:
    if not s.axes["hbw.z"].at(HBW_Z_IN_MM, POSITION_TOLERANCE_MM):
        return s
    place = hbw_place(s)
    belt_in = s.axes["conveyor.belt"].at(BELT_IN_MM, POSITION_TOLERANCE_MM)
    if place is None or s.gripper_t < GRIPPER_S - EPS_S:
        return s
    if s.gripper_closed and s.hbw_carrier is None:
        if place == "HANDOVER" and belt_in and s.belt_carrier is not None:
            return replace(s, hbw_carrier=s.belt_carrier, belt_carrier=None)
        if place in s.slots and s.slots[place] is not None:
            return replace(s, hbw_carrier=s.slots[place], slots={**s.slots, place: None})
    if not s.gripper_closed and s.hbw_carrier is not None:
        if place == "HANDOVER" and belt_in and s.belt_carrier is None:
            return replace(s, belt_carrier=s.hbw_carrier, hbw_carrier=None)
        if place in s.slots and s.slots[place] is None:
            return replace(s, slots={**s.slots, place: s.hbw_carrier}, hbw_carrier=None)
    return s


def _belt(s: State, before: float) -> State:
    pos = s.pos("conveyor.belt")
    carrier = s.belt_carrier
    barriers = {
        b: carrier is not None and abs(pos - at) <= CARRIER_HALF_MM for b, at in BARRIERS.items()
    }
    baking = s.baking if (s.oven and carrier is not None and s.baking == carrier) else None
    entry, exit_ = BARRIERS[OVEN[0]], BARRIERS[OVEN[1]]
    if carrier is not None and s.oven and before < entry <= pos:
        baking = carrier
    cookies = s.cookies
    if baking is not None and before < exit_ <= pos:
        cid = s.carriers.get(baking)
        if cid is not None and cookies[cid].state == CookieState.RAW_DOUGH:
            cookies = {**cookies, cid: replace(cookies[cid], state=CookieState.BAKED)}
        baking = None
    return replace(s, barriers=barriers, baking=baking, cookies=cookies)


def vacuum_built(s: State) -> bool:
    """The suction cup holds: the valve is open and the compressor is past its start-up."""
    comp = s.motors["VGR_COMP"]
    inrush = SPECS["VGR_COMP"].inrush_s
    return s.vacuum and comp.on_for is not None and comp.on_for >= inrush - EPS_S


def _vgr_transfer(s: State) -> State:
    down = s.axes["vgr.z"].at(VGR_Z_DOWN_MM, POSITION_TOLERANCE_MM)
    station = vgr_station(s) if down else None
    built = vacuum_built(s)
    belt_out = s.axes["conveyor.belt"].at(BELT_OUT_MM, POSITION_TOLERANCE_MM)
    carrier = s.belt_carrier if belt_out else None
    held = s.vgr_cookie
    if held is None:
        if not built or station is None:
            return s
        if station == "INTAKE" and s.intake is not None:
            return replace(s, vgr_cookie=s.intake, intake=None)
        if station == "CONVEYOR" and carrier is not None and s.carriers[carrier] is not None:
            carriers = {**s.carriers, carrier: None}
            return replace(s, vgr_cookie=s.carriers[carrier], carriers=carriers)
        if station == "PACKAGING" and s.packaging is not None:
            return replace(s, vgr_cookie=s.packaging, packaging=None)
        return s
    if s.vacuum:
        return s
    if station == "CONVEYOR" and carrier is not None and s.carriers[carrier] is None:
        return replace(s, vgr_cookie=None, carriers={**s.carriers, carrier: held})
    if station == "PACKAGING" and s.packaging is None:
        return replace(s, vgr_cookie=None, packaging=held, packaging_t=0.0)
    if station == "INTAKE" and s.intake is None:
        return replace(s, vgr_cookie=None, intake=held)
    cookies = dict(s.cookies)
    del cookies[held]
    if station == "SHIPPING":
        return replace(s, vgr_cookie=None, cookies=cookies, shipped=s.shipped + 1)
    return replace(s, vgr_cookie=None, cookies=cookies, dropped=s.dropped + 1)


def _packaging(s: State, dt: float) -> State:
    cid = s.packaging
    if cid is None or s.cookies[cid].state != CookieState.BAKED:
        return s
    t = s.packaging_t + dt
    if t < PACKAGING_S - EPS_S:
        return replace(s, packaging_t=t)
    packed = replace(s.cookies[cid], state=CookieState.PACKAGED)
    return replace(s, packaging_t=t, cookies={**s.cookies, cid: packed})


def locate(s: State) -> dict[str, list[str]]:
    """cookie id -> every place it is found (a sound state has exactly one each): a slot,
    ``HBW``, ``CONVEYOR``, ``VGR``, ``INTAKE`` or ``PACKAGING``."""
    where_carrier: dict[str, str] = {c: slot for slot, c in s.slots.items() if c is not None}
    if s.hbw_carrier is not None:
        where_carrier[s.hbw_carrier] = "HBW"
    if s.belt_carrier is not None:
        where_carrier[s.belt_carrier] = "CONVEYOR"
    found: dict[str, list[str]] = {cid: [] for cid in s.cookies}
    for carrier, cid in s.carriers.items():
        if cid is not None:
            found.setdefault(cid, []).append(where_carrier.get(carrier, "?"))
    for place, cid in (("VGR", s.vgr_cookie), ("INTAKE", s.intake), ("PACKAGING", s.packaging)):
        if cid is not None:
            found.setdefault(cid, []).append(place)
    return found
