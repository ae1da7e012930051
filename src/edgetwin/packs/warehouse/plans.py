"""Orders as motion sequences: what the controller executes, step by step. Pure code.

An order is planned when it starts, from the machine's state then: ``store`` (a raw cookie
from the intake onto an empty carrier, into its slot), ``process`` (the slot's raw cookie
through the oven, to the packaging station and back into its slot), ``ship`` (the slot's cookie
out through the shipping outlet; the empty carrier goes home) and the ``recover`` sequence of a
reset (every carrier and cookie that an interrupted order left outside the rack goes back, then
every axis home). Each step is a move, an actuator, a wait, or a check of what the machine
really did; the controller refuses a move that breaks an interlock (:mod:`.interlocks`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from edgetwin.packs.warehouse.components import (
    BELT_IN_MM,
    BELT_OUT_MM,
    HBW_HANDOVER,
    HBW_Z_IN_MM,
    PACKAGING_S,
    SLOTS,
    VGR_STATIONS,
    VGR_Z_DOWN_MM,
)
from edgetwin.packs.warehouse.model import CookieState, State

StepKind = Literal["move", "grip", "vacuum", "oven", "supply", "expect", "wait"]


@dataclass(frozen=True)
class Step:
    """One step of a sequence.

    Attributes:
        kind: ``move`` (``targets``: axis -> mm, done when all are at rest there), ``grip`` /
            ``vacuum`` / ``oven`` (``on``), ``supply`` (``cookie``: (id, flavor) at the intake),
            ``wait`` (``seconds``), ``expect`` (``check`` must hold, else the order fails with
            ``reason``).
        what: one line for the log.
    """

    kind: StepKind
    what: str
    targets: Mapping[str, float] = field(default_factory=dict)
    on: bool = False
    seconds: float = 0.0
    cookie: tuple[str, str] | None = None
    check: Callable[[State], bool] | None = None
    reason: str = ""


def move(what: str, **targets: float) -> Step:
    """A move of the axes named ``hbw_x`` ... (``_`` for the dot)."""
    return Step("move", what, targets={k.replace("_", ".", 1): v for k, v in targets.items()})


def expect(what: str, check: Callable[[State], bool], reason: str) -> Step:
    return Step("expect", what, check=check, reason=reason)


def carrier_home(carrier: str) -> str:
    """The slot a carrier lives in (``CAR-B2`` -> ``B2``)."""
    return carrier.removeprefix("CAR-")


# -- the HBW --
def hbw_fetch(slot: str) -> list[Step]:
    """Take the carrier out of ``slot`` and put it on the belt's in-feed."""
    x, y = SLOTS[slot]
    hx, hy = HBW_HANDOVER
    carrier = f"CAR-{slot}"
    return [
        move("HBW fork in", hbw_z=0.0),
        move(f"HBW to {slot}", hbw_x=x, hbw_y=y),
        Step("grip", "HBW latch open", on=False),
        move(f"HBW fork into {slot}", hbw_z=HBW_Z_IN_MM),
        Step("grip", "HBW latch closed", on=True),
        expect(
            f"carrier {carrier} on the fork",
            lambda s: s.hbw_carrier == carrier,
            f"the HBW did not take a carrier from {slot}",
        ),
        move("HBW fork out", hbw_z=0.0),
        move("belt to the in-feed", conveyor_belt=BELT_IN_MM),
        move("HBW to the handover", hbw_x=hx, hbw_y=hy),
        move("HBW fork onto the belt", hbw_z=HBW_Z_IN_MM),
        Step("grip", "HBW latch open", on=False),
        expect(
            "carrier on the belt",
            lambda s: s.belt_carrier == carrier,
            "the HBW did not put the carrier on the belt",
        ),
        move("HBW fork back", hbw_z=0.0),
    ]


