"""Typed boundaries: every API route documents its answer with a model in ``/openapi.json``, and
the WebSocket's messages, which OpenAPI cannot describe, match their models in
:mod:`edgetwin.cloud.schemas.live`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from edgetwin.cloud.app import create_app
from edgetwin.cloud.schemas.live import AlertEvent, CommandEvent, LiveEvent, ReadingEvent
from edgetwin.core.settings import Settings, load_settings
from tests.conftest import bearer

UNTYPED = {"/metrics"}  # Prometheus' text format


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(data_dir=tmp_path, mqtt_url="mqtt://127.0.0.1:1")
    with TestClient(_app(settings), headers=bearer(settings.data_dir)) as c:
        yield c


def _app(settings: Settings) -> FastAPI:
    """The cloud with every default pack's routes, as ``edgetwin up`` serves it (no dashboard)."""
    try:
        from edgetwin.compose import build_app
    except ImportError:  # a tree without the composing module: the cloud's own routes
        return create_app(settings)
    return build_app(settings, dashboard=False)


def _is_model(schema: dict[str, Any]) -> bool:
    """A named model (a ``$ref``), or a list or map of one: not a bare ``object``."""
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return _is_model(schema.get("items", {}))
    extra = schema.get("additionalProperties")
    return schema.get("type") == "object" and isinstance(extra, dict) and _is_model(extra)


def test_every_api_route_answers_with_a_model(client: TestClient) -> None:
    """Every operation under ``/api/`` (and ``/health``) has a success answer with a JSON body
    described by a model (or answers 204, no content), so ``/docs`` shows it. WebSockets are not in OpenAPI at all."""
    paths = client.get("/openapi.json").json()["paths"]
    checked, untyped = [], []
    for path, operations in paths.items():
        if path in UNTYPED or not (path.startswith("/api/") or path == "/health"):
            continue
        for method, op in operations.items():
            checked.append(f"{method.upper()} {path}")
            ok = [
                answer["content"]["application/json"]["schema"]
                for code, answer in op["responses"].items()
                if code.startswith("2") and "application/json" in answer.get("content", {})
            ]
            if "204" in op["responses"] and not ok:
                continue  # no content: nothing to describe
            if not ok or not all(_is_model(s) for s in ok):
                untyped.append(f"{method.upper()} {path}")
    assert "GET /api/v1/stats" in checked
    assert "POST /api/v1/ingest" in checked
    assert not untyped, f"routes without a response model: {untyped}"


def test_the_models_are_in_the_schema_under_their_own_names(client: TestClient) -> None:
    """Two models of one name get module-path names (``edgetwin__cloud__...``) in ``/docs``."""
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("Stats", "EdgePublic", "SinkStatus", "Device", "IngestCounts", "Series",
                 "CommandRecord", "CommandStep", "Health"):  # fmt: skip
        assert name in schemas, name
    assert not [name for name in schemas if "__" in name], "two models share a name"


def _reading(ts: datetime) -> dict[str, Any]:
    return {
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "id": "00000000-0000-4000-8000-000000000001",
        "tenant": "acme",
        "plant": "plant-01",
        "line": "line-m",
        "machine": "stm32-motor-01",
        "metric": "temp",
        "value": 45.5,
        "unit": "Cel",
        "q": 100,
    }


def test_live_messages_match_their_models(client: TestClient) -> None:
    adapter: TypeAdapter[ReadingEvent | AlertEvent | CommandEvent] = TypeAdapter(LiveEvent)
    app: Any = client.app
    link = app.state.plant_link
    status = {
        "edge_id": "edge-01",
        "ts": time.time(),
        "buffer_depth": 3,
        "alerts": [
            {
                "kind": "buffer_high",
                "message": "80% full",
                "since": time.time(),
                "active": True,
                "cleared": None,
            }
        ],
    }
    with client.websocket_connect("/api/v1/live?topics=v1/acme/plant-01/%23") as ws:
        assert client.post("/api/v1/ingest", json=_reading(datetime.now(UTC))).status_code == 200
        reading = ws.receive_json()
        created = client.post(
            "/api/v1/devices/stm32-motor-01/commands",
            json={"name": "PING"},
            params={"line": "line-m"},
        )
        assert created.status_code == 201
        command = ws.receive_json()
        assert client.portal is not None
        client.portal.call(link.on_status, "v1/acme/plant-01/status/edge-01", status)
        alert = ws.receive_json()
    assert isinstance(adapter.validate_python(reading), ReadingEvent)
    assert reading["data"]["historical"] is False
    assert isinstance(adapter.validate_python(command), CommandEvent)
    assert command["data"] == created.json()
    assert isinstance(adapter.validate_python(alert), AlertEvent)
    assert alert["topic"] == "v1/acme/plant-01/alert/buffer_high"


def test_an_edge_status_reaches_stats_typed(client: TestClient) -> None:
    """The edge's status report, validated as ``EdgeStatus``, shows in ``/api/v1/stats`` with its
    per-sink outboxes; keys the cloud does not know are ignored, a malformed report is not."""
    app: Any = client.app
    edges = app.state.services.edges
    now = time.time()
    edges.from_status(
        {
            "edge_id": "edge-01",
            "ts": now,
            "buffer_depth": 7,
            "uplink": "ok",
            "received": 100,
            "some_future_key": {"x": 1},
            "sinks": {"cloud": {"depth": 7, "oldest_age_s": 1.5, "state": "ok", "sent": 93}},
        }
    )
    edges.from_status({"edge_id": "edge-02", "ts": now, "buffer_depth": "many"})
    [edge] = client.get("/api/v1/stats").json()["edges"]
    assert (edge["edge_id"], edge["buffer_depth"], edge["received"]) == ("edge-01", 7, 100)
    assert edge["sinks"]["cloud"]["depth"] == 7
    assert edge["sinks"]["cloud"]["sent"] == 93
    assert "some_future_key" not in edge
