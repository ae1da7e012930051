"""Fidelity of the warehouse twin: the figures ``docs/warehouse.md`` carries.

- **Slots**: the HBW from its home (the handover, X 0 / Y 100 mm) to each of the nine slots:
  the error at rest, the largest excursion beyond the target, how often the motion reversed
  (hunting) and the time until it is at rest within ±1 mm.
- **Energy**: a store, a process and a ship order run by the controller (seed 1); the energy the
  model logs against an independent integral of ``V·I`` of the instantaneous currents at 1 ms.
- **TTF**: time to failure against health.

``python -m edgetwin.packs.warehouse.fidelity`` prints them as Markdown; a test checks that the
document carries the same figures.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from edgetwin.packs.warehouse.components import HBW_HANDOVER, SLOTS, SPECS, TICK_S, VOLTAGE_V
from edgetwin.packs.warehouse.controller import Controller, Order
from edgetwin.packs.warehouse.model import Inputs, Motor, current_at, initial_state, step

FINE_S = 0.001


@dataclass(frozen=True)
class SlotMove:
    """One move to a slot: errors in mm, time in s."""

    slot: str
    error_mm: float
    overshoot_mm: float
    reversals: int
    settled_s: float


def slot_moves() -> list[SlotMove]:
    """The HBW from home to each slot (X and Y together), 10 Hz."""
    out = []
    for slot, (x, y) in SLOTS.items():
        s, rng = initial_state(), random.Random(1)
        paths: dict[str, list[float]] = {"hbw.x": [], "hbw.y": []}
        targets = {"hbw.x": x, "hbw.y": y}
        settled = None
        for i in range(200):
            s = step(s, Inputs(targets=targets if i == 0 else {}), TICK_S, rng)
            for a in paths:
                paths[a].append(s.pos(a))
            if settled is None and all(s.axes[a].at(v) for a, v in targets.items()):
                settled = (i + 1) * TICK_S
        over, error, reversals = 0.0, 0.0, 0
        for a, start in (("hbw.x", HBW_HANDOVER[0]), ("hbw.y", HBW_HANDOVER[1])):
            target, path = targets[a], paths[a]
            sign = 1.0 if target >= start else -1.0
            over = max(over, *(sign * (p - target) for p in path))
            error = max(error, abs(path[-1] - target))
            steps = [b - c for c, b in itertools.pairwise(path) if b != c]
            reversals += sum(1 for u, v in itertools.pairwise(steps) if u * v < 0)
        out.append(SlotMove(slot, error, max(0.0, over), reversals, settled or float("inf")))
    return out


@dataclass(frozen=True)
class EnergyCheck:
    """Energy of the orders, Wh: as logged, as integrated at 1 ms; their difference, %."""

    logged_wh: float
    integral_wh: float
    seconds: float

    @property
    def difference_pct(self) -> float:
        return 100 * abs(self.logged_wh - self.integral_wh) / self.integral_wh


def energy_check() -> EnergyCheck:
    """Store, process and ship a cookie (seed 1), then compare the two energies."""
    c = Controller(rng=random.Random(1))
    c.reset()
    fine = 0.0
    start = sum(m.energy_j for m in c.state.motors.values())
    for order in (
        Order("f1", "store", "A2"),
        Order("f2", "process", "A2"),
        Order("f3", "ship", "A2"),
    ):
        c.submit(order)
        for _ in range(20_000):
            c.tick()
            for m, after in c.state.motors.items():
                on_for = None if after.on_for is None else after.on_for - TICK_S
                for k in range(round(TICK_S / FINE_S)):
                    t = None if on_for is None else on_for + (k + 0.5) * FINE_S
                    fine += VOLTAGE_V * current_at(SPECS[m], t) * FINE_S
            if order.ok is not None and c.machine_state == "Idle":
                break
        if not order.ok:
            raise RuntimeError(f"order {order.id} failed: {order.reason}")
    logged = sum(m.energy_j for m in c.state.motors.values()) - start
    return EnergyCheck(logged / 3600, fine / 3600, c.state.t)


HEALTHS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)


def ttf_table() -> list[tuple[float, float]]:
    """(health, TTF in h) for :data:`HEALTHS`."""
    return [(h, Motor(health=h).ttf_h) for h in HEALTHS]


def report(moves: list[SlotMove] | None = None, energy: EnergyCheck | None = None) -> str:
    """The figures as Markdown (of ``moves`` and ``energy`` when given, else computed)."""
    lines = [
        "| slot | error at rest, mm | beyond the target, mm | reversals | at rest after, s |",
        "|---|---|---|---|---|",
    ]
    for m in moves if moves is not None else slot_moves():
        lines.append(
            f"| {m.slot} | {m.error_mm:.3f} | {m.overshoot_mm:.3f} | {m.reversals} |"
            f" {m.settled_s:.1f} |"
        )
    e = energy if energy is not None else energy_check()
    lines += [
        "",
        "| orders | simulated s | logged Wh | ∫V·I dt at 1 ms, Wh | difference |",
        "|---|---|---|---|---|",
        f"| store, process, ship | {e.seconds:.1f} | {e.logged_wh:.4f} |"
        f" {e.integral_wh:.4f} | {e.difference_pct:.3f} % |",
        "",
        "| health | TTF, h |",
        "|---|---|",
    ]
    lines += [f"| {h:.1f} | {t:.3f} |" for h, t in ttf_table()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
