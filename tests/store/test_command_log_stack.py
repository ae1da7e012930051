"""The motor's reboot end to end with the command log in PostgreSQL: ``edgetwin up --db
postgresql://...``, the command over MQTT QoS 1 down to the serial line and the device's answer
back up, every step in the database's ``commands`` table (SQLite: ``tests/integration``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.integration.conftest import wait_for
from tests.integration.test_motor import MOTOR, MotorStack

pytestmark = pytest.mark.integration


@pytest.fixture
def motor(pg_url: str, tmp_path: Path) -> Iterator[MotorStack]:
    stack = MotorStack(tmp_path / "data", "--db", pg_url)
    stack.start()
    yield stack
    stack.stop()


def test_reboot_with_the_log_in_postgresql(motor: MotorStack, pg_url: str) -> None:
    wait_for(lambda: motor.uptime() > 2.0, 10, what="2 s of uptime")
    code, cmd = motor.command("REBOOT", idempotency_key="reboot-1", ttl_s=30)
    code2, again = motor.command("REBOOT", idempotency_key="reboot-1", ttl_s=30)
    assert (code, code2) == (201, 200)
    assert again["id"] == cmd["id"]
    wait_for(lambda: motor.state(cmd["id"]) == "succeeded", 10, interval=0.05,
             what="the reboot to succeed")  # fmt: skip
    done = motor.get(f"/api/v1/devices/{MOTOR}/commands/{cmd['id']}")
    assert [h["state"] for h in done["history"]] == ["queued", "sent", "delivered", "succeeded"]
    assert done["detail"]["uptime_after"] < 1.0 < done["detail"]["uptime_before"]
    assert [c["id"] for c in motor.get(f"/api/v1/devices/{MOTOR}/commands")] == [cmd["id"]]
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT state, requested_by, json_array_length(history) FROM commands WHERE id = %s",
            (cmd["id"],),
        ).fetchone()
    assert row is not None
    assert (row[0], row[2]) == ("succeeded", 4)
    assert str(row[1]).startswith("token:")  # the caller who sent it
    assert not (motor.data_dir / "commands.db").exists()
