"""The warehouse's physics: motion that settles, energy that adds up, wear, material that moves
only with the machine. Fixed seeds, no clock."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from edgetwin.packs.warehouse.components import (
    BARRIERS,
    COMPONENTS,
    HBW_HANDOVER,
    SLOTS,
    SPECS,
    TICK_S,
    VOLTAGE_V,
)
from edgetwin.packs.warehouse.kinematics import Axis, advance, plan, plan_profile
from edgetwin.packs.warehouse.model import (
    AXES,
    CookieState,
    Inputs,
    Motor,
    State,
    current_at,
    initial_state,
    locate,
    step,
)


def run(state: State, inputs: Inputs, ticks: int, rng: random.Random) -> list[State]:
    out = []
    for i in range(ticks):
        state = step(state, inputs if i == 0 else Inputs(), TICK_S, rng)
        out.append(state)
    return out


def test_fourteen_components_with_their_spec_sheets() -> None:
    assert len(COMPONENTS) == 14
    assert SPECS["HBW_X_MOTOR"].running_a == 1.5
    assert SPECS["HBW_Z_MOTOR"].running_a == 1.0
    assert SPECS["VGR_Z_MOTOR"].running_a == 0.8
    comp = SPECS["VGR_COMP"]
    assert (comp.idle_a, comp.inrush_a, comp.running_a) == (0.1, 4.0, 2.5)
    assert BARRIERS == {"CONV_L1": 100.0, "CONV_L2": 400.0, "CONV_L3": 700.0, "CONV_L4": 950.0}
    assert sorted(SLOTS) == [f"{r}{c}" for r in "ABC" for c in "123"]


@pytest.mark.parametrize("slot", sorted(SLOTS))
def test_each_slot_is_reached_within_1_mm_without_overshoot_and_stays(slot: str) -> None:
    x, y = SLOTS[slot]
    states = run(initial_state(), Inputs(targets={"hbw.x": x, "hbw.y": y}), 120, random.Random(1))
    for axis, start, target in (("hbw.x", HBW_HANDOVER[0], x), ("hbw.y", HBW_HANDOVER[1], y)):
        path = [s.pos(axis) for s in states]
        sign = 1 if target >= start else -1
        # never beyond the target by more than 1 mm, never backwards: no hunting
        assert all(sign * (p - target) <= 1.0 for p in path)
        assert all(sign * (b - a) >= 0 for a, b in itertools.pairwise(path))
        arrived = next(i for i, p in enumerate(path) if abs(p - target) <= 1.0)
        assert all(abs(p - target) <= 1.0 for p in path[arrived:])  # stays
        assert arrived < 60  # ≤ 300 mm at 100 mm/s with the ramps: well within 6 s
    assert not states[-1].axes["hbw.x"].moving
    assert not states[-1].axes["hbw.y"].moving


def test_trapezoid_respects_the_limits() -> None:
    axis, speeds = plan(Axis(0.0), 500.0), []
    while axis.moving:
        axis = advance(axis, 0.01)
        speeds.append(axis.vel)
    assert axis.pos == 500.0
    assert max(speeds) <= 100.0 + 1e-6
    accel = [(b - a) / 0.01 for a, b in itertools.pairwise(speeds)]
    assert max(accel[:-1]) <= 400.0 * 1.05
    assert min(accel[:-1]) >= -200.0 * 1.05
    short = plan_profile(10.0)
    assert short.t_cruise == 0.0
    assert short.v_peak < 100.0


def test_energy_equals_the_integral_of_v_times_i_within_1_percent() -> None:
    rng, state = random.Random(7), initial_state()
    moves = [{"hbw.x": 300.0, "hbw.y": 300.0}, {"hbw.z": 100.0}, {"vgr.x": 900.0}, {"hbw.z": 0.0}]
    trace: list[tuple[str, float | None]] = []  # (motor, on_for at the tick's start)
    for move in moves:
        for i in range(80):
            state = step(state, Inputs(targets=move, vacuum=i < 40) if i == 0 else Inputs(
                vacuum=i < 40), TICK_S, rng)  # fmt: skip
            for m, after in state.motors.items():
                on_for = None if after.on_for is None else after.on_for - TICK_S
                trace.append((m, on_for))
    # an independent integral: the instantaneous current at 1 ms
    fine = 0.0
    for m, on_for in trace:
        for k in range(100):
            t = None if on_for is None else on_for + (k + 0.5) * 0.001
            fine += VOLTAGE_V * current_at(SPECS[m], t) * 0.001
    logged = sum(m.energy_j for m in state.motors.values())
    assert fine > 0
    assert abs(logged - fine) / fine < 0.01
    # the reported tick currents add up to the same energy
    assert sum(1 for _m, on in trace if on is not None and on < 0.5) > 0  # inrush was seen


def test_reported_currents_sum_to_the_energy() -> None:
    rng, state, total = random.Random(3), initial_state(), 0.0
    for i in range(200):
        inputs = Inputs(targets={"conveyor.belt": 900.0 if i < 100 else 0.0}, vacuum=i % 50 < 20)
        state = step(state, inputs, TICK_S, rng)
        total += sum(VOLTAGE_V * m.current_a * TICK_S for m in state.motors.values())
    energy = sum(m.energy_j for m in state.motors.values())
    assert total == pytest.approx(energy, rel=1e-9)
    assert state.motors["CONV_M1"].running_s > 10.0


def test_ttf_falls_as_health_does_and_wear_shows_below_the_thresholds() -> None:
    healths = [1.0, 0.9, 0.8, 0.6, 0.5, 0.4]
    ttfs = [Motor(health=h).ttf_h for h in healths]
    assert ttfs == sorted(ttfs, reverse=True)
    assert ttfs[-1] == 0.0
    assert Motor(health=1.0).ttf_h == pytest.approx(0.5 / 0.0001 / 3600)
    rng = random.Random(11)
    for health, spikes, stops in ((0.9, False, False), (0.7, True, False), (0.4, True, True)):
        state = initial_state()
        motors = {**state.motors, "CONV_M1": replace(state.motors["CONV_M1"], health=health)}
        state = replace(state, motors=motors)
        before = state.motors["CONV_M1"].health
        for _ in range(400):
            state = step(state, Inputs(targets={"conveyor.belt": 999.0}), TICK_S, rng)
            if not state.axes["conveyor.belt"].moving:
                state = step(state, Inputs(targets={"conveyor.belt": 0.0}), TICK_S, rng)
        m = state.motors["CONV_M1"]
        assert (m.spikes > 0) is spikes
        assert (m.stops > 0) is stops
        assert m.health == pytest.approx(before - 0.0001 * m.running_s)
        assert m.ttf_h <= Motor(health=before).ttf_h


def test_a_cookie_bakes_only_by_crossing_the_oven_with_the_oven_on() -> None:
    rng = random.Random(5)
    start = initial_state({"A1": ("CHOCO", CookieState.RAW_DOUGH)})
    # put the carrier on the belt directly (the controller's tests do it with the HBW)
    state = replace(start, slots={**start.slots, "A1": None}, belt_carrier="CAR-A1")
    cold = run(state, Inputs(targets={"conveyor.belt": 950.0}), 150, rng)[-1]
    assert cold.cookies["CK-A1"].state == CookieState.RAW_DOUGH
    assert cold.barriers["CONV_L4"]
    assert not cold.barriers["CONV_L1"]
    back = run(cold, Inputs(targets={"conveyor.belt": 0.0}), 150, rng)[-1]
    hot = run(back, Inputs(targets={"conveyor.belt": 950.0}, oven=True), 150, rng)
    assert hot[-1].cookies["CK-A1"].state == CookieState.BAKED
    baked_at = next(s for s in hot if s.cookies["CK-A1"].state == CookieState.BAKED)
    assert baked_at.pos("conveyor.belt") >= 700.0
    assert locate(hot[-1]) == {"CK-A1": ["CONVEYOR"]}


def test_emergency_stop_halts_every_axis_in_the_tick() -> None:
    rng, state = random.Random(2), initial_state()
    targets = {"hbw.x": 300.0, "hbw.y": 400.0, "hbw.z": 100.0, "conveyor.belt": 900.0,
               "vgr.x": 100.0, "vgr.y": 0.0, "vgr.z": 150.0}  # fmt: skip
    state = run(state, Inputs(targets=targets), 10, rng)[-1]
    assert all(state.axes[a].moving for a in AXES)
    stopped = step(state, Inputs(estop=True), TICK_S, rng)
    later = run(stopped, Inputs(estop=True), 5, rng)[-1]
    for a in AXES:
        assert not stopped.axes[a].moving
        assert stopped.pos(a) == state.pos(a)
        assert later.pos(a) == state.pos(a)
