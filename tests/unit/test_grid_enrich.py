"""Enrichment as a pure function: metadata and applications from the in-process registry, the
data-quality score, and ids derived from the input's."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import orjson
import pytest

from edgetwin.packs.grid.device_types import SMART_BREAKER
from edgetwin.packs.grid.model import BreakerParams
from edgetwin.packs.grid.sim import BreakerDevice
from edgetwin.streams.enrich import NotEnrichableError, enrich, quality
from edgetwin.streams.registry import RegistryCache, device_type_entry
from edgetwin.streams.subjects import enriched_ids, type_subject

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _cache() -> RegistryCache:
    cache = RegistryCache()
    cache.apply("device_type.smart_breaker", orjson.dumps(device_type_entry(SMART_BREAKER)), 3)
    app = {"id": "a1", "name": "Smart Grid Monitor", "developer": "IoT Solutions Inc.",
           "platform": "web", "category": "monitoring", "status": "active",
           "device_types": ["smart_breaker"], "key_hash": "never shown"}  # fmt: skip
    cache.apply("app.a1", orjson.dumps(app), 4)
    cache.apply("app.a2", orjson.dumps({**app, "id": "a2", "device_types": ["cmm.thermal"]}), 5)
    return cache


def _raw(seed: int = 1) -> dict[str, object]:
    dev = BreakerDevice("breaker-001", BreakerParams(), random.Random(seed))
    dev.advance(5.0)
    return dev.telemetry()


def test_a_breaker_message_gets_its_type_its_apps_and_full_quality() -> None:
    raw = _raw()
    dtype, out = enrich(orjson.dumps(raw), "m-1", _cache(), NOW)
    assert dtype == "smart_breaker"
    assert out["device_metadata"]["device_type_name"] == "Smart Circuit Breaker"
    assert "expected" not in out["device_metadata"]
    apps = out["application_registry"]
    assert apps["registered_applications_count"] == 1
    assert apps["applications"][0]["name"] == "Smart Grid Monitor"
    assert "key_hash" not in apps["applications"][0]  # only the public summary
    assert out["enrichment_info"]["source_message_id"] == "m-1"
    assert out["enrichment_info"]["registry_revision"] == 5
    assert out["measurements"] == raw["measurements"]
    assert out["data_quality"]["score"] == 1.0


def test_quality_counts_missing_and_out_of_range_measurements() -> None:
    raw = _raw()
    m = raw["measurements"]
    assert isinstance(m, dict)
    del m["voltage"]["phase_a"]
    m["frequency"]["value"] = 99.0  # out of its range
    expected = device_type_entry(SMART_BREAKER)["expected"]
    q = quality(m, expected)
    assert q is not None
    assert q["present"] == q["expected"] - 1
    assert q["in_range"] == q["expected"] - 2
    assert q["score"] == pytest.approx((q["expected"] - 2) / q["expected"], abs=1e-4)
    assert quality(m, {}) is None


def test_a_change_event_updates_the_cache_and_a_deletion_removes() -> None:
    cache = _cache()
    cache.apply("app.a1", None, 9)
    _, out = enrich(orjson.dumps(_raw()), "m-2", cache, NOW)
    assert out["application_registry"]["registered_applications_count"] == 0
    cache.apply("device_type.smart_breaker", None, 10)
    _, out = enrich(orjson.dumps(_raw()), "m-3", cache, NOW)
    assert out["device_metadata"] == {"device_type": "smart_breaker", "known": False}
    assert out["data_quality"] is None


@pytest.mark.parametrize("raw", [b"{nope", b"[1, 2]", b'{"device_id": "x"}'])
def test_what_cannot_be_enriched_says_why(raw: bytes) -> None:
    with pytest.raises(NotEnrichableError):
        enrich(raw, "m", _cache(), NOW)


def test_ids_and_subjects_derive_from_the_input() -> None:
    assert enriched_ids("abc") == ("abc:enriched", "abc:typed")
    assert type_subject("smart_breaker") == "iot.smart_breaker.enriched"
    with pytest.raises(ValueError, match="token"):
        type_subject("grid.breaker")