def hbw_store(carrier: str) -> list[Step]:
    """Take ``carrier`` off the belt's in-feed and put it into its slot; the HBW ends home."""
    slot = carrier_home(carrier)
    _x, _y = SLOTS[slot]
    hx, hy = HBW_HANDOVER
    return [
        move("HBW fork in", hbw_z=0.0),
        move("HBW to the handover", hbw_x=hx, hbw_y=hy),
        Step("grip", "HBW latch open", on=False),
        move("belt to the in-feed", conveyor_belt=BELT_IN_MM),
        move("HBW fork under the carrier", hbw_z=HBW_Z_IN_MM),
        Step("grip", "HBW latch closed", on=True),
        expect(
            "carrier on the fork",
            lambda s: s.hbw_carrier == carrier,
            "the HBW did not take the carrier off the belt",
        ),
        move("HBW fork back", hbw_z=0.0),
        *hbw_put_home(carrier),
    ]


def hbw_put_home(carrier: str) -> list[Step]:
    """The carrier on the fork into its slot; the HBW ends at the handover, fork in."""
    slot = carrier_home(carrier)
    x, y = SLOTS[slot]
    hx, hy = HBW_HANDOVER
    return [
        move("HBW fork in", hbw_z=0.0),
        move(f"HBW to {slot}", hbw_x=x, hbw_y=y),
        move(f"HBW fork into {slot}", hbw_z=HBW_Z_IN_MM),
        Step("grip", "HBW latch open", on=False),
        expect(
            f"carrier in {slot}",
            lambda s: s.slots.get(slot) == carrier,
            f"the carrier did not go into {slot}",
        ),
        move("HBW fork back", hbw_z=0.0),
        move("HBW home", hbw_x=hx, hbw_y=hy),
    ]


# -- the VGR --
def vgr_to(station: str) -> list[Step]:
    x, y = VGR_STATIONS[station]
    return [move("VGR up", vgr_z=0.0), move(f"VGR to {station}", vgr_x=x, vgr_y=y)]


def vgr_pick(station: str) -> list[Step]:
    """Take the cookie at ``station`` with the suction cup, and lift it."""
    return [
        *vgr_to(station),
        Step("vacuum", "vacuum on", on=True),
        move(f"VGR down at {station}", vgr_z=VGR_Z_DOWN_MM),
        expect(
            "cookie on the suction cup",
            lambda s: s.vgr_cookie is not None,
            f"the VGR took no cookie at {station}",
        ),
        move("VGR up", vgr_z=0.0),
    ]


def vgr_place(station: str, check: Callable[[State], bool], reason: str) -> list[Step]:
    """Put the held cookie down at ``station``."""
    return [
        *vgr_to(station),
        move(f"VGR down at {station}", vgr_z=VGR_Z_DOWN_MM),
        Step("vacuum", "vacuum off", on=False),
        expect(f"cookie put down at {station}", check, reason),
        move("VGR up", vgr_z=0.0),
    ]


def _on_carrier(carrier: str) -> Callable[[State], bool]:
    return lambda s: s.vgr_cookie is None and s.carriers.get(carrier) is not None


def belt(to: float, what: str) -> list[Step]:
    return [*vgr_to("PARK"), move(what, conveyor_belt=to)]


# -- orders --
def plan_store(slot: str, cookie: str, flavor: str) -> list[Step]:
    """A raw cookie from the intake onto ``slot``'s empty carrier and into the rack."""
    carrier = f"CAR-{slot}"
    return [
        Step("supply", f"raw {flavor} dough at the intake", cookie=(cookie, flavor)),
        *hbw_fetch(slot),
        *belt(BELT_OUT_MM, "belt to the VGR"),
        *vgr_pick("INTAKE"),
        *vgr_place("CONVEYOR", _on_carrier(carrier), "the cookie did not go onto the carrier"),
        *belt(BELT_IN_MM, "belt back to the HBW"),
        *hbw_store(carrier),
    ]


