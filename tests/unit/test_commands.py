"""The command lifecycle's forward-only rule, live topic patterns, and the edge's router (at most
once across redelivery and restarts, expiry, reboot completion). Clocks are injected. The cloud's
command service and its audit log run on both stores in ``tests/store/test_command_log.py``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from edgetwin.cloud.commands import advance
from edgetwin.cloud.live import topic_matches
from edgetwin.edge.commands import CommandRouter
from edgetwin.packs.motor.device_types import MOTOR


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def test_lifecycle_moves_only_forward() -> None:
    assert advance("queued", "sent")
    assert advance("sent", "delivered")
    assert advance("delivered", "succeeded")
    assert advance("queued", "expired")
    assert not advance("delivered", "sent")
    assert not advance("succeeded", "failed")
    assert not advance("expired", "succeeded")


def test_topic_patterns() -> None:
    assert topic_matches("v1/+/+/line-m/#", "v1/acme/p/line-m/m/temperature")
    assert topic_matches("#", "anything/at/all")
    assert not topic_matches("v1/acme/+/+/+/temperature", "v1/acme/p/l/m/vibration")
    assert not topic_matches("v1/acme/+", "v1/acme/p/l")


class Edge:
    def __init__(self, path: Path, clock: Clock, *, owned_only: bool = False) -> None:
        self.reports: list[dict[str, Any]] = []
        self.written: list[dict[str, Any]] = []
        self.router = CommandRouter(
            path, lambda _t, p: self.reports.append(orjson.loads(p)),
            tenant="acme", plant="plant-01", edge_id="edge-01", clock=clock,
            owned_only=owned_only,
        )  # fmt: skip
        self.router.open()

        async def serial_write(cmd: dict[str, Any]) -> None:
            self.written.append(cmd)

        # the motor's device type says a REBOOT completes when the device has restarted
        self.router.register("line-m", "stm32-motor-01", serial_write, MOTOR.command)

    def states(self) -> list[str]:
        return [r["state"] for r in self.reports]


def test_edge_runs_a_redelivered_command_once_even_after_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    cmd = orjson.dumps({"id": "c1", "name": "REBOOT", "args": {}, "expires_at": clock.t + 30})

    async def scenario() -> tuple[Edge, Edge]:
        edge = Edge(tmp_path / "cmds.db", clock)
        edge.router.handle("line-m", "stm32-motor-01", cmd)
        edge.router.handle("line-m", "stm32-motor-01", cmd)  # QoS 1 redelivery
        await asyncio.sleep(0.01)
        edge.router.on_device_event(
            "line-m", "stm32-motor-01", {"type": "ack", "id": "c1", "ok": True}
        )
        assert "succeeded" not in edge.states()  # an ack alone is not a reboot
        edge.router.on_device_event("line-m", "stm32-motor-01",
                                    {"type": "restarted", "id": "c1", "uptime": 0.01,
                                     "uptime_before": 9.0})  # fmt: skip
        edge.router.close()
        again = Edge(tmp_path / "cmds.db", clock)  # the edge restarted; the broker redelivers
        again.router.handle("line-m", "stm32-motor-01", cmd)
        await asyncio.sleep(0.01)
        return edge, again

    edge, again = asyncio.run(scenario())
    assert len(edge.written) == 1
    assert again.written == []
    assert edge.states() == ["delivered", "succeeded"]
    assert again.states() == ["succeeded"]  # only the known outcome is reported again


def test_edge_expires_and_fails_what_it_cannot_run(tmp_path: Path) -> None:
    clock = Clock()

    async def scenario() -> Edge:
        edge = Edge(tmp_path / "cmds.db", clock)
        old = {"id": "old", "name": "REBOOT", "expires_at": clock.t - 1}
        edge.router.handle("line-m", "stm32-motor-01", orjson.dumps(old))
        edge.router.handle("line-x", "ghost", orjson.dumps({"id": "g", "name": "PING"}))
        edge.router.handle("line-m", "stm32-motor-01", orjson.dumps({"id": "p", "name": "PING"}))
        await asyncio.sleep(0.01)
        clock.t += 10  # the device never answers
        task = asyncio.create_task(edge.router.run())
        await asyncio.sleep(0.05)
        task.cancel()
        return edge

    edge = asyncio.run(scenario())
    by_id = {r["id"]: r["state"] for r in edge.reports}
    assert by_id == {"old": "expired", "g": "failed", "p": "failed"}
    assert [c["id"] for c in edge.written] == ["p"]


def test_an_edge_sharing_its_plant_answers_only_for_its_own_devices(tmp_path: Path) -> None:
    """In a group of edges every edge sees every command; one that does not own the device
    stays silent (a "failed: no device" from it would end the command for everyone)."""
    clock = Clock()

    async def scenario() -> Edge:
        edge = Edge(tmp_path / "cmds.db", clock, owned_only=True)
        edge.router.handle("line-01", "cnc-01", orjson.dumps({"id": "x", "name": "STOP"}))
        edge.router.handle("line-m", "stm32-motor-01", orjson.dumps({"id": "m", "name": "PING"}))
        await asyncio.sleep(0.01)
        return edge

    edge = asyncio.run(scenario())
    assert [(r["id"], r["state"]) for r in edge.reports] == [("m", "delivered")]
    assert [c["id"] for c in edge.written] == ["m"]
    seen = edge.router.db.execute("SELECT id FROM seen").fetchall()
    assert seen == [("m",)]  # the other edge's command is not remembered here either


def test_an_answer_that_comes_before_the_write_is_seen_completes_the_command(
    tmp_path: Path,
) -> None:
    """A fast device (or a busy event loop) can bring the acknowledgement in before the write's
    own completion is processed: the command still succeeds, after ``delivered``."""
    clock = Clock()

    async def scenario() -> Edge:
        edge = Edge(tmp_path / "cmds.db", clock)

        async def answers_at_once(cmd: dict[str, Any]) -> None:
            edge.router.on_device_event("line-m", "stm32-motor-01",
                                        {"type": "ack", "id": cmd["id"], "ok": True})  # fmt: skip
            await asyncio.sleep(0)

        edge.router.register("line-m", "stm32-motor-01", answers_at_once, MOTOR.command)
        edge.router.handle("line-m", "stm32-motor-01", orjson.dumps({"id": "q", "name": "PING"}))
        await asyncio.sleep(0.01)
        clock.t += 10
        task = asyncio.create_task(edge.router.run())  # nothing is left to time out
        await asyncio.sleep(0.05)
        task.cancel()
        return edge

    edge = asyncio.run(scenario())
    assert edge.states() == ["delivered", "succeeded"]
