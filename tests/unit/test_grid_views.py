"""What the grid's tabs show: the monitor's application scope, rates per subject, presence."""

from __future__ import annotations

from edgetwin.core.security import Caller, CallerKind, Role
from edgetwin.packs.grid.views import Rates, app_scope, breaker_view, breakers, presence


def _dev(machine: str, kind: str | None, tenant: str = "acme", **metrics: float) -> dict:
    return {"tenant": tenant, "line": "grid", "machine": machine, "device_type": kind,
            "online": False, "metrics": {k: {"value": v} for k, v in metrics.items()}}  # fmt: skip


def test_the_monitor_sees_breakers_of_its_tenants_only() -> None:
    viewer = Caller("ada", Role.ADMIN, frozenset({"acme"}), CallerKind.USER)
    scope = app_scope(viewer)
    assert scope.kind is CallerKind.APP
    assert scope.role is Role.VIEWER
    devices = [_dev("b-2", "smart_breaker"), _dev("cnc-01", "factory.machine"),
               _dev("b-1", "smart_breaker"), _dev("b-9", "smart_breaker", tenant="beta"),
               _dev("x", None)]  # fmt: skip
    assert [d["machine"] for d in breakers(devices, scope)] == ["b-1", "b-2"]


def test_a_breaker_card_reads_its_channels() -> None:
    b = breaker_view(_dev("b-1", "smart_breaker", presence=1, breaker_state=2, trip_cause=1,
                          active_power=12_000.0, voltage_phase_a=120.0, arc_fault_detected=0))  # fmt: skip
    assert b.online
    assert b.position == "TRIPPED"
    assert b.last_cause == "OVERCURRENT"
    assert b.active_kw == 12.0
    assert b.phases[0] == ("A", 120.0, None, None)
    assert not b.arc


def test_rates_per_subject_over_the_window() -> None:
    r = Rates(window_s=10.0)
    assert r.add({"iot.raw": 100}, now=0.0) == {"iot.raw": 0.0}
    assert r.add({"iot.raw": 120}, now=5.0) == {"iot.raw": 4.0}
    r.add({"iot.raw": 140}, now=10.0)
    assert r.add({"iot.raw": 160}, now=15.0)["iot.raw"] == 4.0  # the oldest sample left


def test_presence_by_the_last_will_for_breakers_and_recency_for_others() -> None:
    devices = [_dev("b-1", "smart_breaker", presence=1), _dev("b-2", "smart_breaker", presence=0),
               {**_dev("cnc", "factory.machine"), "online": True}]  # fmt: skip
    assert presence(devices) == {"factory.machine": (1, 0), "smart_breaker": (1, 1)}
