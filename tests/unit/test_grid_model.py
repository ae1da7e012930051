"""The breaker's physics: power identities per message, the inverse-time curve, heating."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace

import pytest

from edgetwin.packs.grid import messages
from edgetwin.packs.grid.model import (
    PHASES,
    BreakerParams,
    CommandRefusedError,
    Position,
    TripCause,
    command,
    new_breaker,
    step,
    trip_time,
)
from edgetwin.packs.grid.sim import BreakerDevice

PARAMS = BreakerParams()


def _messages(n: int, seed: int) -> list[dict[str, object]]:
    dev = BreakerDevice("breaker-001", PARAMS, random.Random(seed), auto_reset_s=60.0)
    out = []
    for _ in range(n):
        dev.advance(dev.rng.uniform(0.2, 8.0))
        out.append(dev.telemetry())
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_power_identities_hold_in_every_message_within_rounding(seed: int) -> None:
    for msg in _messages(400, seed):
        m = msg["measurements"]
        assert isinstance(m, dict)
        v = [m["voltage"][p] for p in PHASES]
        i = [m["current"][p] for p in PHASES]
        pf = [m["power"]["phase_factor"][p] for p in PHASES]
        pw = m["power"]
        # what rounding V, I (0.01) and cos φ (1e-4) can move each product by, plus P's own
        slack = sum(0.005 * (a + b) + a * b * 5e-5 + 1e-4 for a, b in zip(v, i, strict=True))
        p = sum(a * b * c for a, b, c in zip(v, i, pf, strict=True))
        q = sum(a * b * math.sqrt(1 - c * c) for a, b, c in zip(v, i, pf, strict=True))
        s = sum(a * b for a, b in zip(v, i, strict=True))
        assert abs(pw["active"] - p) <= slack + 0.005
        assert abs(pw["apparent"] - s) <= slack + 0.005
        # sin φ = sqrt(1 - cos²φ) magnifies cos φ's rounding by cot φ (≤ 2.1 above cos φ 0.9)
        assert abs(pw["reactive"] - q) <= 30 * slack + 0.005
        if s > 0:
            assert abs(pw["factor"] - pw["active"] / pw["apparent"]) <= 1e-4
        else:
            assert pw["active"] == pw["reactive"] == 0.0


def test_the_curve_is_iec_60255_standard_inverse() -> None:
    # t = TMS * 0.14 / (M^0.02 - 1): at TMS 1 and M = 10, 2.97 s (the curve's usual check point)
    assert trip_time(10 * 110.0, replace(PARAMS, tms=1.0)) == pytest.approx(2.971, abs=1e-3)
    assert trip_time(2 * 110.0, PARAMS) == pytest.approx(5.015, abs=1e-3)
    assert trip_time(109.0, PARAMS) == math.inf


def _closed(seed: int) -> BreakerDevice:
    dev = BreakerDevice("breaker-001", PARAMS, random.Random(seed), auto_reset_s=None)
    dev.state = replace(dev.state, i_share=(1.0, 1.0, 1.0), position=Position.CLOSED)
    return dev


@pytest.mark.parametrize("multiple", [1.5, 2.0, 5.0])
def test_a_forced_overcurrent_trips_on_the_curve(multiple: float) -> None:
    dev = _closed(7)
    rng = random.Random(7)
    params = replace(PARAMS, ground_fault_rate=0.0, arc_fault_rate=0.0)
    load = multiple * params.i_pickup / params.i_rated
    b, t, dt = dev.state, 0.0, 0.01
    before = b.trip_count
    while b.position is Position.CLOSED and t < 120:
        b = step(b, params, dt, rng, force_overload=load)
        t += dt
    expected = trip_time(multiple * params.i_pickup, params)
    assert b.position is Position.TRIPPED
    assert b.trip_cause is TripCause.OVERCURRENT
    assert t == pytest.approx(expected, rel=0.03, abs=2 * dt)
    assert b.current == (0.0, 0.0, 0.0)
    assert b.trip_count == before + 1


def test_below_pickup_it_never_trips() -> None:
    b, rng = _closed(3).state, random.Random(3)
    params = replace(PARAMS, ground_fault_rate=0.0, arc_fault_rate=0.0)
    for _ in range(3600):
        b = step(b, params, 1.0, rng, force_overload=0.95 * params.i_pickup / params.i_rated)
    assert b.position is Position.CLOSED
    assert b.trip_integral == 0.0


def test_a_tripped_breaker_closes_only_after_reset() -> None:
    b = replace(new_breaker(PARAMS, random.Random(1)), position=Position.TRIPPED)
    with pytest.raises(CommandRefusedError, match="reset_trip"):
        command(b, "close")
    b = command(command(b, "reset_trip"), "CLOSE")
    assert b.position is Position.CLOSED
    assert command(b, "open").position is Position.OPEN
    with pytest.raises(CommandRefusedError, match="unknown"):
        command(b, "explode")


def test_i_squared_heating_settles_at_the_rated_rise_with_its_time_constant() -> None:
    b, rng = _closed(5).state, random.Random(5)
    params = replace(PARAMS, ground_fault_rate=0.0, arc_fault_rate=0.0)
    b = replace(b, temperature=params.t_ambient)
    for _ in range(int(params.tau_thermal)):  # one time constant: 63 % of the rise
        b = step(b, params, 1.0, rng, force_overload=1.0)
    assert b.temperature - params.t_ambient == pytest.approx(0.632 * params.dt_rated, rel=0.05)
    for _ in range(int(5 * params.tau_thermal)):
        b = step(b, params, 1.0, rng, force_overload=1.0)
    assert b.temperature - params.t_ambient == pytest.approx(params.dt_rated, rel=0.05)


def test_frequency_drifts_slowly_near_nominal() -> None:
    dev = _closed(11)
    seen = []
    for _ in range(2000):
        dev.advance(1.0)
        seen.append(dev.state.frequency)
    assert max(abs(f - 60.0) for f in seen) < 0.1
    assert max(seen) - min(seen) > 0.01  # it moves
    assert max(abs(a - b) for a, b in itertools.pairwise(seen)) < 0.01  # slowly


def test_operating_hours_accumulate_only_while_closed_and_maintenance_falls_due() -> None:
    dev = _closed(2)
    h0 = dev.state.operating_hours
    dev.advance(3600.0)
    assert dev.state.operating_hours - h0 == pytest.approx(1.0, abs=1e-6) or (
        dev.state.position is not Position.CLOSED
    )
    dev.state = replace(dev.state, position=Position.OPEN)
    h1 = dev.state.operating_hours
    dev.advance(600.0)
    assert dev.state.operating_hours == h1
    dev.state = replace(dev.state, trips_since_service=PARAMS.service_trips)
    assert messages.telemetry("b", dev.state, PARAMS, "t")["measurements"]["operational"][
        "maintenance_due"
    ]


def test_a_repeated_command_id_is_answered_again_without_acting_twice() -> None:
    dev = _closed(4)
    first = dev.on_command(b'{"id": "c1", "name": "open"}')
    dev.state = replace(dev.state, position=Position.CLOSED)
    again = dev.on_command(b'{"id": "c1", "name": "open"}')
    assert first == again == {"id": "c1", "name": "OPEN", "ok": True}
    assert dev.state.position is Position.CLOSED
    assert dev.on_command(b"not json")["ok"] is False


def test_every_message_maps_to_declared_channels() -> None:
    from edgetwin.packs.grid.device_types import SMART_BREAKER

    dev = _closed(9)
    burst = [dev.telemetry() for _ in range(3)]
    for msg in [*burst, messages.trends("b", "t", 0, burst), dev.status(), dev.will()]:
        for name, value, unit in messages.channels(msg):
            spec = SMART_BREAKER.metric(name)
            assert spec is not None, name
            assert spec.unit == unit
            assert math.isfinite(value)
    with pytest.raises(messages.MessageError):
        messages.channels({"event_type": "gossip"})
