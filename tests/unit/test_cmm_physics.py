"""The CMM twin's pure parts against hand-computed values: room temperature, expansion,
compensation, verdicts, the material table, and the fidelity figures of docs/cmm.md."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from edgetwin.packs.cmm import compensation as c
from edgetwin.packs.cmm import fidelity, model

AL = 23.6e-6


@pytest.mark.parametrize(
    ("t", "temp"), [(0.0, 20.0), (15.0, 25.0), (30.0, 20.0), (45.0, 15.0), (60.0, 20.0)]
)
def test_room_temperature_swings_5_degrees_over_a_minute(t: float, temp: float) -> None:
    assert model.room_temperature(t) == pytest.approx(temp, abs=1e-12)


def test_true_length_expands_linearly() -> None:
    # 100 * (1 + 23.6e-6 * 5) = 100.0118
    assert model.true_length(25.0) == pytest.approx(100.0118, abs=1e-12)
    assert model.true_length(15.0) == pytest.approx(99.9882, abs=1e-12)
    assert model.true_length(20.0) == 100.0


def test_measure_adds_the_sensor_noise_from_the_injected_rng() -> None:
    a = model.measure(15.0, random.Random(1))
    b = model.measure(15.0, random.Random(1))
    assert a == b
    noise = random.Random(1).gauss(0.0, 0.001)
    assert a.observed_length_mm == pytest.approx(100.0118 + noise, abs=1e-12)
    assert (a.temperature_c, a.true_length_mm) == pytest.approx((25.0, 100.0118))


@pytest.mark.parametrize(
    ("length", "temp", "alpha", "l20"),
    [
        (100.0118, 25.0, AL, 100.0),  # the true length at 25 °C comes back to nominal
        (100.005, 30.0, AL, 99.9814043885643),  # 100.005 / 1.000236
        (99.99, 15.5, AL, 100.000620065851),  # 99.99 / (1 - 23.6e-6 * 4.5)
        (50.0, 18.0, 11.7e-6, 50.00117002737864),  # steel: 50 / (1 - 11.7e-6 * 2)
        (42.0, 20.0, AL, 42.0),  # at the reference temperature nothing changes
    ],
)
def test_compensation_hand_computed(length: float, temp: float, alpha: float, l20: float) -> None:
    assert c.compensate(length, temp, alpha) == pytest.approx(l20, abs=1e-10)


def test_compensation_refuses_a_nonsensical_factor() -> None:
    with pytest.raises(ValueError, match="no compensation"):
        c.compensate(100.0, -1e6, AL)


def test_verdict_on_the_compensated_length_and_the_raw_one_beside_it() -> None:
    # A good part at 25 °C: raw 100.0118 fails ±0.005 mm, compensated 100.0 passes.
    r = c.evaluate(100.0118, 25.0, alpha=AL)
    assert (r.verdict, r.raw_verdict, r.status) == ("PASS", "FAIL", c.STATUS_ACTIVE)
    assert r.deviation_um == pytest.approx(0.0, abs=1e-6)
    # A part 6 µm long at 20 °C fails either way; deviation in µm.
    r = c.evaluate(100.006, 20.0, alpha=AL)
    assert (r.verdict, r.raw_verdict, r.status) == ("FAIL", "FAIL", c.STATUS_FAIL)
    assert r.deviation_um == pytest.approx(6.0, abs=1e-6)
    # On the limit passes; a tighter tolerance is honoured.
    assert c.evaluate(100.005, 20.0, alpha=AL).verdict == "PASS"
    assert c.evaluate(100.003, 20.0, alpha=AL, tolerance_mm=0.002).verdict == "FAIL"
    assert c.evaluate(49.999, 20.0, alpha=AL, nominal_mm=50.0).deviation_um == pytest.approx(-1.0)


def test_the_material_table() -> None:
    assert set(c.MATERIALS) >= {"al6061", "steel", "stainless", "brass", "titanium"}
    assert c.alpha_of("al6061") == AL == model.ALPHA_AL6061
    for alpha, source in c.MATERIALS.values():
        assert 1e-6 < alpha < 30e-6
        assert source
    with pytest.raises(KeyError, match="known: al6061"):
        c.alpha_of("unobtainium")


def test_fidelity_over_one_hour_of_simulated_time_and_the_docs_agree() -> None:
    f = fidelity.run(1.0)
    assert f.n == 720
    assert abs(f.comp_mean - 100.0) <= 0.0005
    assert f.comp_sd <= 1.5 * model.SENSOR_SIGMA_MM
    assert f.comp_fail_rate <= 0.003
    assert f.raw_fail_rate > 0.5  # a temperature-blind check fails most good parts
    doc = (Path(__file__).parents[2] / "docs" / "cmm.md").read_text()
    assert f.table() in doc, "docs/cmm.md: run python -m edgetwin.packs.cmm.fidelity"
