"""``edgetwin up`` as a terminal ends it: Ctrl+C or SIGTERM mid-start, SIGHUP, ``kill -9``, ``| head``.

Only process lifecycle and ports are asserted (no readings), each wait a bounded poll.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import free_port
from tests.integration.conftest import EDGETWIN, wait_for

pytestmark = pytest.mark.integration

PARTS = ("broker", "cloud", "edge", "sim-factory", "sim-motor")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class Up:
    """``edgetwin up`` on free ports and a fresh data dir, its output going to ``stdout``."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.http_port, self.mqtt_port = free_port(), free_port()
        self.args = [
            *EDGETWIN,
            "up",
            "--http-port",
            str(self.http_port),
            "--mqtt-port",
            str(self.mqtt_port),
            "--data-dir",
            str(data_dir),
            *extra,
        ]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
        self.env["EDGETWIN_PACKS"] = "factory,motor"
        self.log_path = data_dir / "up.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, stdout: int | None = None) -> subprocess.Popen[bytes]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out = stdout if stdout is not None else self.log_path.open("wb")
        self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        return self.proc

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def all_parts_started(self) -> list[psutil.Process]:
        """Every part has a pid file and a live process; then all the supervisor's descendants."""
        run = self.data_dir / "run"
        for part in PARTS:
            if not psutil.pid_exists(int((run / f"{part}.pid").read_text())):
                return []
        assert self.proc is not None
        return list(psutil.Process(self.proc.pid).children(recursive=True))

    def ports_free(self) -> bool:
        return _port_free(self.http_port) and _port_free(self.mqtt_port)

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    stack = Up(tmp_path / "data")
    yield stack
    stack.cleanup()


def _all_gone(procs: list[psutil.Process], within_s: float) -> None:
    _gone, alive = psutil.wait_procs(procs, timeout=within_s)
    for proc in alive:  # leave nothing behind, then fail
        proc.kill()
    assert not alive, f"still running: {[p.pid for p in alive]}"


def test_sighup_stops_every_part_and_frees_the_ports(up: Up) -> None:
    """A closed terminal sends SIGHUP: everything stops as on Ctrl+C."""
    proc = up.start()
    parts = wait_for(up.all_parts_started, 90, what="every part to start")
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(60) == 0, up.log()
    _all_gone(parts, 30)
    wait_for(up.ports_free, 30, what="the ports to be free")
    assert "stopped" in up.log()


def test_parts_exit_when_the_supervisor_is_killed(up: Up) -> None:
    """``kill -9`` leaves the supervisor no chance to stop anything: the parts stop themselves."""
    proc = up.start()
    parts = wait_for(up.all_parts_started, 90, what="every part to start")
    proc.kill()
    proc.wait(10)
    _all_gone(parts, 30)
    wait_for(up.ports_free, 30, what="the ports to be free")


def test_up_piped_through_head_keeps_running_and_stops_cleanly(up: Up) -> None:
    """``edgetwin up | head -1``: head exits after one line, the stack stays up and still stops."""
    proc = up.start(stdout=subprocess.PIPE)
    assert proc.stdout is not None
    head = subprocess.Popen(["head", "-1"], stdin=proc.stdout, stdout=subprocess.PIPE)
    proc.stdout.close()  # head holds the only read end now, as in a shell pipeline
    first, _ = head.communicate(timeout=60)
    assert first.startswith(b"edgetwin ")
    # Every part starting means many lines written into the closed pipe since head left.
    parts = wait_for(up.all_parts_started, 90, what="every part to start")
    assert proc.poll() is None, "the supervisor died when its output went away"
    assert all(p.is_running() for p in parts)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    _all_gone(parts, 30)
    wait_for(up.ports_free, 30, what="the ports to be free")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_ends_the_wait_for_the_edge(tmp_path: Path, sig: signal.Signals) -> None:
    """With a broker nobody answers on, the edge never subscribes; a stop signal ends that wait.

    The supervisor says what it waits for; stopped mid-wait, it never reaches the end of the wait
    (no "did not subscribe in time"), and every part is gone.
    """
    dead = free_port()  # nothing listens here
    stack = Up(tmp_path / "data", "--mqtt-url", f"mqtt://127.0.0.1:{dead}")
    try:
        proc = stack.start()
        wait_for(lambda: "waiting up to 20 s for the edge" in stack.log(), 90, what="the wait")
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(sig)
        assert proc.wait(60) == 0, stack.log()
        _all_gone(children, 30)
        log = stack.log()
        assert "did not subscribe in time" not in log
        assert f"to the broker at 127.0.0.1:{dead}" in log
        assert "stopping before everything had started" in log
        wait_for(lambda: _port_free(stack.http_port), 30, what="the HTTP port to be free")
    finally:
        stack.cleanup()
