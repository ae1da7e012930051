"""The MES gets every CMM measurement exactly once, in order, whatever happens: the MES down
(connections dropped) for a while with the edge killed (kill -9) during the outage, or the MES
hanging instead of refusing. Real processes: the mock MES, ``edgetwin edge`` with the cmm pack,
the simulated CMM writing files; every record is counted against the files written.

Quick run: a short outage; ``EDGETWIN_CHAOS_LONG=1``: the issue's 60 s.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chaos.harness import LONG
from tests.conftest import free_port, need, port_open
from tests.integration.conftest import wait_for

ROOT = Path(__file__).parents[2]
N = 120 if LONG else 40  # measurements
SPEED = 10 if LONG else 20  # one file every 0.5 s / 0.25 s
OUTAGE_S = 60.0 if LONG else 6.0


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def _stop(proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Rig:
    """The mock MES, the edge (cmm pack only) and the simulated CMM, in one work dir."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.mes_port = free_port()
        self.mes_url = f"http://127.0.0.1:{self.mes_port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
        self.env = {
            **base,
            "EDGETWIN_DATA_DIR": str(workdir),
            "EDGETWIN_PACKS": '["cmm"]',
            "EDGETWIN_TENANT": f"cmm-{uuid.uuid4().hex[:8]}",
            "EDGETWIN_EDGE_METRICS_PORT": "0",
            "EDGETWIN_MQTT_URL": "mqtt://127.0.0.1:1883",
            "EDGETWIN_OPCUA_URL": f"opc.tcp://127.0.0.1:{free_port()}/edgetwin/",
        }
        config = workdir / "edge.toml"
        config.write_text(
            '[[sources]]\ntype = "mqtt"\nname = "plant"\nenabled = false\n\n'
            '[[sinks]]\ntype = "cloud"\nname = "cloud"\nenabled = false\n\n'
            f'[[sinks]]\ntype = "cmm_mes"\nname = "mes"\nurl = "{self.mes_url}"\ntimeout_s = 1.0\n'
        )
        self.edge_argv = [sys.executable, "-m", "edgetwin", "edge", "--config", str(config)]
        self.mes = _start([sys.executable, "-m", "edgetwin.packs.cmm.mes_sim", str(self.mes_port)],
                          self.env, workdir / "mes.log")  # fmt: skip
        wait_for(lambda: port_open("127.0.0.1", self.mes_port), 20, what="the mock MES")
        self.edge = self.start_edge()
        code = (
            "import asyncio, sys, pathlib; from edgetwin.packs.cmm import sim; asyncio.run("
            f"sim.run(pathlib.Path(sys.argv[1]), speed={SPEED}, count={N}, seed=11))"
        )
        inbox = str(workdir / "cmm" / "inbox")
        self.sim = _start([sys.executable, "-c", code, inbox], self.env, workdir / "sim.log")

    def start_edge(self) -> subprocess.Popen[bytes]:
        ready = self.dir / "run"
        for f in ready.glob("*.ready") if ready.exists() else []:
            f.unlink()
        edge = _start(self.edge_argv, self.env, self.dir / "edge.log")
        wait_for(lambda: any(ready.glob("*.ready")), 30, what="the edge ready")
        return edge

    def mode(self, mode: str) -> None:
        httpx.post(f"{self.mes_url}/control", json={"mode": mode}, timeout=5).raise_for_status()

    def records(self) -> list[dict[str, object]]:
        got = httpx.get(f"{self.mes_url}/api/v1/cmm/measurements", timeout=5).json()
        records: list[dict[str, object]] = got["records"]
        return records

    def done(self) -> int:
        folder = self.dir / "cmm" / "done"
        return len(list(folder.iterdir())) if folder.exists() else 0

    def close(self) -> None:
        for proc in (self.sim, self.edge, self.mes):
            _stop(proc)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    need(port_open("127.0.0.1", 1883), "Mosquitto on 127.0.0.1:1883 (the edge's control link)")
    made = Rig(tmp_path)
    try:
        yield made
    except BaseException:
        print((tmp_path / "edge.log").read_text()[-4000:])
        raise
    finally:
        made.close()


@pytest.mark.parametrize("fault", ["down-and-kill-9", "hang"])
def test_every_measurement_reaches_the_mes_once_in_order(rig: Rig, fault: str) -> None:
    wait_for(lambda: len(rig.records()) >= 3, 60, what="the first records at the MES")
    if fault == "down-and-kill-9":
        rig.mode("down")
        began = time.monotonic()
        at_cut = rig.done()
        wait_for(lambda: rig.done() >= at_cut + 5, 60, what="files buffered during the outage")
        os.killpg(rig.edge.pid, signal.SIGKILL)  # the edge dies with the MES's backlog
        rig.edge.wait()
        rig.edge = rig.start_edge()
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - began)))
    else:
        rig.mode("hang")
        time.sleep(OUTAGE_S)
    rig.mode("ok")
    assert rig.sim.wait(300) == 0
    wait_for(lambda: len(rig.records()) >= N, 120, what=f"{N} records at the MES")
    time.sleep(1.0)  # anything more would be a duplicate: let it show
    records = rig.records()
    assert [r["measurement"] for r in records] == list(range(1, N + 1))  # once each, in order
    assert len({r["idempotency_key"] for r in records}) == N
    serials = [str(r["part_serial"]) for r in records]
    assert [int(s.rsplit("-", 1)[1]) for s in serials] == list(range(1, N + 1))
    files = sorted(p.name for p in (rig.dir / "cmm" / "done").iterdir())
    assert len(files) == N
    assert sorted(re.sub(r"^cmm_\w+?_(AL-.*)\.csv$", r"\1", f) for f in files) == sorted(serials)
    for r in records:
        assert r["verdict"] in ("PASS", "FAIL")
        assert abs(float(r["compensated_length_mm"]) - 100.0) < 0.006  # type: ignore[arg-type]
