"""The cmm pack's pipeline snippet: its MES and OPC UA sinks' outboxes hold the CMM's readings
only, while the cloud takes every reading of the plant; ``{mes_url}`` comes from the setting."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from edgetwin.core.errors import PipelineConfigError
from edgetwin.core.point import Point, parse_point
from edgetwin.edge.buffer import SqliteBuffer
from edgetwin.edge.pipeline import load_pipeline
from edgetwin.packs import load_pack
from edgetwin.packs.cmm.mes import configured_mes_url
from edgetwin.packs.cmm.mes_sim import mock_port
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


def test_the_mes_url_comes_from_the_setting_and_the_mock_listens_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert configured_mes_url(None, {}) == "http://127.0.0.1:8700"
    assert configured_mes_url(None, {"EDGETWIN_MES_PORT": "8711"}) == "http://127.0.0.1:8711"
    env = {"EDGETWIN_MES_URL": "http://mes.plant.example:9000/", "EDGETWIN_MES_PORT": "1"}
    assert configured_mes_url(None, env) == "http://mes.plant.example:9000"
    setting = SimpleNamespace(mes_url="https://mes.example/api")
    assert configured_mes_url(setting, env) == "https://mes.example/api"
    monkeypatch.delenv("EDGETWIN_MES_PORT", raising=False)
    monkeypatch.setenv("EDGETWIN_MES_URL", "http://127.0.0.1:8765")
    assert mock_port() == 8765
    register_plugins()
    pack = load_pack("cmm")
    assert pack.pipeline is not None
    text = pack.pipeline.read_text()
    assert 'url = "{mes_url}"' in text
    pipeline = load_pipeline(buffer_defaults={}, snippets=[("cmm", text)],
                             values={"data_dir": str(tmp_path)})  # fmt: skip
    mes = next(e for e in pipeline.of("sinks") if e.name == "mes")
    assert getattr(mes.config, "url", None) == "http://127.0.0.1:8765"
    given = load_pipeline(buffer_defaults={}, snippets=[("cmm", text)],
                          values={"data_dir": str(tmp_path), "mes_url": "http://10.0.0.9:80"})  # fmt: skip
    assert getattr(given.of("sinks")[1].config, "url", None) == "http://10.0.0.9:80"
    with pytest.raises(PipelineConfigError, match=r"unknown placeholder \{mes_host\}"):
        load_pipeline(buffer_defaults={}, snippets=[("x", text.replace("{mes_url}", "{mes_host}"))],
                      values={"data_dir": str(tmp_path)})  # fmt: skip
