"""``edgetwin sim motor`` twice on one data dir: the second is refused, the first keeps its link."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import EDGETWIN, wait_for

pytestmark = pytest.mark.integration


class MotorSim:
    """One ``edgetwin sim motor`` process on ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
        self.proc = subprocess.Popen(
            [*EDGETWIN, "sim", "motor", "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        self.proc.communicate(timeout=30)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=30)


@pytest.fixture
def sims() -> Iterator[list[MotorSim]]:
    started: list[MotorSim] = []
    yield started
    for sim in started:
        sim.kill()


def _owned_by(link: Path, pid: int) -> str | None:
    """The pty the link names, once the pid file beside it names ``pid`` and the pty exists."""
    pid_file = link.with_name("motor0.pid")
    if pid_file.read_text().strip() != str(pid):
        return None
    target = os.readlink(link)
    return target if os.path.exists(target) else None


def test_second_simulator_is_refused_and_the_first_keeps_its_link(
    tmp_path: Path, sims: list[MotorSim]
) -> None:
    link = tmp_path / "dev" / "motor0"
    first = MotorSim(tmp_path)
    sims.append(first)
    pty = wait_for(lambda: _owned_by(link, first.proc.pid), 30, what="the first simulator")

    second = MotorSim(tmp_path)
    sims.append(second)
    _out, err = second.proc.communicate(timeout=60)
    assert second.proc.returncode == 2
    assert f"belongs to the motor simulator running as pid {first.proc.pid}" in err.decode()
    assert os.readlink(link) == pty
    assert first.proc.poll() is None

    assert first.stop() == 0
    assert not link.is_symlink()
    assert not link.with_name("motor0.pid").exists()


def test_a_link_left_by_a_killed_simulator_is_replaced(
    tmp_path: Path, sims: list[MotorSim]
) -> None:
    link = tmp_path / "dev" / "motor0"
    dead = MotorSim(tmp_path)
    sims.append(dead)
    wait_for(lambda: _owned_by(link, dead.proc.pid), 30, what="the first simulator")
    dead.kill()  # kill -9: no chance to clean up
    assert link.is_symlink()

    heir = MotorSim(tmp_path)
    sims.append(heir)
    wait_for(lambda: _owned_by(link, heir.proc.pid), 30, what="the new simulator to take over")
    assert heir.stop() == 0
    assert not link.is_symlink()


def test_exit_leaves_a_link_that_is_no_longer_ours(tmp_path: Path, sims: list[MotorSim]) -> None:
    link = tmp_path / "dev" / "motor0"
    sim = MotorSim(tmp_path)
    sims.append(sim)
    wait_for(lambda: _owned_by(link, sim.proc.pid), 30, what="the simulator")
    other = tmp_path / "dev" / ".elsewhere"
    other.symlink_to("/dev/null")
    os.replace(other, link)  # someone re-pointed it (an operator, a real adapter)
    assert sim.stop() == 0
    assert os.readlink(link) == "/dev/null"
