"""Every registered sink, against a target that fails and loses answers, across a restart of
its forwarder: the target gets every reading, and none twice except where an answer was lost."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgetwin.core.plugins import PluginContext, Sink
from edgetwin.edge.alerts import Alerts
from edgetwin.edge.buffer import SqliteBuffer
from edgetwin.edge.forwarder import Forwarder
from edgetwin.edge.registry import REGISTRY
from edgetwin.packs import register_plugins
from tests.conformance.cmm_opcua import opcua_case
from tests.conformance.grid_cases import jetstream_case
from tests.conformance.targets import FlakyTarget, cloud_answer, webhook_answer
from tests.unit.test_buffer import _points

# sink type -> (its config for a target URL, how that target answers a commit)
CASES: dict[str, tuple[Callable[[str], dict[str, Any]], Any]] = {
    "cloud": (lambda url: {"urls": [url], "timeout_s": 2.0}, cloud_answer),
    "http": (lambda url: {"url": f"{url}/batches", "timeout_s": 2.0}, webhook_answer),
}


def test_every_registered_sink_has_a_conformance_case() -> None:
    register_plugins()  # the packs' own plugins too
    assert set(REGISTRY["sinks"]) == set(CASES) | set(RECORD_CASES)


def mes_case(tmp_path: Path) -> None:
    """The MES sink turns readings into records: with batches that split measurements, a
    target that fails and loses answers, and a restart, the MES holds every measurement once,
    first received in order, with its part serial."""
    from edgetwin.packs.cmm.mes_sim import MockMes
    from tests.integration.cmm_pump import measurements

    register_plugins(["cmm"])
    n = 30
    points = asyncio.run(measurements(tmp_path / "inbox", tmp_path, n))
    mes = MockMes(seed=3, fail=0.15, lose=0.1, latency=(0.0, 0.01))
    threading.Thread(target=mes.serve_forever, daemon=True).start()
    spec = REGISTRY["sinks"]["cmm_mes"]
    ctx = PluginContext("acme", "plant-01", "edge-01", tmp_path, Alerts())

    def sink() -> Sink:
        made: Sink = spec.factory("mes", spec.config(url=mes.url, timeout_s=2.0), ctx)
        return made

    async def scenario() -> None:
        path = tmp_path / "b.db"
        with SqliteBuffer(path, sinks=("mes",)) as buf:
            buf.put(points)
            fwd = Forwarder(buf.outbox("mes"), sink(), batch=7, max_backoff_s=0.02)
            await _forward_until(fwd, lambda: len(mes.records) >= n // 2)
        with SqliteBuffer(path, sinks=("mes",)) as buf:
            fwd = Forwarder(buf.outbox("mes"), sink(), batch=7, max_backoff_s=0.02)
            await _forward_until(fwd, lambda: buf.depth == 0)

    try:
        asyncio.run(scenario())
    finally:
        mes.server.shutdown()
    assert [r["measurement"] for r in mes.records] == list(range(1, n + 1))
    assert len({r["idempotency_key"] for r in mes.records}) == n
    assert all(r["part_serial"].startswith("AL-") for r in mes.records)
    assert mes.lost_answers > 0  # the failure paths were taken


# sinks whose target takes records built from several readings, each with its own scenario
RECORD_CASES: dict[str, Callable[[Path], None]] = {
    "cmm_mes": mes_case,
    "cmm_opcua": opcua_case,
    "jetstream": jetstream_case,
}


@pytest.mark.parametrize("type_", sorted(RECORD_CASES))
def test_a_record_sink_delivers_every_record_once_in_order(tmp_path: Path, type_: str) -> None:
    RECORD_CASES[type_](tmp_path)


def _sink(type_: str, url: str, tmp_path: Path) -> Sink:
    spec = REGISTRY["sinks"][type_]
    config = spec.config(**CASES[type_][0](url))
    ctx = PluginContext("acme", "plant-01", "edge-01", tmp_path, Alerts())
    sink: Sink = spec.factory(type_, config, ctx)
    return sink


async def _forward_until(fwd: Forwarder, done: Callable[[], bool], limit_s: float = 30) -> None:
    task = asyncio.create_task(fwd.run())
    try:
        for _ in range(int(limit_s / 0.01)):
            if done():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{fwd.name}: not done in {limit_s} s ({fwd.stats})")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("type_", sorted(CASES))
def test_a_sink_delivers_everything_once_across_a_restart_and_a_failing_target(
    tmp_path: Path, type_: str
) -> None:
    points = _points(20, seed=11)
    want = {str(p.id) for p in points}
    path = tmp_path / "b.db"

    async def scenario(target: FlakyTarget) -> None:
        with SqliteBuffer(path, sinks=(type_,)) as buf:
            buf.put(points)
            fwd = Forwarder(buf.outbox(type_), _sink(type_, target.url, tmp_path), batch=50,
                            max_backoff_s=0.02)  # fmt: skip
            await _forward_until(fwd, lambda: buf.depth < len(points) // 2)
        # the edge restarts: a new buffer object on the same file, a new sink
        with SqliteBuffer(path, sinks=(type_,)) as buf:
            fwd = Forwarder(buf.outbox(type_), _sink(type_, target.url, tmp_path), batch=50,
                            max_backoff_s=0.02)  # fmt: skip
            await _forward_until(fwd, lambda: buf.depth == 0)

    with FlakyTarget(CASES[type_][1], seed=3) as target:
        asyncio.run(scenario(target))
    assert set(target.commits) == want
    assert target.lost_answers > 0  # the failure paths were taken, not only the happy one
    twice = sum(n - 1 for n in target.commits.values())
    # Only a batch whose answer was lost (or in flight at the restart) may arrive again.
    assert twice <= (target.lost_answers + 3) * 50
    if target.lost_answers == 0:
        assert twice <= 3 * 50
