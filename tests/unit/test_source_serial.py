"""The serial source's line handling: a reading survives any split across reads, line noise
costs only the noise, one bad field costs only that field, and every loss is counted."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from edgetwin.edge.sources.serial import MAX_LINE, SerialSource
from edgetwin.packs.motor.device_types import MOTOR

LINE = {"device_id": "STM32-MOTOR-01", "seq": 7, "uptime": 12.5, "temperature": 45.2,
        "vibration": 0.31, "status": "ANOMALY"}  # fmt: skip


def _source() -> SerialSource:
    return SerialSource("motor", "/dev/null", 115200, tenant="acme", plant="plant-01",
                        line="line-m", device_type=MOTOR, clock=lambda: 1_800_000_000.0)  # fmt: skip


def _readings(src: SerialSource) -> list[dict[str, float]]:
    out = []
    while not src.queue.empty():
        out.append({p.metric: p.value for p in src.queue.get_nowait()})
    return out


def _run(fn: object) -> None:
    async def go() -> None:
        fn()  # type: ignore[operator]

    asyncio.run(go())  # the source's queue lives on a loop, as in the edge


def test_a_reading_split_across_reads_is_whole() -> None:
    raw = orjson.dumps(LINE) + b"\r\n"
    for cut in (1, 10, len(raw) // 2, len(raw) - 2, len(raw) - 1):
        src = _source()
        _run(lambda s=src, c=cut: (s.feed(raw[:c]), s.feed(raw[c:])))
        got = _readings(src)
        assert got == [{"temperature": 45.2, "vibration": 0.31, "status": 1.0, "uptime": 12.5,
                        "seq": 7.0}], cut  # fmt: skip
        assert dict(src.invalid) == {}


def test_noise_before_a_line_costs_only_the_noise() -> None:
    src = _source()
    _run(lambda: (src.feed(b"\x00\xff" + orjson.dumps(LINE) + b"\n"),
                  src.feed(b'{"device_id": "STM32-MO' + orjson.dumps(LINE) + b"\n")))  # fmt: skip
    assert len(_readings(src)) == 2
    assert dict(src.invalid) == {"noise": 2}
    assert src.machine == "stm32-motor-01"


@pytest.mark.parametrize("bad", [None, "NaN", float("nan"), True, "hot"])
def test_one_bad_field_keeps_the_others_and_is_counted(bad: object) -> None:
    src = _source()
    line = orjson.dumps({**LINE, "temperature": bad}, option=orjson.OPT_SERIALIZE_NUMPY)
    _run(lambda: src.feed(line + b"\n"))
    (got,) = _readings(src)
    assert "temperature" not in got
    assert (got["vibration"], len(got)) == (0.31, 4)
    assert dict(src.invalid) == {"bad_temperature": 1}


def test_an_endless_line_is_dropped_counted_and_the_next_one_read() -> None:
    src = _source()
    _run(lambda: (src.feed(b"x" * (MAX_LINE + 10)), src.feed(orjson.dumps(LINE) + b"\n")))
    assert len(_readings(src)) == 1
    assert dict(src.invalid) == {"line_too_long": 1}


def test_an_unknown_status_label_is_a_bad_field() -> None:
    src = _source()
    _run(lambda: src.feed(orjson.dumps({**LINE, "status": "EXPLODED"}) + b"\n"))
    (got,) = _readings(src)
    assert "status" not in got
    assert dict(src.invalid) == {"bad_status": 1}


def test_a_value_beyond_the_platform_range_is_a_bad_field() -> None:
    src = _source()
    _run(lambda: src.feed(orjson.dumps({**LINE, "vibration": 1e308}) + b"\n"))
    (got,) = _readings(src)
    assert "vibration" not in got
    assert dict(src.invalid) == {"bad_vibration": 1}
