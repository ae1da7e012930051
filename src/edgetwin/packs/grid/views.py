"""What the grid's pages show, computed from the cloud's answers (no I/O, no widgets).

The monitor reads with a grid application's scope: :func:`app_scope` is the caller an
application registered for ``smart_breaker`` would be, and :func:`breakers` keeps only the
devices that caller may see (the same rule the API applies to an application's key), so the
monitor shows breaker data and nothing of the other twins.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edgetwin.core.security import Caller, CallerKind, Role
from edgetwin.packs.grid.messages import DEVICE_TYPE, POSITIONS, TRIP_CAUSES
from edgetwin.packs.grid.model import PHASES


def app_scope(viewer: Caller) -> Caller:
    """The caller a grid application of the viewer's tenants is: a viewer of ``smart_breaker``."""
    return Caller(f"{viewer.name} as grid app", Role.VIEWER, viewer.tenants, CallerKind.APP,
                  device_types=frozenset({DEVICE_TYPE}))  # fmt: skip


def breakers(devices: Iterable[Mapping[str, Any]], scope: Caller) -> list[Mapping[str, Any]]:
    """The devices ``scope`` may see, by machine name."""
    seen = [d for d in devices
            if scope.may_see(str(d["tenant"])) and scope.may_see_type(d.get("device_type"))]  # fmt: skip
    return sorted(seen, key=lambda d: str(d["machine"]))


def value(device: Mapping[str, Any], metric: str) -> float | None:
    got = device["metrics"].get(metric, {}).get("value")
    return None if got is None else float(got)


@dataclass(frozen=True)
class BreakerView:
    """One breaker's card."""

    machine: str
    online: bool
    position: str  # OPEN, CLOSED, TRIPPED
    phases: list[tuple[str, float | None, float | None, float | None]]  # phase, V, A, cos φ
    active_kw: float | None
    reactive_kvar: float | None
    apparent_kva: float | None
    power_factor: float | None
    frequency: float | None
    temperature: float | None
    load: float | None
    trips: int | None
    last_cause: str
    ground_fault_a: float | None
    arc: bool
    maintenance_due: bool


def _kilo(x: float | None) -> float | None:
    return None if x is None else x / 1000.0


def breaker_view(d: Mapping[str, Any]) -> BreakerView:
    def v(metric: str) -> float | None:
        return value(d, metric)

    position = v("breaker_state")
    cause = v("trip_cause")
    trips = v("trip_count")
    phases = [
        (p[-1].upper(), v(f"voltage_{p}"), v(f"current_{p}"), v(f"power_factor_{p}"))
        for p in PHASES
    ]
    return BreakerView(
        machine=str(d["machine"]),
        online=v("presence") == 1.0,
        position=POSITIONS.get(int(position), "?") if position is not None else "?",
        phases=phases,
        active_kw=_kilo(v("active_power")),
        reactive_kvar=_kilo(v("reactive_power")),
        apparent_kva=_kilo(v("apparent_power")),
        power_factor=v("power_factor"),
        frequency=v("frequency"),
        temperature=v("temperature"),
        load=v("load_percentage"),
        trips=None if trips is None else int(trips),
        last_cause=TRIP_CAUSES.get(int(cause), "?") if cause is not None else "?",
        ground_fault_a=v("ground_fault_current"),
        arc=v("arc_fault_detected") == 1.0,
        maintenance_due=v("maintenance_due") == 1.0,
    )


@dataclass
class Rates:
    """Messages per second on each subject, from successive totals (a stream's subject counts)."""

    window_s: float = 30.0
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)

    def add(self, totals: Mapping[str, int], now: float | None = None) -> dict[str, float]:
        """Record the totals now; returns each subject's rate over the window (0 at first)."""
        t = time.monotonic() if now is None else now
        self.samples.append((t, dict(totals)))
        while len(self.samples) > 2 and t - self.samples[1][0] >= self.window_s:
            self.samples.pop(0)
        t0, first = self.samples[0]
        span = t - t0
        if span <= 0:
            return dict.fromkeys(totals, 0.0)
        return {k: max(0, n - first.get(k, 0)) / span for k, n in totals.items()}


def presence(devices: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """Device type -> (online, offline). A breaker is online by its MQTT presence (retained
    status, last will); other devices by the platform's recency rule."""
    out: dict[str, list[int]] = {}
    for d in devices:
        kind = str(d.get("device_type") or "unknown")
        p = value(d, "presence")
        online = (p == 1.0) if p is not None else bool(d.get("online"))
        counts = out.setdefault(kind, [0, 0])
        counts[0 if online else 1] += 1
    return {k: (a, b) for k, (a, b) in sorted(out.items())}
