"""From the device's retained snapshot to the rows of the relational state. Pure code.

The cloud follows the controller's snapshot (``v1/{tenant}/{plant}/status/warehouse``, see
:func:`.device.snapshot`) and turns each one it takes into rows (:func:`rows_of`), energy-log
increments against the snapshot before it (:func:`increments`) and the alert conditions that
hold now (:func:`conditions`). :mod:`.store` writes what changed.

A snapshot's figures per powered component are running totals (energy Wh, running s, spikes,
micro-stoppages); an increment is the difference to the previous snapshot. A total that went
down was reset (a replaced motor's counters, a restarted device process): its increment is the
new total, so no energy is lost or counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from edgetwin.packs.warehouse.components import DEVICE_OF, SLOTS, SPECS, VOLTAGE_V

TTF_ALERT_H: Final = 0.5
"""An alert when a motor's time to failure falls under this, h (health ≈ 0.68; the reference
alerts only at health 0.5, which leaves no time to plan the replacement)."""
HEALTH_CRITICAL: Final = 0.5
"""Health under which a motor stalls now and then (reference): a critical alert."""
TRANSIT: Final = {
    "hbw_cookie": "HBW",
    "belt_cookie": "CONVEYOR",
    "vgr": "VGR",
    "intake": "INTAKE",
    "packaging": "PACKAGING",
}
"""The snapshot's ``transit`` keys of cookies outside the rack, and the place each names."""
GONE: Final = ("SHIPPED", "GONE")
"""Locations of cookies no longer in the machine: shipped, or dropped (or lost to a restart)."""


@dataclass(frozen=True)
class Rows:
    """The relational view of one snapshot (column -> value dicts, as :mod:`.tables` names)."""

    slots: dict[str, dict[str, Any]]
    carriers: dict[str, dict[str, Any]]
    cookies: dict[str, dict[str, Any]]
    components: dict[str, dict[str, Any]]
    machine: dict[str, Any]
    shipped_cookies: frozenset[str] = field(default_factory=frozenset)


def rows_of(snap: Mapping[str, Any]) -> Rows:
    """Slots, carriers, cookies (with their place), components and the machine of ``snap``.

    Raises:
        KeyError, TypeError, ValueError: ``snap`` is not a warehouse snapshot.
    """
    slots: dict[str, dict[str, Any]] = {}
    carriers: dict[str, dict[str, Any]] = {}
    cookies: dict[str, dict[str, Any]] = {}
    for name, (x, y) in SLOTS.items():
        here = snap["slots"].get(name) or {}
        car = here.get("carrier")
        slots[name] = {"slot": name, "x_mm": x, "y_mm": y, "carrier": car}
        if car:
            cookie = here.get("cookie")
            carriers[car] = _carrier(car, name, cookie)
            if cookie:
                cookies[cookie["id"]] = _cookie(cookie, name, car)
    transit = snap["transit"]
    for key, place in (("hbw", "HBW"), ("belt", "CONVEYOR")):
        car = transit.get(key)
        if car:
            cookie = transit.get(f"{key}_cookie")
            carriers[car] = _carrier(car, place, cookie)
    for key, place in TRANSIT.items():
        cookie = transit.get(key)
        if cookie:
            on = transit.get(key.removesuffix("_cookie")) if key.endswith("_cookie") else None
            cookies[cookie["id"]] = _cookie(cookie, place, on)
    components = {
        m: {
            "id": m,
            "subsystem": SPECS[m].subsystem,
            "current_a": float(v["current_a"]),
            "health": float(v["health"]),
            "ttf_h": float(v["ttf_h"]),
            "energy_wh": float(v["energy_wh"]),
            "running_s": float(v["running_s"]),
            "spikes": int(v["spikes"]),
            "stops": int(v["stops"]),
        }
        for m, v in snap["motors"].items()
        if m in SPECS
    }
    machine = {
        "online": bool(snap.get("online", False)),
        "machine_state": str(snap["machine_state"]),
        "latched": bool(snap["latched"]),
        "latched_by": snap.get("latched_by"),
        "axes": {str(k): float(v) for k, v in snap["axes"].items()},
        "power_w": float(snap["power_w"]),
        "energy_wh": float(snap["energy_wh"]),
        "shipped": int(snap["shipped"]),
    }
    shipped = frozenset(
        str(o["cookie"])
        for o in snap.get("orders", [])
        if o.get("ok") and o.get("final_state") == "SHIPPED" and o.get("cookie")
    )
    return Rows(slots, carriers, cookies, components, machine, shipped)


