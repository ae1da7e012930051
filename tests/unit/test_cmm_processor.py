"""The compensation processor: derived readings with hand-computed values, stable ids, what it
leaves alone, and its config's validation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pydantic
import pytest

from edgetwin.core.point import Point
from edgetwin.packs.cmm.processor import CompensationConfig, CompensationProcessor

TS = datetime(2026, 1, 1, tzinfo=UTC)


def _p(metric: str, value: float, unit: str, line: str = "metrology") -> Point:
    return Point.make(ts=TS, tenant="acme", plant="plant-01", line=line, machine="cmm-01",
                      metric=metric, value=value, unit=unit)  # fmt: skip


def test_a_good_part_in_a_warm_room() -> None:
    proc = CompensationProcessor("c", CompensationConfig(lines=["metrology"]))
    temp, length = _p("temperature", 25.0, "°C"), _p("length", 100.0118, "mm")
    assert proc.wants(temp)
    assert proc.wants(length)
    assert not proc.wants(_p("length", 1.0, "mm", line="other"))
    out = proc.process([temp, length])
    assert out[:2] == [temp, length]  # the inputs go on untouched
    derived = {p.metric: p for p in out[2:]}
    assert derived["compensated_length"].value == pytest.approx(100.0, abs=1e-9)
    assert derived["compensated_length"].unit == "mm"
    assert derived["deviation"].value == pytest.approx(0.0, abs=1e-6)
    assert derived["deviation"].unit == "µm"
    assert (derived["verdict"].value, derived["raw_verdict"].value) == (0.0, 1.0)  # PASS, FAIL
    assert derived["device_status"].value == 1.0  # ACTIVE
    for metric, p in derived.items():
        assert p.id == uuid.uuid5(length.id, metric)  # the same again after a crash
        assert (p.ts, p.machine) == (TS, "cmm-01")
    again = proc.process([temp, length])
    assert [p.id for p in again] == [p.id for p in out]
    assert proc.state()["raw_failed"] == 2


def test_a_long_steel_part_fails_and_a_lone_reading_passes_through() -> None:
    proc = CompensationProcessor("c", CompensationConfig(material="steel", nominal_mm=50.0))
    # 50.0 / (1 - 11.7e-6 * 2) = 50.00117 mm: 1.17 µm is inside ±5 µm; 50.0071 is not.
    out = proc.process([_p("temperature", 18.0, "°C"), _p("length", 50.0071, "mm")])
    derived = {p.metric: p.value for p in out[2:]}
    assert derived["deviation"] == pytest.approx((50.0071 / (1 - 11.7e-6 * 2) - 50.0) * 1000)
    assert (derived["verdict"], derived["device_status"]) == (1.0, 2.0)  # FAIL, FAIL
    lone = [_p("length", 100.0, "mm")]
    assert proc.process(lone) == lone
    assert proc.state()["incomplete"] == 1


def test_config_is_validated() -> None:
    with pytest.raises(pydantic.ValidationError, match="unknown material 'cheese'"):
        CompensationConfig(material="cheese")
    assert CompensationProcessor("c", CompensationConfig(alpha=1e-5)).alpha == 1e-5
    with pytest.raises(pydantic.ValidationError):
        CompensationConfig(tolerance=1.0)  # type: ignore[call-arg]
