"""Chaos suite: real processes, injected faults, every reading counted."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.harness import Harness, Report
from tests.conftest import need

REPORTS: list[Report] = []


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    need(
        shutil.which("mosquitto") is not None,
        "Mosquitto is not installed (Debian package 'mosquitto')",
    )
    made: list[Harness] = []

    def make(**kwargs: Any) -> Harness:
        workdir = tmp_path / f"h{len(made)}"
        workdir.mkdir(parents=True, exist_ok=True)
        h = Harness(workdir, **kwargs)
        made.append(h)
        return h.start()

    yield make
    for h in made:
        h.close()


@pytest.fixture
def record() -> Callable[[Report], Report]:
    def add(report: Report) -> Report:
        REPORTS.append(report)
        return report

    return add


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORTS:
        return
    tr = terminalreporter
    tr.section("chaos: every reading accounted for")
    head = f"{'fault':<44} {'sent':>7} {'acked':>7} {'stored':>7} {'lost':>5} {'@broker':>7} {'dup':>4} {'order':>5} {'dropped':>7} {'recov s':>7}"
    tr.write_line(head)
    tr.write_line("-" * len(head))
    for r in REPORTS:
        tr.write_line(
            f"{r.fault:<44} {r.sent:>7} {r.confirmed:>7} {r.stored:>7} {r.lost:>5} {r.lost_at_broker:>7} "
            f"{r.duplicated:>4} {r.out_of_order:>5} {r.dropped_by_policy:>7} {r.recovery_s:>7}"
        )
        if r.notes:
            tr.write_line(f"    {r.notes}")
    target = os.environ.get("EDGETWIN_CHAOS_REPORT")
    if target:
        lines = [
            "| fault | sent | acked by broker | stored | lost | lost inside broker | duplicated "
            "| out of order | dropped by policy | recovery s | notes |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        lines += [
            f"| {r.fault} | {r.sent} | {r.confirmed} | {r.stored} | {r.lost} | {r.lost_at_broker} "
            f"| {r.duplicated} | {r.out_of_order} | {r.dropped_by_policy} | {r.recovery_s} | {r.notes} |"
            for r in REPORTS
        ]
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text("\n".join(lines) + "\n")
        tr.write_line(f"markdown table written to {target}")
