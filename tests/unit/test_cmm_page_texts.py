"""What the CMM page says about the MES and OPC UA sinks, from the edge's reported status
(``sinks.<name>``, with the sink's own report under ``stats``), and what the sinks report."""

from __future__ import annotations

from pathlib import Path

from edgetwin.core.plugins import PluginContext
from edgetwin.edge.alerts import Alerts
from edgetwin.packs.cmm.mes import MesSink, MesSinkConfig
from edgetwin.packs.cmm.opcua import OpcUaSink, OpcUaSinkConfig
from edgetwin.packs.cmm.page import mes_text, opcua_clients_text


def test_the_mes_card_shows_the_depth_and_the_state() -> None:
    assert mes_text(None) == ("–", "no edge reports an MES sink")
    sink = {"depth": 1234, "state": "ok", "sent": 80, "stats": {"posted": 10}}
    assert mes_text(sink) == ("1,234", "ok, 10 records posted")
    failing = {"depth": 8, "state": "failing", "sent": 0, "last_error": "MES answered 500"}
    assert mes_text(failing) == ("8", "failing, 0 readings acknowledged · MES answered 500")


def test_the_opcua_card_shows_the_clients_and_subscriptions() -> None:
    assert opcua_clients_text(None)[0] == "–"
    assert opcua_clients_text({"depth": 0})[1] == "this edge does not report its OPC UA clients"
    one = {"stats": {"clients": 1, "subscriptions": 1}}
    assert opcua_clients_text(one) == ("1", "1 subscription")
    more = {"stats": {"clients": 3, "subscriptions": 2, "refused_logins": 4}}
    assert opcua_clients_text(more) == ("3", "2 subscriptions · 4 logins refused")


def test_the_sinks_report_themselves_before_they_start(tmp_path: Path) -> None:
    ctx = PluginContext("acme", "plant-01", "edge-01", tmp_path, Alerts())
    opcua = OpcUaSink.from_config("opcua", OpcUaSinkConfig(), ctx).stats()
    assert opcua == {
        "type": "opcua", "endpoint": "opc.tcp://127.0.0.1:4840/edgetwin/", "security": "None",
        "clients": 0, "connections": 0, "subscriptions": 0, "refused_logins": 0,
    }  # fmt: skip
    mes = MesSink.from_config("mes", MesSinkConfig(url="http://127.0.0.1:8700"), ctx).stats()
    assert mes == {"type": "mes", "url": "http://127.0.0.1:8700", "posted": 0, "duplicates": 0,
                   "refused": 0, "skipped": 0, "delivered": None}  # fmt: skip
