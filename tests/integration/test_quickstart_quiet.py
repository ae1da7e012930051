"""A normal start and stop of ``edgetwin up`` logs no WARNING and no ERROR; meanwhile the
README's quick start works as written, and the first start's login link is printed once.

Expected transitions (the motor's serial port appearing after the edge starts, the simulator's
pty closing before the edge stops, each part closing its broker link on Ctrl+C) are INFO; a
WARNING is kept for what someone has to act on.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import EDGETWIN, Stack, wait_for

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
        _readme_curl_lines_work(stack)
    finally:
        code = stack.stop()  # SIGINT, as Ctrl+C
    log = stack.log()
    assert code == 0, log[-3000:]
    assert "up | stopped" in log
    alarming = [line for line in log.splitlines() if ALARMING.search(line)]
    assert alarming == [], "\n".join(alarming)
    # The first start's one-time login link: printed once, to the terminal only.
    links = re.findall(r"/auth/link\?code=([\w-]+)", log)
    assert len(links) == 1, log[-3000:]
    for kept in stack.data_dir.rglob("*"):
        if kept.is_file() and kept != stack.log_path and kept.stat().st_size < 50_000_000:
            assert links[0].encode() not in kept.read_bytes(), f"the login code is in {kept}"


README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_curl_lines_work(stack: Stack) -> None:
    """The README's quick start as written: a token from ``edgetwin token create`` (its last
    line), then every ``curl`` line of the quick start, against this stack's port."""
    made = subprocess.run(
        [*EDGETWIN, "token", "create", "--role", "operator", "--tenant", "acme",
         "--data-dir", str(stack.data_dir)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    token = made.stdout.strip().splitlines()[-1]
    quick = README.read_text().split("## Architecture")[0]
    lines = re.sub(r"\\\n\s*", " ", quick).splitlines()  # join continued lines
    curls = [line.split("#")[0].strip() for line in lines if line.startswith("curl ")]
    assert len(curls) >= 6
    for line in curls:
        line = line.replace("127.0.0.1:8000", f"127.0.0.1:{stack.http_port}")
        line = line.replace("curl ", "curl -sS -f -o /dev/null -w '%{http_code}' ", 1)
        done = subprocess.run(
            ["bash", "-c", line], capture_output=True, text=True, timeout=30,
            env={**os.environ, "TOKEN": token},
        )  # fmt: skip
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        assert done.stdout.startswith("2"), (line, done.stdout)
