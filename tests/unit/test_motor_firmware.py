"""The firmware model with an injected clock and a fixed seed: rate, values, status, reset,
watchdog. Time is moved, never slept."""

from __future__ import annotations

import random

import orjson

from edgetwin.packs.motor.firmware import Firmware, status_of


def lines(data: bytes) -> list[dict[str, object]]:
    return [orjson.loads(x) for x in data.splitlines() if x]


def run(fw: Firmware, start: float, end: float, step: float = 0.01) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    t = start
    while t < end:
        out += lines(fw.tick(t))
        t += step
    return out


def readings(items: list[dict[str, object]]) -> list[dict[str, object]]:
    return [x for x in items if "type" not in x]


def test_ten_readings_a_second_with_the_reference_values() -> None:
    fw = Firmware(rng=random.Random(1))
    boot = lines(fw.power_on(0.0))
    assert boot[0]["type"] == "boot"
    assert boot[0]["reset_cause"] == "power_on"
    got = readings(run(fw, 0.0, 60.0))
    assert 599 <= len(got) <= 601
    assert [r["seq"] for r in got] == list(range(1, len(got) + 1))
    temps = [float(r["temperature"]) for r in got]  # type: ignore[arg-type]
    assert min(temps) > 39
    assert max(temps) < 51
    vib = [float(r["vibration"]) for r in got]  # type: ignore[arg-type]
    spikes = sum(v > 1.5 for v in vib) / len(vib)
    assert 0.05 < spikes < 0.15
    assert all(0 <= v <= 2.0 for v in vib)
    assert {r["status"] for r in got} <= {"RUNNING", "ANOMALY"}
    assert {r["device_id"] for r in got} == {"STM32-MOTOR-01"}


def test_heartbeat_every_second() -> None:
    fw = Firmware(rng=random.Random(2))
    fw.power_on(0.0)
    beats = [x for x in run(fw, 0.0, 10.0) if x.get("type") == "heartbeat"]
    assert 9 <= len(beats) <= 11


def test_status_rule() -> None:
    calm = [0.1, 0.2, 0.15, 0.12] * 10
    assert status_of(calm, 0.18, 45.0) == "RUNNING"
    assert status_of(calm, 1.9, 45.0) == "ANOMALY"  # z > 3
    assert status_of(calm, 0.18, 50.5) == "ANOMALY"  # temperature > 50
    assert status_of([0.2] * 50, 0.22, 45.0) == "RUNNING"  # std floor 0.01: z = 2


def test_reboot_really_resets() -> None:
    fw = Firmware(rng=random.Random(3))
    fw.power_on(0.0)
    before = readings(run(fw, 0.0, 5.0))
    assert float(before[-1]["uptime"]) > 4.8  # type: ignore[arg-type]
    out = lines(fw.command(b'{"id": "c-1", "name": "REBOOT"}', 5.0))
    assert out == [{"type": "ack", "cmd": "REBOOT", "id": "c-1", "ok": True}]
    silent = run(fw, 5.0, 5.99)
    assert silent == []  # about a second of silence
    assert fw.command(b"PING", 5.5) == b""  # not listening mid-reset
    after = run(fw, 6.0, 8.0)
    assert after[0] == {
        "type": "boot", "device_id": "STM32-MOTOR-01", "fw": "1.0.0",
        "reset_cause": "command", "id": "c-1",
    }  # fmt: skip
    first = readings(after)[0]
    assert first["seq"] == 1
    assert float(first["uptime"]) < 0.1


def test_plain_reboot_line_as_the_reference_sends_it() -> None:
    fw = Firmware(rng=random.Random(4))
    fw.power_on(0.0)
    assert lines(fw.command(b"REBOOT\r", 1.0))[0]["ok"] is True
    assert fw.resets == 2


def test_every_command_line_is_answered() -> None:
    fw = Firmware(rng=random.Random(5))
    fw.power_on(0.0)
    assert lines(fw.command(b'{"id": "p", "name": "PING"}', 1.0))[0]["ok"] is True
    assert lines(fw.command(b"FLY", 1.0))[0]["ok"] is False
    assert lines(fw.command(b"{not json", 1.0))[0]["ok"] is False


def test_watchdog_resets_a_stalled_device() -> None:
    fw = Firmware(rng=random.Random(6))
    fw.power_on(0.0)
    run(fw, 0.0, 3.0)
    fw.command(b'{"id": "s", "name": "STALL", "args": {"seconds": 30}}', 3.0)
    out = run(fw, 3.0, 6.0)
    boots = [x for x in out if x.get("type") == "boot"]
    assert boots
    assert boots[0]["reset_cause"] == "watchdog"
    assert readings(out)[0]["seq"] == 1
