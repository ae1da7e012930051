"""``edgetwin up`` as ``make up`` runs it, with its default of all five twins: every pack's
devices report, the stream backbone and the enricher run, each pack's page answers, and a
start and a Ctrl+C log nothing alarming."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgetwin.security import IdentityStore
from tests.conftest import free_port
from tests.integration.conftest import Stack, wait_for

pytestmark = pytest.mark.integration

TYPES = {
    "factory.machine", "motor.stm32", "cmm.thermal", "smart_breaker",
    "warehouse.controller", "warehouse.conveyor", "warehouse.hbw", "warehouse.vgr",
}  # fmt: skip
ALARMING = re.compile(r"\|\s*(WARNING|ERROR|CRITICAL)\b|Traceback")


def test_all_five_twins_under_one_up(tmp_path: Path) -> None:
    env = {  # every other port of the five on a free one, as a user would when one is taken
        "EDGETWIN_NATS_PORT": str(free_port()),
        "EDGETWIN_OPCUA_URL": f"opc.tcp://127.0.0.1:{free_port()}/edgetwin/",
        "EDGETWIN_MES_URL": f"http://127.0.0.1:{free_port()}",
    }
    stack = Stack(tmp_path / "up", env=env, default_packs=True)
    try:
        stack.start()

        def every_type() -> set[str]:
            seen = {d["device_type"] for d in stack.get("/api/v1/devices")}
            return seen if seen >= TYPES else set()

        wait_for(every_type, 60, interval=1.0, what="readings of every pack's devices")
        with IdentityStore(stack.data_dir) as ids:
            code = ids.create_login_code("admin")
        assert stack.http.get("/auth/link", params={"code": code}).status_code == 303
        for page in ("/", "/factory", "/motor", "/cmm", "/iot", "/grid", "/warehouse"):
            assert stack.http.get(page).status_code == 200, page
    finally:
        code = stack.stop()
    log = stack.log()
    assert code == 0, log[-3000:]
    for part in ("nats", "enrich"):  # the stream backbone and its enricher ran
        assert re.search(rf"^\s*{part} \|", log, flags=re.MULTILINE), f"no {part} in the log"
    alarming = [line for line in log.splitlines() if ALARMING.search(line)]
    assert alarming == [], log[-6000:]