def _carrier(car: str, location: str, cookie: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "id": car,
        "home_slot": car.removeprefix("CAR-")[:2],
        "location": location,
        "cookie": cookie["id"] if cookie else None,
    }


def _cookie(cookie: Mapping[str, Any], location: str, carrier: str | None) -> dict[str, Any]:
    return {
        "id": str(cookie["id"]),
        "flavor": str(cookie["flavor"]),
        "state": str(cookie["state"]),
        "location": location,
        "carrier": carrier,
    }


@dataclass
class Increment:
    """What one device (``hbw``, ``conveyor``, ``vgr``) did between two snapshots."""

    energy_wh: float = 0.0
    running_s: float = 0.0
    spikes: int = 0
    stops: int = 0
    power_w: float = 0.0  # its power in the newer snapshot, W


def increments(
    before: Mapping[str, Mapping[str, Any]] | None, now: Mapping[str, Mapping[str, Any]]
) -> dict[str, Increment]:
    """Per device, the energy, running time, spikes and stops of its components from the
    snapshot ``before`` (its ``motors``; None: the first one seen, nothing to count yet) to
    ``now``; and each device's power now (``V·ΣI``)."""
    out = {d: Increment() for d in DEVICE_OF.values()}
    for m, v in now.items():
        if m not in SPECS:
            continue
        inc = out[DEVICE_OF[SPECS[m].subsystem]]
        inc.power_w += VOLTAGE_V * float(v["current_a"])
        if before is None or m not in before:
            continue
        prev = before[m]
        inc.energy_wh += _grown(float(prev["energy_wh"]), float(v["energy_wh"]))
        inc.running_s += _grown(float(prev["running_s"]), float(v["running_s"]))
        inc.spikes += int(_grown(prev["spikes"], v["spikes"]))
        inc.stops += int(_grown(prev["stops"], v["stops"]))
    return out


def _grown(before: float, now: float) -> float:
    return now - before if now >= before else now


@dataclass(frozen=True)
class Condition:
    """An alert that holds now: for ``component`` (or ``WAREHOUSE``), of ``kind``."""

    component: str
    kind: str
    severity: str
    message: str
    value: float | None


def conditions(rows: Rows, ttf_alert_h: float = TTF_ALERT_H) -> dict[tuple[str, str], Condition]:
    """The alerts that hold in ``rows``, by (component, kind): a motor's TTF under
    ``ttf_alert_h`` (``ttf_low``), its health under 0.5 (``health_critical``), its
    micro-stoppages since it was fitted (``micro_stoppage``), a latched e-stop (``estop``)."""
    out: dict[tuple[str, str], Condition] = {}

    def add(c: Condition) -> None:
        out[(c.component, c.kind)] = c

    for m, c in rows.components.items():
        if c["health"] < HEALTH_CRITICAL:
            add(
                Condition(
                    m,
                    "health_critical",
                    "critical",
                    f"{m} health {c['health']:.3f} < {HEALTH_CRITICAL}: replace it now",
                    c["health"],
                )
            )
        elif c["ttf_h"] < ttf_alert_h:
            add(
                Condition(
                    m,
                    "ttf_low",
                    "warning",
                    f"{m} time to failure {c['ttf_h'] * 60:.0f} min: plan its replacement",
                    c["ttf_h"],
                )
            )
        if c["stops"] > 0:
            add(
                Condition(
                    m,
                    "micro_stoppage",
                    "warning",
                    f"{m}: {c['stops']} micro-stoppage(s) since fitted",
                    float(c["stops"]),
                )
            )
    if rows.machine["latched"]:
        who = rows.machine.get("latched_by") or "unknown"
        add(
            Condition(
                "WAREHOUSE",
                "estop",
                "critical",
                f"emergency stop pressed by {who}: latched until reset",
                None,
            )
        )
    return out
