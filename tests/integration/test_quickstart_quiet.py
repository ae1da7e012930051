"""A normal start and stop of ``edgetwin up`` logs no WARNING and no ERROR (issue 14, item 9).

Expected transitions (the motor's serial port appearing after the edge starts, the simulator's
pty closing before the edge stops, each part closing its broker link on Ctrl+C) are INFO; a
WARNING is kept for what someone has to act on.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.conftest import Stack, wait_for

pytestmark = pytest.mark.integration

ALARMING = re.compile(r"\|\s*(WARNING|ERROR|CRITICAL)\b|Traceback|WARNING:|ERROR:")


def test_start_readings_then_ctrl_c_logs_nothing_alarming(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "up")
    try:
        stack.start()

        def both_twins() -> bool:
            machines = {d["machine"] for d in stack.get("/api/v1/devices")}
            return {"cnc-01", "stm32-motor-01"} <= machines

        wait_for(both_twins, 45, what="readings of the factory and the motor")
    finally:
        code = stack.stop()  # SIGINT, as Ctrl+C
    log = stack.log()
    assert code == 0, log[-3000:]
    assert "up | stopped" in log
    alarming = [line for line in log.splitlines() if ALARMING.search(line)]
    assert alarming == [], "\n".join(alarming)
