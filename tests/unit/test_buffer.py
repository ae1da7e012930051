from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from edgetwin.core.point import Point, parse_point
from edgetwin.edge.buffer import ROW_OVERHEAD, BufferLimits, SqliteBuffer
from edgetwin.edge.routing import ReadingFilter, Routing
from edgetwin.edge.runtime import EdgeRuntime
from edgetwin.packs.factory.model import Faults, cycle

TS = datetime(2026, 1, 1, tzinfo=UTC)


def _points(n_cycles: int = 1, seed: int = 1) -> list:
    rng = random.Random(seed)
    out = []
    for i in range(n_cycles):
        out += cycle(TS.replace(second=2 * i), Faults(), rng, "acme", "plant-01")
    return out


def test_put_dedupes_by_id_and_keeps_order(tmp_path: Path) -> None:
    points = _points(2)
    with SqliteBuffer(tmp_path / "b.db") as buf:
        assert buf.put(points).stored == 108
        again = buf.put(points[:10])  # a broker redelivery is not buffered twice
        assert (again.stored, again.redelivered) == (0, 10)
        assert buf.depth == 108
        rows = buf.after(0, 1000)
        assert [parse_point(r.payload).id for r in rows] == [p.id for p in points]
        assert [r.seq for r in rows] == sorted(r.seq for r in rows)


def test_lanes_ack_and_sequence_never_goes_back(tmp_path: Path) -> None:
    with SqliteBuffer(tmp_path / "b.db") as buf:
        buf.put(_points(1, seed=1))
        watermark = buf.max_seq()
        buf.put(_points(1, seed=2))
        backlog = buf.between(0, watermark, 1000)
        live = buf.after(watermark, 1000)
        assert len(backlog) == len(live) == 54
        buf.ack(backlog + live)
        assert buf.stats().depth == 0
        assert buf.bytes == 0
        buf.put(_points(1, seed=3))
        assert min(r.seq for r in buf.after(0, 1000)) > watermark + 54


