"""Faults inside the edge: a buffer that fills (either policy), a damaged buffer file, a clock
an hour off, and malformed input between good readings."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time
from collections.abc import Callable

import httpx
import pytest

from tests.chaos.harness import LONG, PLANT, TENANT, Harness, Report, _uuid_hex, long_only
from tests.chaos.test_kills import _assert_exact
from tests.conftest import need
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.chaos
OUTAGE_S = 60.0 if LONG else 5.0


@pytest.mark.parametrize("policy", ["drop_oldest", pytest.param("refuse_newest", marks=long_only)])
def test_buffer_full_drops_exactly_what_the_policy_says(
    policy: str, harness: Callable[..., Harness], record: Callable[[Report], Report]
) -> None:
    h = harness(
        edge_env={"EDGETWIN_BUFFER_MAX_BYTES": str(96 * 1024), "EDGETWIN_BUFFER_POLICY": policy}
    )
    time.sleep(2)
    h.gen.command("network_outage", True)
    wait_for(lambda: h.edge_status().get("uplink") == "cut", 10, what="uplink cut")
    time.sleep(OUTAGE_S)
    status = wait_for(
        lambda: (s := h.edge_status()) and s.get("dropped") and s, 10, what="drops reported"
    )
    stats = h.http.get("/api/v1/stats").json()
    kinds = {a["kind"] for a in stats["alerts"] if a["active"]}
    assert {"buffer_full", "buffer_high"} <= kinds, stats["alerts"]
    assert status["runway_s"] is not None
    reason = "evicted_oldest" if policy == "drop_oldest" else "buffer_full"
    h.gen.command("network_outage", False)
    time.sleep(3)  # live readings after the restore
    recovery = h.settle(missing=lambda: int(h.edge_status()["dropped"][reason]))
    edge = h.edge_status()
    dropped = int(edge["dropped"][reason])
    r = h.report(f"buffer full 96 KiB, {policy}", recovery, dropped=dropped)
    stored = {_uuid_hex(row[0]) for row in h.stored_rows()}
    missing = sorted(s.order for rid, s in h.gen.sent.items() if rid not in stored)
    r.notes = f"dropped {dropped} ({reason}), missing {len(missing)}; alert raised and visible in /api/v1/stats"
    record(r)
    assert len(missing) == dropped > 0
    assert missing == list(range(missing[0], missing[0] + dropped)), "not one contiguous block"
    buffered_during = [
        s.order for rid, s in h.gen.sent.items() if rid in stored and s.order > missing[0]
    ]
    if policy == "drop_oldest":
        assert buffered_during, "the newest readings must survive"
    else:
        # refuse_newest keeps the start of the outage; the block ends where the link came back
        assert min(buffered_during) > missing[-1]
    assert r.duplicated == 0
    assert r.out_of_order == 0


def test_damaged_buffer_is_set_aside_and_alerted(
    harness: Callable[..., Harness], record: Callable[[Report], Report]
) -> None:
    h = harness()
    h.gen.command("network_outage", True)
    wait_for(lambda: h.edge_status().get("uplink") == "cut", 10, what="uplink cut")
    time.sleep(2)
    h.edge.stop()
    path = h.dir / "edge" / "edge-01.buffer.db"
    held = int(sqlite3.connect(path).execute("SELECT count(*) FROM readings").fetchone()[0])
    with path.open(
        "r+b"
    ) as fh:  # destroy the header and truncate, as a bad sector or power cut might
        fh.write(b"\0garbage" * 64)
        fh.truncate(4096)
    for extra in ("-wal", "-shm"):
        (path.parent / (path.name + extra)).unlink(missing_ok=True)
    h.start_edge()
    aside = list(path.parent.glob("edge-01.buffer.db.corrupt-*"))
    assert aside, "the damaged file must be kept for inspection"
    alerts = wait_for(
        lambda: [
            a for a in h.http.get("/api/v1/stats").json()["alerts"] if a["kind"] == "buffer_corrupt"
        ],
        10,
        what="buffer_corrupt alert",
    )
    assert alerts[0]["active"]
    h.gen.command("network_outage", False)
    r = h.report("damaged buffer file at start", h.settle(missing=lambda: held))
    r.notes = (
        f"{held} readings were in the damaged file (set aside as {aside[0].name}, not deleted)"
    )
    r.lost -= held
    record(r)
    assert r.lost <= 0  # nothing lost beyond what the damaged file held
    assert r.stored >= r.confirmed - held
    assert r.duplicated == 0


def _faketime() -> list[str]:
    need(
        shutil.which("faketime") is not None,
        "faketime is not installed (Debian package 'faketime')",
    )
    return ["faketime", "-f"]


@pytest.mark.parametrize(
    ("who", "offset"),
    [
        ("edge", "+1h"),
        pytest.param("edge", "-1h", marks=long_only),
        pytest.param("device", "+1h", marks=long_only),
        ("device", "-1h"),
    ],
)
def test_clock_an_hour_off(
    who: str, offset: str, harness: Callable[..., Harness], record: Callable[[Report], Report]
) -> None:
    if who == "edge":
        h = harness(edge_wrapper=[*_faketime(), offset])
    else:
        h = harness(skew_s=3600.0 if offset == "+1h" else -3600.0)
    time.sleep(2)
    h.gen.command("network_outage", True)  # a backlog forms and drains under the skewed clock
    time.sleep(3)
    h.gen.command("network_outage", False)
    time.sleep(2)
    _assert_exact(record(h.report(f"{who} clock {offset}", h.settle())))


def test_malformed_input_is_counted_and_harmless(
    harness: Callable[..., Harness], record: Callable[[Report], Report]
) -> None:
    h = harness()
    topic = f"v1/{TENANT}/{PLANT}/l1/m00/seq"
    wrong_topic = (  # a valid reading of m00 published on m01's topic
        b'{"ts":"2026-01-01T00:00:00.000Z","id":"00000000-0000-4000-8000-000000000001",'
        b'"tenant":"chaos","plant":"p1","line":"l1","machine":"m00","metric":"seq","value":1,'
        b'"unit":"n","q":100}'
    )
    bad: list[tuple[str, bytes]] = [
        (topic, b"{not json"),
        (topic, b"\xff\xfe\x00binary"),
        (topic, b'{"value": "hot"}'),
        (topic, b"[" * 100_000 + b"]" * 100_000),  # deeply nested, and oversized
        (topic, b'{"x": "' + b"a" * 70_000 + b'"}'),  # oversized
        (f"v1/{TENANT}/{PLANT}/l1/m01/seq", wrong_topic),
    ]
    time.sleep(1)
    for t, payload in bad:
        for _ in range(5):
            h.gen.inject(t, payload)
        time.sleep(0.2)
    # HTTP: malformed, deeply nested and oversized bodies straight at the cloud
    json_type = {"content-type": "application/json"}
    assert h.http.post("/api/v1/ingest", content=b"{nope", headers=json_type).status_code == 422
    nested = b"[" * 5000 + b"]" * 5000
    assert h.http.post("/api/v1/ingest", content=nested, headers=json_type).status_code == 422
    big = b"[" + b",".join([b'{"a": "' + b"x" * 1000 + b'"}'] * 10_000) + b"]"
    with contextlib.suppress(
        httpx.RemoteProtocolError
    ):  # closing on an oversized body is a refusal too
        assert h.http.post("/api/v1/ingest", content=big, headers=json_type).status_code == 413
    assert h.http.get("/health").status_code == 200
    assert h.http.get("/api/v1/stats").json()["rejected"] >= 2
    time.sleep(2.5)
    rejected = h.edge_status()["rejected"]
    r = record(h.report("malformed MQTT + HTTP between good readings", h.settle()))
    r.notes = f"edge rejected {rejected}; HTTP answered 422, 422, 413"
    assert rejected.get("malformed", 0) >= 15
    assert rejected.get("too_large", 0) >= 10
    assert rejected.get("topic_mismatch", 0) >= 5
    _assert_exact(r)
