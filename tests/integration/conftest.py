"""Fixtures that run real processes: edgetwin's own stack, the embedded broker, and Mosquitto
instances of the tests' own on free ports (the machine's shared broker is never reconfigured)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import bearer, free_port, need, port_open

EDGETWIN = [sys.executable, "-m", "edgetwin"]
# The packs of a test's edgetwin when it names none: the factory and the motor. The default of
# all five runs in tests/integration/test_default_up.py.
TEST_PACKS = "factory,motor"


def wait_for(
    predicate: Any, timeout: float, interval: float = 0.25, what: str = "condition"
) -> Any:
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        try:
            last = predicate()
        except (httpx.HTTPError, OSError, KeyError, IndexError, ValueError):
            last = None
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class Mosquitto:
    """A Mosquitto of our own: no persistence, anonymous on loopback, on a free port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stdout\n"
        )
        self.log = (workdir / "mosquitto.log").open("wb")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)], stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_for(lambda: port_open("127.0.0.1", self.port), 10, what="mosquitto to listen")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    need(
        shutil.which("mosquitto") is not None,
        "Mosquitto is not installed (Debian package 'mosquitto')",
    )
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()


class Stack:
    """``edgetwin up`` as a user runs it, on free ports and a fresh data dir."""

    def __init__(
        self,
        data_dir: Path,
        *extra: str,
        mqtt_port: int | None = None,
        env: dict[str, str] | None = None,
        default_packs: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.extra_env = env or {}
        self.default_packs = default_packs  # run edgetwin's own default (all five)
        self.http_port = free_port()
        self.mqtt_port = mqtt_port or free_port()
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
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.log_path = data_dir / "up.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.base, timeout=10, headers=bearer(data_dir))

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
        env["EDGETWIN_REQUIRE_SERVICES"] = os.environ.get("EDGETWIN_REQUIRE_SERVICES", "")
        if not self.default_packs:
            env["EDGETWIN_PACKS"] = TEST_PACKS  # a test that wants others says so in its env
        env.update(self.extra_env)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            self.args, stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT, env=env
        )
        wait_for(lambda: self.http.get("/health").status_code == 200, 60, what="/health")
        ready = self.data_dir / "run" / "edge-01.ready"
        wait_for(ready.exists, 30, what="the edge to subscribe")

    def get(self, path: str, **params: Any) -> Any:
        r = self.http.get(path, params=params)
        r.raise_for_status()
        return r.json()

    def pid(self, part: str) -> int:
        return int((self.data_dir / "run" / f"{part}.pid").read_text())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        finally:
            self.http.close()


def mosquitto_pub(port: int, topic: str, payload: str, *extra: str) -> None:
    """Publish as an operator would, with the stock client."""
    need(
        shutil.which("mosquitto_pub") is not None,
        "mosquitto_pub is not installed (mosquitto-clients)",
    )
    subprocess.run(
        [
            "mosquitto_pub",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            payload,
            *extra,
        ],
        check=True,
        timeout=10,
    )