def plan_process(slot: str, cookie: str) -> list[Step]:
    """Bake ``slot``'s raw cookie in the oven, package it, and store it back."""
    carrier = f"CAR-{slot}"
    return [
        *hbw_fetch(slot),
        Step("oven", "oven on", on=True),
        *belt(BELT_OUT_MM, "belt through the oven"),
        Step("oven", "oven off", on=False),
        expect(
            "cookie baked",
            lambda s: s.cookies[cookie].state == CookieState.BAKED,
            "the cookie did not bake",
        ),
        *vgr_pick("CONVEYOR"),
        *vgr_place(
            "PACKAGING",
            lambda s: s.packaging == cookie,
            "the cookie did not go onto the packaging station",
        ),
        Step("wait", "packaging", seconds=PACKAGING_S),
        expect(
            "cookie packaged",
            lambda s: s.cookies[cookie].state == CookieState.PACKAGED,
            "the cookie was not packaged",
        ),
        *vgr_pick("PACKAGING"),
        *vgr_place("CONVEYOR", _on_carrier(carrier), "the cookie did not go back on its carrier"),
        *belt(BELT_IN_MM, "belt back to the HBW"),
        *hbw_store(carrier),
    ]


def plan_ship(slot: str, cookie: str) -> list[Step]:
    """``slot``'s cookie out through the shipping outlet; the empty carrier back home."""
    carrier = f"CAR-{slot}"
    return [
        *hbw_fetch(slot),
        *belt(BELT_OUT_MM, "belt to the VGR"),
        *vgr_pick("CONVEYOR"),
        *vgr_place("SHIPPING", lambda s: cookie not in s.cookies, "the cookie was not shipped"),
        *belt(BELT_IN_MM, "belt back to the HBW"),
        *hbw_store(carrier),
    ]


def plan_home() -> list[Step]:
    """Every axis home, Z first: HBW at the handover, belt at the in-feed, VGR parked."""
    hx, hy = HBW_HANDOVER
    return [
        move("Z axes up", hbw_z=0.0, vgr_z=0.0),
        *vgr_to("PARK"),
        move("HBW home", hbw_x=hx, hbw_y=hy),
        move("belt to the in-feed", conveyor_belt=BELT_IN_MM),
    ]


def plan_recover(s: State) -> list[Step]:
    """What a reset does after an interrupted order: cookies back onto their carrier, the
    carrier back into its slot, every axis home. Nothing is lost or created."""
    steps: list[Step] = [move("Z axes up", hbw_z=0.0, vgr_z=0.0)]
    carrier = s.hbw_carrier or s.belt_carrier
    loose = s.vgr_cookie is not None or s.packaging is not None
    if carrier is not None and loose:
        if s.hbw_carrier is not None:  # the carrier onto the belt, for the VGR
            hx, hy = HBW_HANDOVER
            steps += [
                *belt(BELT_IN_MM, "belt to the in-feed"),
                move("HBW to the handover", hbw_x=hx, hbw_y=hy),
                move("HBW fork onto the belt", hbw_z=HBW_Z_IN_MM),
                Step("grip", "HBW latch open", on=False),
                move("HBW fork back", hbw_z=0.0),
            ]
        steps += belt(BELT_OUT_MM, "belt to the VGR")
        if s.vgr_cookie is None:
            steps += vgr_pick("PACKAGING")
        elif not s.vacuum:
            steps.append(Step("vacuum", "vacuum on", on=True))
        steps += vgr_place("CONVEYOR", _on_carrier(carrier), "the cookie did not go back")
        steps += [*belt(BELT_IN_MM, "belt back to the HBW"), *hbw_store(carrier)]
    elif carrier is not None:
        steps += hbw_put_home(carrier) if s.hbw_carrier else [
            *belt(BELT_IN_MM, "belt back to the HBW"), *hbw_store(carrier)
        ]  # fmt: skip
    elif s.vgr_cookie is not None:  # nothing to put it on: back to the intake
        steps += vgr_place("INTAKE", lambda st: st.intake is not None, "intake not free")
    return [*steps, *plan_home()]
