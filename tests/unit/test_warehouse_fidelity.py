"""The warehouse's fidelity figures hold (every slot reached exactly, no overshoot, no hunting;
the logged energy equals the 1 ms integral of V·I within 1 %; TTF falls with health) and
``docs/warehouse.md`` carries the figures the module prints."""

from __future__ import annotations

from pathlib import Path

from edgetwin.packs.warehouse.components import POSITION_TOLERANCE_MM
from edgetwin.packs.warehouse.fidelity import energy_check, report, slot_moves, ttf_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "warehouse.md"


def test_slots_energy_and_ttf_and_the_docs_agree() -> None:
    moves = slot_moves()
    assert len(moves) == 9
    for m in moves:
        assert m.error_mm <= POSITION_TOLERANCE_MM, m
        assert m.overshoot_mm <= POSITION_TOLERANCE_MM, m
        assert m.reversals == 0, m
        assert m.settled_s < 6.0, m
    energy = energy_check()
    assert energy.integral_wh > 1.0  # three orders ran
    assert energy.difference_pct < 1.0
    ttfs = [t for _, t in ttf_table()]
    assert ttfs == sorted(ttfs, reverse=True)
    assert ttfs[0] > ttfs[-2] == 0.0
    text = DOC.read_text("utf-8")
    carried = text.split("<!-- fidelity:begin -->")[1].split("<!-- fidelity:end -->")[0]
    assert carried.strip() == report(moves, energy).strip()
