"""The cmm pack's pipeline routes: its MES and OPC UA sinks' outboxes hold the CMM's readings
only, while the cloud takes every reading of the plant."""

from __future__ import annotations

from pathlib import Path

from edgetwin.core.point import Point, parse_point
from edgetwin.edge.buffer import SqliteBuffer
from edgetwin.edge.pipeline import load_pipeline
from edgetwin.packs import load_pack
from edgetwin.packs.cmm.plugins import register_plugins
from tests.unit.test_buffer import TS, _points


def test_the_mes_and_opcua_outboxes_hold_only_the_cmm_readings(tmp_path: Path) -> None:
    register_plugins()
    pack = load_pack("cmm")
    assert pack.pipeline is not None
    pipeline = load_pipeline(
        buffer_defaults={},
        snippets=[("cmm", pack.pipeline.read_text())],
        values={"data_dir": str(tmp_path), "tenant": "acme", "plant": "plant-01",
                "mes_url": "http://127.0.0.1:8700"},
    )  # fmt: skip
    sinks = [e.name for e in pipeline.of("sinks")]
    assert sinks == ["cloud", "mes", "opcua"]
    assert set(pipeline.filters()) == {"mes", "opcua"}
    cmm = [
        Point.make(ts=TS, tenant="acme", plant="plant-01", line="metrology", machine=m,
                   metric=k, value=1.0, unit="")
        for m in ("cmm-01", "cmm-02") for k in ("length", "verdict")
    ]  # fmt: skip
    factory = _points(2)
    with SqliteBuffer(tmp_path / "b.db", sinks=sinks, filters=pipeline.filters()) as buf:
        result = buf.put(factory + cmm)
        assert (result.stored, result.unrouted) == (112, 0)  # the cloud takes everything
        for name in ("mes", "opcua"):
            rows = buf.outbox(name).after(0, 1000)
            assert [parse_point(r.payload).id for r in rows] == [p.id for p in cmm[:2]]
        assert buf.outbox("cloud").depth == 112
