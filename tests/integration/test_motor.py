"""The motor twin end to end on the real stack: a simulated controller on a real pty, the edge
reading it with pyserial, commands over MQTT QoS 1 down to the serial line and back."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Stack, wait_for

pytestmark = pytest.mark.integration
MOTOR = "stm32-motor-01"


class MotorStack(Stack):
    """``edgetwin up`` with the motor pack only."""

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
        env["EDGETWIN_PACKS"] = '["motor"]'
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            self.args, stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT, env=env
        )
        wait_for(lambda: self.http.get("/health").status_code == 200, 60, what="/health")
        wait_for(lambda: self.motor(), 30, what="motor readings")

    def motor(self) -> dict[str, Any] | None:
        return next((d for d in self.get("/api/v1/devices") if d["machine"] == MOTOR), None)

    def uptime(self) -> float:
        dev = self.motor()
        assert dev is not None
        return float(dev["metrics"]["uptime"]["value"])

    def command(self, name: str, **body: Any) -> tuple[int, dict[str, Any]]:
        r = self.http.post(f"/api/v1/devices/{MOTOR}/commands", json={"name": name, **body})
        return r.status_code, r.json()

    def state(self, cmd_id: str) -> str:
        return str(self.get(f"/api/v1/devices/{MOTOR}/commands/{cmd_id}")["state"])

    def stored(self, metric: str = "seq") -> int:
        s = self.get("/api/v1/series", line="line-m", machine=MOTOR, metric=metric,
                     minutes=10, bucket_seconds=600)  # fmt: skip
        return sum(int(b["count"]) for b in s["points"])


@pytest.fixture(scope="module")
def motor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotorStack]:
    stack = MotorStack(tmp_path_factory.mktemp("motor") / "data")
    stack.start()
    yield stack
    stack.stop()


def test_reboot_succeeds_within_3s_and_runs_once_per_key(motor: MotorStack) -> None:
    wait_for(lambda: motor.uptime() > 2.0, 10, what="2 s of uptime")
    started = time.monotonic()
    code, cmd = motor.command("REBOOT", idempotency_key="reboot-1", ttl_s=30)
    code2, again = motor.command("REBOOT", idempotency_key="reboot-1", ttl_s=30)
    assert (code, code2) == (201, 200)
    assert again["id"] == cmd["id"]
    wait_for(lambda: motor.state(cmd["id"]) == "succeeded", 3.0, interval=0.05,
             what="the reboot to succeed")  # fmt: skip
    assert time.monotonic() - started < 3.0
    done = motor.get(f"/api/v1/devices/{MOTOR}/commands/{cmd['id']}")
    assert [h["state"] for h in done["history"]] == ["queued", "sent", "delivered", "succeeded"]
    assert done["detail"]["uptime_after"] < 1.0 < done["detail"]["uptime_before"]
    wait_for(lambda: motor.uptime() < 3.0, 5, what="the stored uptime to restart")
    listed = motor.get(f"/api/v1/devices/{MOTOR}/commands")
    assert [c["id"] for c in listed].count(cmd["id"]) == 1
    # the device saw it once: one "delivered" line in the edge's log for this id
    assert motor.log().count(f"command {cmd['id']} on line-m/{MOTOR}: delivered") == 1


def test_ping_and_unknown_command(motor: MotorStack) -> None:
    _, ping = motor.command("PING")
    wait_for(lambda: motor.state(ping["id"]) == "succeeded", 5, what="PING")
    _, bad = motor.command("SELF_DESTRUCT")
    wait_for(lambda: motor.state(bad["id"]) == "failed", 5, what="an unknown command to fail")
    r = motor.http.post("/api/v1/devices/no-such-motor/commands", json={"name": "PING"})
    assert r.status_code == 404


def test_command_waits_for_an_offline_edge_or_expires(motor: MotorStack) -> None:
    edge = motor.pid("edge")
    os.kill(edge, signal.SIGSTOP)  # the edge is away (its broker session keeps its messages)
    try:
        _, waits = motor.command("PING", ttl_s=30)
        _, short = motor.command("PING", ttl_s=1)
        wait_for(lambda: motor.state(short["id"]) == "expired", 5, what="a short ttl to expire")
        assert motor.state(waits["id"]) in ("queued", "sent")
    finally:
        os.kill(edge, signal.SIGCONT)
    wait_for(lambda: motor.state(waits["id"]) == "succeeded", 10, what="the edge to catch up")
    time.sleep(0.5)
    assert motor.state(short["id"]) == "expired"  # the edge's late report changes nothing


@pytest.mark.parametrize("how", ["unplug", "kill"])
def test_gateway_reconnects_when_the_port_comes_back(motor: MotorStack, how: str) -> None:
    link = Path(motor.data_dir) / "dev" / "motor0"
    before = motor.stored()
    sim = motor.pid("sim-motor")
    if how == "unplug":
        os.kill(sim, signal.SIGUSR1)  # the pty is closed and a new one created 2 s later
    else:
        os.kill(sim, signal.SIGKILL)  # the device dies; the supervisor starts a new one
    opened = motor.log().count("open at 115200 baud")
    wait_for(lambda: "lost" in motor.log()[-20000:] or not link.exists(), 5, what="the port to go")
    wait_for(lambda: motor.stored() > before + 30, 20, what="readings after the port returned")
    assert motor.uptime() < 15  # a new power-on: the readings are from after the replug
    assert before > 0  # readings from before the port went away are stored too
    assert motor.log().count("open at 115200 baud") == opened + 1  # reopened by itself
