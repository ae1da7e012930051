"""The stream sink into a real JetStream (our embedded nats-server): exactly once into the stream
across an unanswered publish followed by an outage longer than JetStream's default duplicate
window (2 minutes; the long variant, ``EDGETWIN_CHAOS_LONG=1``), and the same with the window
shortened (the normal suite); with a window shorter than the outage the resend is stored twice,
which shows the test can see a duplicate."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest

from edgetwin.core.errors import SinkRetryableError
from edgetwin.core.plugins import BatchInfo, PluginContext
from edgetwin.core.point import Point
from edgetwin.core.settings import Settings, load_settings
from edgetwin.edge.alerts import Alerts
from edgetwin.edge.sinks.jetstream import JetStreamSink, JetStreamSinkConfig
from edgetwin.streams import server
from edgetwin.streams.kept import KeptMessages, kept_path
from edgetwin.streams.subjects import INGEST_STREAM, RAW
from tests.chaos.proxy import FaultProxy
from tests.conftest import free_port

LONG = os.environ.get("EDGETWIN_CHAOS_LONG") == "1"
INFO = BatchInfo(historical=False, waiting=0, oldest_age_s=None)


@contextlib.contextmanager
def embedded_nats(data_dir: Path, **settings: object) -> Iterator[Settings]:
    """Our embedded NATS server on a free port, stopped (and waited for) at the end."""
    s = load_settings(data_dir=data_dir, nats_port=free_port(), **settings)
    proc = subprocess.Popen(server.prepare(s), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                import socket

                socket.create_connection(("127.0.0.1", s.nats_port), 0.2).close()
                break
            time.sleep(0.02)
        yield s
    finally:
        proc.terminate()
        proc.wait(10)


def _markers(n: int) -> list[tuple[Point, bytes]]:
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        p = Point.make(ts=now, tenant="acme", plant="plant-01", line="grid", machine="b-1",
                       metric="event_type", value=0, unit="enum")  # fmt: skip
        out.append((p, b'{"device_id":"b-1","n":%d}' % i))
    return out


async def _stored(s: Settings) -> int:
    nc = await nats.connect(server.servers(s))
    info = await nc.jetstream().stream_info(INGEST_STREAM)
    await nc.close()
    return int(info.state.messages)


async def _outage(tmp_path: Path, s: Settings, outage_s: float) -> tuple[int, int]:
    """A batch published, its acknowledgement lost, the link down ``outage_s``, then resent:
    returns (messages in the stream, duplicates the resend was told of)."""
    proxy = FaultProxy(s.nats_port, free_port()).start()
    url = server.servers(s)[0].replace(f":{s.nats_port}", f":{proxy.port}")
    ctx = PluginContext("acme", "plant-01", "edge-01", tmp_path, Alerts(), settings=s)
    sink = JetStreamSink("stream", JetStreamSinkConfig(url=url, message_metric="event_type",
                                                      timeout_s=1.0), ctx)  # fmt: skip
    first, second = _markers(5), _markers(7)
    with KeptMessages(kept_path(tmp_path)) as kept:
        kept.put([(str(p.id), RAW, body) for p, body in first + second])
    try:
        async with sink:
            assert (await sink.write([p.to_json() for p, _ in first], INFO)).accepted == 5
            proxy.drop_ratio = 1.0
            proxy.set_mode("drop_response")  # the stream stores the batch; its answer is lost
            with pytest.raises(SinkRetryableError):
                await sink.write([p.to_json() for p, _ in second], INFO)
            proxy.set_mode("reset")
            end = time.monotonic() + outage_s
            while time.monotonic() < end:  # the forwarder keeps trying all along
                with contextlib.suppress(SinkRetryableError):
                    await sink.write([p.to_json() for p, _ in second], INFO)
                    pytest.fail("a write went through during the outage")
                await asyncio.sleep(0.5)
            proxy.set_mode("pass")
            for _ in range(40):
                try:
                    result = await sink.write([p.to_json() for p, _ in second], INFO)
                    break
                except SinkRetryableError:
                    await asyncio.sleep(0.25)
            else:
                pytest.fail("the sink never came back")
    finally:
        proxy.stop()
    return await _stored(s), result.duplicate


def test_exactly_once_into_the_stream_across_an_outage_longer_than_the_default_window(
    tmp_path: Path,
) -> None:
    # the window is the buffer's maximum age: shortened here to 8 s, the outage 3 s; in the long
    # variant the default (the buffer's 7 days) against an outage of 130 s
    options = {} if LONG else {"buffer_max_age_s": 8.0}
    with embedded_nats(tmp_path / "d", **options) as s:
        stored, dups = asyncio.run(_outage(tmp_path, s, 130.0 if LONG else 3.0))
    assert stored == 12  # 5 + 7, none twice
    assert dups == 7


def test_a_window_shorter_than_the_outage_would_store_the_resend_twice(tmp_path: Path) -> None:
    with embedded_nats(tmp_path / "d", nats_duplicate_window_s=1.0) as s:
        stored, _dups = asyncio.run(_outage(tmp_path, s, 2.5))
    assert stored > 12  # the batch whose answer was lost is stored again


def test_the_embedded_server_refuses_a_taken_port_clearly(tmp_path: Path) -> None:
    from edgetwin.core.errors import PortInUseError

    with embedded_nats(tmp_path / "a") as s:
        taken = load_settings(data_dir=tmp_path / "b", nats_port=s.nats_port)
        with pytest.raises(PortInUseError, match="--nats-port"):
            server.prepare(taken)


def test_kept_ids_are_message_ids_so_a_second_marker_is_a_duplicate(tmp_path: Path) -> None:
    async def run(s: Settings) -> tuple[int, int, int]:
        ctx = PluginContext("acme", "plant-01", "edge-01", tmp_path, Alerts(), settings=s)
        sink = JetStreamSink("stream", JetStreamSinkConfig(message_metric="event_type"), ctx)
        batch = _markers(3)
        with KeptMessages(kept_path(tmp_path)) as kept:
            kept.put([(str(p.id), RAW, body) for p, body in batch])
        async with sink:
            a = await sink.write([p.to_json() for p, _ in batch], INFO)
            b = await sink.write([p.to_json() for p, _ in batch], INFO)  # the outbox's resend
            other = Point.make(ts=datetime.now(UTC), tenant="acme", plant="plant-01", line="l",
                               machine="m", metric="temp", value=1, unit="°C", id=uuid.uuid4())  # fmt: skip
            c = await sink.write([other.to_json()], INFO)  # not its business
        return a.accepted, b.duplicate, c.accepted + c.duplicate

    with embedded_nats(tmp_path / "d") as s:
        assert asyncio.run(run(s)) == (3, 3, 0)
        assert asyncio.run(_stored(s)) == 3
