"""The warehouse controller: PackML states, orders that move cookies, interlocks, emergency stop.
Pure code, fixed seeds, simulated time."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from edgetwin.packs.warehouse.components import SLOTS
from edgetwin.packs.warehouse.controller import Controller, Order
from edgetwin.packs.warehouse.interlocks import collision, refusal
from edgetwin.packs.warehouse.model import AXES, CookieState, initial_state, locate


def ready(**cookies: str) -> Controller:
    c = Controller(
        state=initial_state({s: (f, CookieState.RAW_DOUGH) for s, f in cookies.items()}),
        rng=random.Random(1),
    )
    assert c.reset() is None
    run_until(c, lambda: c.machine_state == "Idle")
    return c


def run_until(c: Controller, done: object, limit: int = 6000) -> int:
    assert callable(done)
    for i in range(limit):
        if done():
            return i
        c.tick()
    raise AssertionError(f"not done after {limit} ticks; state {c.machine_state}")


def finish(c: Controller, order: Order) -> Order:
    assert c.submit(order) is None
    run_until(c, lambda: order.ok is not None and c.machine_state == "Idle")
    return order


def test_reset_brings_the_machine_from_stopped_to_idle_through_packml_states() -> None:
    c = ready()
    states = [e[2] for e in c.events if e[1] == "state"]
    assert states[0].startswith("Stopped -> Resetting")
    assert states[-1].startswith("Resetting -> Idle")


def test_store_process_ship_move_the_cookie_through_its_lifecycle() -> None:
    c = ready()
    stored = finish(c, Order("o1", "store", slot="A1", flavor="VANILLA"))
    assert stored.ok, stored.reason
    cookie = stored.cookie
    assert cookie is not None
    assert c.state.carriers["CAR-A1"] == cookie
    assert c.state.cookies[cookie].state == CookieState.RAW_DOUGH

    seen: list[tuple[CookieState, float]] = []
    order = Order("o2", "process", slot="A1")
    assert c.submit(order) is None
    while order.ok is None or c.machine_state != "Idle":
        s = c.tick()
        state = s.cookies[cookie].state
        if not seen or seen[-1][0] != state:
            seen.append((state, s.pos("conveyor.belt")))
    assert order.ok, order.reason
    assert [x[0] for x in seen] == [CookieState.RAW_DOUGH, CookieState.BAKED, CookieState.PACKAGED]
    assert seen[1][1] >= 700.0  # baked only once the carrier left the oven at L3
    assert order.final_state == "PACKAGED"
    assert c.state.slots["A1"] == "CAR-A1"
    assert c.state.carriers["CAR-A1"] == cookie
    assert locate(c.state) == {cookie: ["A1"]}

    shipped = finish(c, Order("o3", "ship", slot="A1"))
    assert shipped.ok, shipped.reason
    assert shipped.final_state == "SHIPPED"
    assert cookie not in c.state.cookies
    assert c.state.shipped == 1
    assert c.state.carriers["CAR-A1"] is None
    assert c.state.slots["A1"] == "CAR-A1"


def test_orders_are_refused_with_their_reason() -> None:
    c = ready(B2="CHOCO")
    assert finish(c, Order("a", "process", slot="A1")).reason == "slot A1 is empty"
    assert finish(c, Order("b", "store", slot="B2")).reason == "slot B2 is not free"
    assert c.submit(Order("c", "ship", slot="Z9")) == "no slot Z9; slots are A1..C3"
    full = ready(**dict.fromkeys(SLOTS, "CHOCO"))
    assert finish(full, Order("d", "store")).reason == "rack full: no free carrier"
    assert c.counters["refusal"] == 3
    assert full.counters["refusal"] == 1


def test_emergency_stop_halts_within_one_tick_refuses_orders_and_reset_recovers() -> None:
    c = ready(C3="CHOCO")
    order = Order("p", "process", slot="C3")
    assert c.submit(order) is None
    run_until(c, lambda: c.state.axes["conveyor.belt"].moving)  # mid-move, cookie on the belt
    c.emergency_stop("alice")
    before = {a: c.state.pos(a) for a in AXES}
    for _ in range(20):
        c.tick()
        assert {a: c.state.pos(a) for a in AXES} == before
    assert c.machine_state == "Aborted"
    assert order.ok is False
    assert order.reason == "emergency stop"
    assert c.submit(Order("q", "ship", slot="C3")) == "emergency stop latched: reset first"
    assert c.reset() is None
    run_until(c, lambda: c.machine_state == "Idle")
    assert c.state.slots["C3"] == "CAR-C3"  # the carrier is home again with its cookie
    assert c.state.carriers["CAR-C3"] == "CK-C3"
    assert c.state.cookies["CK-C3"].state == CookieState.RAW_DOUGH  # the oven never finished
    again = finish(c, Order("r", "process", slot="C3"))
    assert again.ok, again.reason
    assert again.final_state == "PACKAGED"


def test_interlocks_refuse_unsafe_moves_and_count_them() -> None:
    c = ready()
    s = c.state
    assert refusal(s, {"hbw.z": 100.0}) is None  # at the handover, belt at the in-feed
    assert c.jog("hbw.x", 150.0) is None
    run_until(c, lambda: not c.busy)
    assert c.jog("hbw.z", 50.0) == "HBW Z may not move unless X/Y are at a slot or the handover"
    assert c.jog("vgr.y", 0.0) is None
    run_until(c, lambda: not c.busy)
    reason = c.jog("conveyor.belt", 500.0)
    assert reason == "the belt may not start while the VGR is over it"
    assert c.jog("vgr.x", 100.0) is None  # into the in-feed zone
    run_until(c, lambda: not c.busy)
    assert c.jog("hbw.x", 0.0) is None
    run_until(c, lambda: not c.busy)
    assert c.jog("hbw.z", 100.0) == "collision: the VGR is in the in-feed zone"
    assert c.counters["interlock"] == 3
    assert not collision(c.state)


# -- property: random orders, emergency stops, resets and jogs never break the invariants --
SLOT_NAMES = sorted(SLOTS)
action = st.one_of(
    st.tuples(st.just("store"), st.sampled_from([None, *SLOT_NAMES])),
    st.tuples(st.just("process"), st.sampled_from(SLOT_NAMES)),
    st.tuples(st.just("ship"), st.sampled_from(SLOT_NAMES)),
    st.tuples(st.just("estop"), st.none()),
    st.tuples(st.just("reset"), st.none()),
    st.tuples(  # positions near the in-feed zone and the stations, and anywhere
        st.just("jog"),
        st.tuples(
            st.sampled_from(sorted(AXES)),
            st.sampled_from([0.0, 30.0, 100.0, 150.0, 950.0]) | st.floats(0, 1000),
        ),
    ),
    st.tuples(st.just("ticks"), st.integers(1, 120)),
)


def ticks_checked(c: Controller, n: int, until_idle: bool = False) -> None:
    """Run ``n`` ticks (or until no sequence runs), checking the invariants after each."""
    for _ in range(n):
        if until_idle and not c.busy:
            return
        latched = c.latched
        before = {a: c.state.pos(a) for a in AXES}
        s = c.tick()
        assert not collision(s)
        if latched:
            assert {a: s.pos(a) for a in AXES} == before
        assert all(len(places) == 1 for places in locate(s).values()), locate(s)
        assert s.dropped == 0


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(action, max_size=20), st.dictionaries(st.sampled_from(SLOT_NAMES),
                                                      st.just("CHOCO"), max_size=5))  # fmt: skip
def test_no_collision_no_move_while_latched_no_cookie_in_two_places(
    actions: list[tuple[str, object]], cookies: dict[str, str]
) -> None:
    c = ready(**cookies)
    for n, (kind, arg) in enumerate(actions):
        if kind in ("store", "process", "ship"):
            c.submit(Order(f"o{n}", kind, slot=arg))  # type: ignore[arg-type]
        elif kind == "estop":
            c.emergency_stop("prop")
        elif kind == "reset":
            c.reset()
        elif kind == "jog":
            axis, target = arg  # type: ignore[misc]
            c.jog(axis, target)
            ticks_checked(c, 150, until_idle=True)
        else:
            ticks_checked(c, arg)  # type: ignore[arg-type]
    total = len(c.state.cookies) + c.state.shipped
    assert total >= len(cookies)  # nothing vanished: every cookie is somewhere or shipped