def test_survives_reopen_and_reports_stats(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    with SqliteBuffer(path) as buf:
        buf.put(_points(3))
    with SqliteBuffer(path) as buf:
        stats = buf.stats()
        assert stats.depth == 162
        assert stats.oldest_at_ms is not None
        assert stats.bytes > 0
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_dead_letters_move_aside_with_reason(tmp_path: Path) -> None:
    with SqliteBuffer(tmp_path / "b.db") as buf:
        buf.put(_points(1))
        rows = buf.after(0, 3)
        buf.dead_letter([(rows[0], "value: bad"), (rows[2], "unit: bad")], now_ms=1)
        assert buf.stats().depth == 52
        assert buf.stats().dead_letters == 2
        reasons = buf.db.execute("SELECT reason FROM dead_letters ORDER BY seq").fetchall()
        assert reasons == [("value: bad",), ("unit: bad",)]


def test_byte_accounting_matches_a_recount(tmp_path: Path) -> None:
    with SqliteBuffer(tmp_path / "b.db") as buf:
        buf.put(_points(5))
        buf.ack(buf.after(0, 100))
        counted = buf.bytes
    with SqliteBuffer(tmp_path / "b.db") as buf:
        assert buf.bytes == counted
        assert buf.depth == 170


def test_drop_oldest_keeps_the_newest_and_counts_every_drop(tmp_path: Path) -> None:
    points = _points(20)
    one = len(points[0].to_json()) + 36 + ROW_OVERHEAD
    limits = BufferLimits(max_bytes=one * 100, policy="drop_oldest")
    with SqliteBuffer(tmp_path / "b.db", limits=limits) as buf:
        dropped = 0
        for i in range(0, len(points), 54):
            result = buf.put(points[i : i + 54])
            dropped += result.dropped.get("evicted_oldest", 0)
        kept = [parse_point(r.payload).id for r in buf.after(0, 10_000)]
        assert dropped + len(kept) == len(points)
        assert kept == [p.id for p in points[dropped:]]  # exactly the oldest are gone
        assert buf.stats().dropped == {"evicted_oldest": dropped}
        assert buf.stats().state in ("high", "full")
    with SqliteBuffer(tmp_path / "b.db", limits=limits) as buf:
        assert buf.stats().dropped == {"evicted_oldest": dropped}  # counts are durable


def test_refuse_newest_keeps_the_oldest(tmp_path: Path) -> None:
    points = _points(20)
    one = len(points[0].to_json()) + 36 + ROW_OVERHEAD
    limits = BufferLimits(max_bytes=one * 100, policy="refuse_newest")
    with SqliteBuffer(tmp_path / "b.db", limits=limits) as buf:
        refused = sum(
            buf.put(points[i : i + 54]).dropped.get("buffer_full", 0) for i in range(0, 1080, 54)
        )
        kept = [parse_point(r.payload).id for r in buf.after(0, 10_000)]
        assert refused + len(kept) == len(points)
        assert kept == [p.id for p in points[: len(kept)]]
        assert 90 <= len(kept) <= 100


def test_expiry_by_time_in_the_buffer_not_by_the_device_clock(tmp_path: Path) -> None:
    limits = BufferLimits(max_age_s=60)
    clock = [TS.timestamp() + 8 * 86_400.0]  # the readings are stamped 8 days before arrival
    with SqliteBuffer(tmp_path / "b.db", limits=limits, clock=lambda: clock[0]) as buf:
        for i in range(3):  # arriving 2 s apart
            buf.put(_points(3)[54 * i : 54 * (i + 1)])
            clock[0] += 2
        assert buf.expire() == 0  # old stamps, but just arrived: kept
        clock[0] += 57  # now 63 s after the first arrival, 59 s after the last
        assert buf.expire() == 108
        assert buf.depth == 54
        assert buf.stats().dropped == {"expired": 108}
        assert buf.sink_dropped("cloud") == {"expired": 108}


def test_disk_full_applies_the_policy_and_recovers(tmp_path: Path) -> None:
    with SqliteBuffer(tmp_path / "b.db") as buf:
        buf.put(_points(1))
        pages = buf.db.execute("PRAGMA page_count").fetchone()[0]
        buf.db.execute(f"PRAGMA max_page_count = {pages + 2}")
        total_dropped = 0
        stored = 54
        for i in range(1, 40):
            r = buf.put(_points(1, seed=100 + i))
            stored += r.stored
            total_dropped += sum(r.dropped.values())
        assert total_dropped > 0
        assert stored - buf.stats().dropped.get("evicted_oldest", 0) == buf.depth
        buf.db.execute("PRAGMA max_page_count = 1073741823")  # space returns
        assert buf.put(_points(1, seed=999)).stored == 54


def test_a_damaged_file_is_set_aside_not_deleted(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    with SqliteBuffer(path) as buf:
        buf.put(_points(2))
    raw = path.read_bytes()
    path.write_bytes(b"garbage!" * 16 + raw[128:4096])  # truncated, header destroyed
    with SqliteBuffer(path) as buf:
        assert buf.set_aside is not None
        assert buf.set_aside.exists()
        assert buf.depth == 0
        assert buf.put(_points(1)).stored == 54
    assert path.exists()


def test_redelivery_of_a_forwarded_reading_is_recognised(tmp_path: Path) -> None:
    points = _points(2)
    with SqliteBuffer(tmp_path / "b.db", remember=60) as buf:
        buf.put(points)
        buf.ack(buf.after(0, 1000))
        again = buf.put(points)  # the broker restarted from an older saved state
        assert (again.stored, again.redelivered) == (48, 60)  # the last 60 are remembered
        assert buf.totals["accepted"] == 108 + 48


# -- one outbox per sink --


def _seqs(rows: list) -> list[int]:
    return [r.seq for r in rows]


def test_each_sink_reads_and_acknowledges_its_own_outbox(tmp_path: Path) -> None:
    with SqliteBuffer(tmp_path / "b.db", sinks=("cloud", "mes")) as buf:
        buf.put(_points(2))
        cloud, mes = buf.outbox("cloud"), buf.outbox("mes")
        assert cloud.depth == mes.depth == buf.depth == 108
        cloud.ack(cloud.after(0, 1000))
        assert (cloud.depth, mes.depth, buf.depth) == (0, 108, 108)  # the MES still needs them
        assert cloud.after(0, 1000) == []
        first = mes.after(0, 50)
        mes.ack(first)
        assert (mes.depth, buf.depth) == (58, 58)  # delivered everywhere: gone
        mes.ack(mes.after(0, 1000))
        assert (buf.depth, buf.bytes) == (0, 0)
        again = buf.put(_points(2)[:10])  # redelivered after both sinks had them: recognised
        assert (again.stored, again.redelivered) == (0, 10)


def test_acks_in_any_order_and_twice_keep_the_counts_exact(tmp_path: Path) -> None:
    with SqliteBuffer(tmp_path / "b.db", sinks=("a", "b")) as buf:
        buf.put(_points(3))
        a, b = buf.outbox("a"), buf.outbox("b")
        rows = a.after(0, 1000)
        a.ack(rows[100:])
        b.ack(rows[:50])
        a.ack(rows[:100])
        a.ack(rows[:10])  # a late duplicate answer
        b.ack(rows[50:])
        assert (a.depth, b.depth, buf.depth, buf.bytes) == (0, 0, 0, 0)


def test_a_new_sink_is_given_what_is_buffered_and_a_removed_one_releases_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "b.db"
    with SqliteBuffer(path) as buf:  # one sink, as every buffer before outboxes
        buf.put(_points(2))
        buf.ack(buf.after(0, 54))
        assert buf.depth == 54
    with SqliteBuffer(path, sinks=("cloud", "mes")) as buf:
        assert buf.outbox("cloud").depth == buf.outbox("mes").depth == 54
        buf.outbox("mes").ack(buf.outbox("mes").after(0, 20))
        assert (buf.outbox("mes").depth, buf.depth) == (34, 54)
    with SqliteBuffer(path, sinks=("mes",)) as buf:  # the cloud sink is gone from the config
        assert buf.depth == buf.outbox("mes").depth == 34
        assert buf.dropped == {"sink_removed": 54}
        assert buf.db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
        mes = buf.outbox("mes")
        mes.ack(mes.after(0, 1000))
        assert buf.depth == 0


def test_eviction_is_counted_for_each_sink_that_lost_the_readings(tmp_path: Path) -> None:
    points = _points(20)
    size = sum(len(p.to_json()) + 36 + ROW_OVERHEAD for p in points[:54])
    limits = BufferLimits(max_bytes=size * 5, policy="drop_oldest")
    with SqliteBuffer(tmp_path / "b.db", limits=limits, sinks=("cloud", "slow")) as buf:
        cloud, slow = buf.outbox("cloud"), buf.outbox("slow")
        for i in range(20):
            buf.put(points[54 * i : 54 * (i + 1)])
            cloud.ack(cloud.after(0, 1000))  # the cloud keeps up; the slow sink takes nothing
        lost = buf.dropped["evicted_oldest"]
        assert lost > 0
        assert buf.sink_dropped("slow") == {"evicted_oldest": lost}
        assert buf.sink_dropped("cloud") == {}
        assert (slow.depth + lost, cloud.depth) == (1080, 0)
        recount = buf.db.execute("SELECT count(*) FROM outbox WHERE sink = ?", (slow.sink_id,))
        assert recount.fetchone()[0] == slow.depth


@pytest.mark.parametrize("sinks", [("cloud",), ("cloud", "mes")])
def test_a_reading_dropped_in_flight_but_delivered_is_not_counted_lost(
    tmp_path: Path, sinks: tuple[str, ...]
) -> None:
    points = _points(6)
    size = sum(len(p.to_json()) + 36 + ROW_OVERHEAD for p in points[:54])
    limits = BufferLimits(max_bytes=size * 3, policy="drop_oldest")
    with SqliteBuffer(tmp_path / "b.db", limits=limits, sinks=sinks) as buf:
        cloud = buf.outbox("cloud")
        buf.put(points[:108])
        in_flight = cloud.after(0, 60)  # the forwarder has sent these
        buf.put(points[108:])  # the policy evicts the oldest, some of them in flight
        evicted = buf.dropped["evicted_oldest"]
        assert evicted > 60
        cloud.ack(in_flight)  # ... and the cloud confirms them all the same
        assert buf.sink_dropped("cloud") == {"evicted_oldest": evicted - 60}
        if len(sinks) == 1:
            assert buf.dropped == {"evicted_oldest": evicted - 60}
        else:  # the MES never got them: for the buffer they are still dropped
            assert buf.dropped == {"evicted_oldest": evicted}
            assert buf.sink_dropped("mes") == {"evicted_oldest": evicted}
    with SqliteBuffer(tmp_path / "b.db", limits=limits, sinks=sinks) as buf:
        assert buf.sink_dropped("cloud") == {"evicted_oldest": evicted - 60}  # durable


# -- routing: each sink's outbox holds only the readings its filter takes --

LINE_1 = ReadingFilter(lines=["line-01"])


def _outbox_count(buf: SqliteBuffer, sink: str) -> int:
    box = buf.outbox(sink)
    return int(
        buf.db.execute("SELECT count(*) FROM outbox WHERE sink = ?", (box.sink_id,)).fetchone()[0]
    )


def test_a_filtered_sink_gets_outbox_rows_only_for_its_readings(tmp_path: Path) -> None:
    points = _points(3)
    line1 = [p for p in points if p.line == "line-01"]
    sinks = ("cloud", "mes")
    with SqliteBuffer(tmp_path / "b.db", sinks=sinks, filters={"mes": LINE_1}) as buf:
        result = buf.put(points)
        assert (result.stored, result.unrouted) == (162, 0)
        cloud, mes = buf.outbox("cloud"), buf.outbox("mes")
        assert (cloud.depth, mes.depth, buf.depth) == (162, len(line1), 162)
        assert _outbox_count(buf, "mes") == len(line1) == 54  # 3 machines x 6 metrics x 3
        assert [parse_point(r.payload).id for r in mes.after(0, 1000)] == [p.id for p in line1]
        size = sum(r.size for r in mes.after(0, 1000))
        assert buf.sink_bytes("mes") == size
        cloud.ack(cloud.after(0, 1000))  # the rest was only the cloud's: gone
        assert (buf.depth, mes.depth) == (54, 54)
        mes.ack(mes.after(0, 1000))
        assert (buf.depth, buf.bytes, buf.sink_bytes("mes")) == (0, 0, 0)


def test_a_reading_no_sink_takes_is_counted_unrouted_not_stored(tmp_path: Path) -> None:
    points = _points(2)
    filters = {"cloud": ReadingFilter(machines=["cnc-*"]), "mes": LINE_1}
    with SqliteBuffer(tmp_path / "b.db", sinks=("cloud", "mes"), filters=filters) as buf:
        result = buf.put(points)
        taken = [p for p in points if p.line == "line-01"]  # cnc-01, cnc-02, robot-arm-01
        assert (result.stored, result.unrouted, result.redelivered) == (len(taken), 72, 0)
        assert result.dropped == {}  # not a policy drop: no buffer_full alert
        assert buf.dropped == {"unrouted": 72}
        assert (buf.outbox("cloud").depth, buf.outbox("mes").depth) == (24, 36)
        again = buf.put(points)  # a redelivery is recognised, not counted again
        assert (again.stored, again.unrouted, again.redelivered) == (0, 0, 108)
    with SqliteBuffer(tmp_path / "b.db", sinks=("cloud", "mes"), filters=filters) as buf:
        assert buf.dropped == {"unrouted": 72}  # durable
        assert (buf.outbox("cloud").depth, buf.outbox("mes").depth) == (24, 36)


def test_one_filtered_sink_keeps_the_readings_table_as_its_outbox(tmp_path: Path) -> None:
    with SqliteBuffer(tmp_path / "b.db", filters={"cloud": LINE_1}) as buf:
        result = buf.put(_points(2))
        assert (result.stored, result.unrouted) == (36, 72)
        assert buf.single_sink
        assert buf.db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
        assert {parse_point(r.payload).line for r in buf.after(0, 1000)} == {"line-01"}
        assert buf.outbox("cloud").depth == buf.depth == 36


def test_a_sink_added_to_a_buffer_with_a_backlog_gets_what_its_filter_takes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "b.db"
    with SqliteBuffer(path) as buf:  # the cloud alone, with a backlog
        buf.put(_points(2))
    with SqliteBuffer(path, sinks=("cloud", "mes"), filters={"mes": LINE_1}) as buf:
        assert (buf.outbox("cloud").depth, buf.outbox("mes").depth) == (108, 36)
        assert _outbox_count(buf, "mes") == 36
        rows = buf.outbox("mes").after(0, 1000)
        assert {parse_point(r.payload).line for r in rows} == {"line-01"}


def test_routes_must_match_the_rows_and_a_rollback_takes_the_count_back(tmp_path: Path) -> None:
    points = _points(1)
    rows = [(str(p.id), p.to_json()) for p in points]
    with SqliteBuffer(tmp_path / "b.db", sinks=("a", "b"), filters={"a": LINE_1}) as buf:
        with pytest.raises(ValueError, match="routes"):
            buf.put_rows(rows, [1])
        buf.db.execute(
            "CREATE TRIGGER no BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'x'); END"
        )
        with pytest.raises(sqlite3.IntegrityError):
            buf.put_rows(rows, [0] * 50 + [3] * 4)
        assert (buf.dropped, buf.depth) == ({}, 0)
        buf.db.execute("DROP TRIGGER no")
        result = buf.put_rows(rows, [0] * 50 + [1, 2, 3, 3])
        assert (result.stored, result.unrouted, buf.dropped) == (4, 50, {"unrouted": 50})
        assert (buf.outbox("a").depth, buf.outbox("b").depth) == (3, 3)
        assert (_outbox_count(buf, "a"), _outbox_count(buf, "b")) == (3, 3)


def test_routing_masks_follow_globs_and_the_sinks_order() -> None:
    routing = Routing(
        ("cloud", "mes", "opcua"),
        {"mes": ReadingFilter(lines=["metro*"], metrics=["length", "verdict"]),
         "opcua": ReadingFilter(machines=["cmm-0[1-3]"])},
    )  # fmt: skip
    assert not routing.everything
    assert routing.mask("metrology", "cmm-01", "length") == 0b111
    assert routing.mask("metrology", "cmm-09", "verdict") == 0b011
    assert routing.mask("metrology", "cmm-02", "temperature") == 0b101
    assert routing.mask("Metrology", "x", "length") == 0b001  # case-sensitive
    assert Routing(("cloud",)).everything
    with pytest.raises(ValueError, match="no sink: ghost"):
        Routing(("cloud",), {"ghost": LINE_1})
    with pytest.raises(ValidationError):
        ReadingFilter(lines=[])
    with pytest.raises(ValidationError):
        ReadingFilter.model_validate({"line": ["x"]})


def test_the_commit_path_routes_processed_readings_too() -> None:
    class Halver:
        name = "halver"

        def wants(self, point: Point) -> bool:
            return point.metric == "temp"

        def process(self, points: list[Point]) -> list[Point]:
            return [
                p.model_copy(update={"metric": "temp_half", "value": p.value / 2}) for p in points
            ]

        def state(self) -> dict[str, object]:
            return {}

        def load(self, state: dict[str, object]) -> None:
            return None

    points = _points(1)
    routing = Routing(("cloud", "temps"), {"temps": ReadingFilter(metrics=["temp_*"])})
    rows, routes = EdgeRuntime._routed_rows(points, None, [Halver()], routing)
    assert routes is not None
    assert len(routes) == len(rows) == 54
    metrics = [orjson.loads(payload)["metric"] for _id, payload in rows]
    assert [m for m, r in zip(metrics, routes, strict=True) if r == 0b11] == ["temp_half"] * 9
    assert all(r == 0b01 for m, r in zip(metrics, routes, strict=True) if m != "temp_half")
    assert EdgeRuntime._routed_rows(points, None, [], None)[1] is None
