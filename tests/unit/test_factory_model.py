from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime

from edgetwin.packs.factory.model import LINES, MACHINES, Faults, cycle, machine_values

TS = datetime(2026, 1, 1, tzinfo=UTC)


def test_one_cycle_is_54_readings_with_the_reference_names_and_units() -> None:
    points = cycle(TS, Faults(), random.Random(1), "acme", "plant-01")
    assert len(points) == 54
    assert {(p.line, p.machine) for p in points} == set(MACHINES)
    assert MACHINES[:3] == (
        ("line-01", "cnc-01"),
        ("line-01", "cnc-02"),
        ("line-01", "robot-arm-01"),
    )
    units = {p.metric: p.unit for p in points}
    assert units == {
        "temp": "°C",
        "vibration_rms": "mm/s",
        "energy_kw": "kW",
        "good_count": "units",
        "bad_count": "units",
        "state": "enum",
    }
    assert all(p.ts == TS and p.q == 100 for p in points)
    assert len({p.id for p in points}) == 54


def test_distributions_follow_the_reference() -> None:
    rng = random.Random(7)
    for _line, (_machines, base) in LINES.items():
        samples = [machine_values(base, Faults(), rng) for _ in range(4000)]
        temps = [s["temp"] for s in samples]
        assert abs(statistics.mean(temps) - base.temp) < 0.15
        assert abs(statistics.stdev(temps) - 2.0) < 0.15
        vib = [s["vibration_rms"] for s in samples]
        assert abs(statistics.mean(vib) - base.vibration) < 0.03
        energy = [s["energy_kw"] for s in samples]
        assert abs(statistics.mean(energy) - base.energy) < 0.1
        assert {s["good_count"] for s in samples} == set(map(float, range(8, 16)))
        assert {s["bad_count"] for s in samples} == {0.0, 1.0, 2.0}
        stops = sum(s["state"] == 1 for s in samples) / len(samples)
        assert 0.035 < stops < 0.065
        assert {s["state"] for s in samples} <= {0.0, 1.0}


def test_bearing_fault_raises_every_machine_and_sets_fault_state() -> None:
    rng = random.Random(3)
    for _line, (_machines, base) in LINES.items():
        samples = [machine_values(base, Faults(bearing_fault=True), rng) for _ in range(2000)]
        rise = statistics.mean(s["temp"] for s in samples) - base.temp
        assert 19.5 < rise < 20.5  # U(15, 25) on top of the noise
        vib_rise = statistics.mean(s["vibration_rms"] for s in samples) - base.vibration
        assert 7.3 < vib_rise < 7.7  # U(5, 10)
        assert all(s["state"] == 2 for s in samples)
        assert all(3 <= s["bad_count"] <= 10 for s in samples)


def test_energy_spike_multiplies_energy() -> None:
    normal = cycle(TS, Faults(), random.Random(5), "acme", "plant-01")
    spiked = cycle(TS, Faults(energy_spike=True), random.Random(5), "acme", "plant-01")
    for before, after in zip(normal, spiked, strict=True):
        if before.metric == "energy_kw":
            assert 2.5 <= after.value / before.value <= 4.0


def test_commands_toggle_faults_and_ignore_edge_side_ones() -> None:
    faults = Faults().apply("bearing_fault", True).apply("energy_spike", True)
    assert faults == Faults(bearing_fault=True, energy_spike=True)
    assert faults.apply("network_outage", True) == faults
    assert faults.apply("bearing_fault", False) == Faults(energy_spike=True)


def test_a_stopped_machine_idles_and_the_others_run_on() -> None:
    stopped = frozenset({("line-01", "cnc-01")})
    rng = random.Random(3)
    cycles = [cycle(TS, Faults(), rng, "acme", "plant-01", stopped) for _ in range(50)]

    def values(machine: str, metric: str) -> list[float]:
        return [p.value for c in cycles for p in c if p.machine == machine and p.metric == metric]

    assert set(values("cnc-01", "state")) == {1.0}
    assert set(values("cnc-01", "good_count")) == {0.0}
    assert max(values("cnc-01", "energy_kw")) < 0.2 * 15.0
    assert statistics.mean(values("cnc-01", "temp")) < 45.0 - 8
    assert statistics.mean(values("cnc-02", "energy_kw")) > 14  # base 15 kW, running
    assert min(values("cnc-02", "good_count")) >= 8


def test_device_commands_act_once_and_say_what_changed() -> None:
    from edgetwin.core.settings import Settings
    from edgetwin.packs.factory.sim import FactorySim

    sim = FactorySim(Settings(), random.Random(1))
    stop = sim._device_command("line-01", "cnc-01", "c1", "STOP")
    assert stop == {"id": "c1", "ok": True, "detail": {"before": "running", "after": "stopped"}}
    assert sim.stopped == {("line-01", "cnc-01")}
    assert sim._device_command("line-01", "cnc-01", "c2", "PING")["detail"]["after"] == "stopped"
    assert "unknown command FLY" in sim._device_command("line-01", "cnc-01", "c3", "FLY")["error"]
    assert "no machine" in sim._device_command("line-09", "cnc-01", "c4", "STOP")["error"]
    start = sim._device_command("line-01", "cnc-01", "c5", "START")
    assert start["detail"] == {"before": "stopped", "after": "running"}
    assert sim.stopped == set()
