"""``edgetwin up`` with the warehouse pack: orders through the platform's command API move a
cookie RAW_DOUGH -> BAKED -> PACKAGED (stored) -> SHIPPED; an emergency stop fails the order under
way and refuses the next until reset, and is in the audit log.

It starts the whole stack and runs five orders (~18 s), so it runs with ``EDGETWIN_CHAOS_LONG=1``;
the suite's short variant is ``test_warehouse_sim.py`` (the device process on a real broker).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Stack, running_up

TERMINAL = {"succeeded", "failed", "expired"}


def command(stack: Stack, name: str, **args: Any) -> str:
    r = stack.http.post("/api/v1/devices/warehouse/commands",
                        json={"name": name, "args": args, "ttl_s": 120})  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def outcome(stack: Stack, cmd_id: str, timeout: float = 30) -> dict[str, Any]:
    found: dict[str, Any] = stack.wait_for(
        f"command {cmd_id} to end",
        lambda: (
            (c := stack.get(f"/api/v1/devices/warehouse/commands/{cmd_id}"))["state"] in TERMINAL
            and c
        ),
        timeout,
    )
    return found


@pytest.mark.skipif(
    os.environ.get("EDGETWIN_CHAOS_LONG") != "1", reason="long: EDGETWIN_CHAOS_LONG=1"
)
def test_orders_move_a_cookie_through_its_lifecycle_and_estop_latches(tmp_path: Path) -> None:
    with running_up(tmp_path, EDGETWIN_PACKS="warehouse", EDGETWIN_WAREHOUSE_SPEED="50") as stack:
        stack.wait_for("the warehouse's readings", lambda: any(
            d["machine"] == "warehouse" for d in stack.get("/api/v1/devices")), 30)  # fmt: skip
        stored = outcome(stack, command(stack, "STORE", slot="A1", flavor="VANILLA"))
        assert stored["state"] == "succeeded", stored
        assert stored["detail"]["final_state"] == "RAW_DOUGH"
        processed = outcome(stack, command(stack, "PROCESS", slot="A1"))
        assert processed["state"] == "succeeded", processed
        assert processed["detail"]["final_state"] == "PACKAGED"  # baked, packaged, stored back
        under_way = command(stack, "SHIP", slot="A1")
        stack.wait_for("the order to start", lambda: stack.get(
            f"/api/v1/devices/warehouse/commands/{under_way}")["state"] == "delivered", 10)  # fmt: skip
        assert outcome(stack, command(stack, "ESTOP"))["state"] == "succeeded"
        stopped = outcome(stack, under_way)
        assert stopped["state"] == "failed"
        assert stopped["detail"]["error"] == "emergency stop"
        refused = outcome(stack, command(stack, "SHIP", slot="A1"))
        assert refused["detail"]["error"] == "emergency stop latched: reset first"
        assert outcome(stack, command(stack, "RESET"))["state"] == "succeeded"  # carrier home
        shipped = outcome(stack, command(stack, "SHIP", slot="A1"))
        assert shipped["detail"]["final_state"] == "SHIPPED", shipped
        audit = stack.get("/api/v1/audit")
        rows = audit if isinstance(audit, list) else audit.get("entries", audit.get("items", []))
        assert any("ESTOP" in str(row.get("target", "")) for row in rows), rows[:5]
