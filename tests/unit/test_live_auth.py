"""``WS /api/v1/live`` behind authentication (real SQLite, FastAPI's TestClient): no credentials
is a 1008 close with a reason; a token in the query, the header or the session cookie lets a
caller in; every message is of the caller's tenants, and an application's key gets only its
device types' readings; a revoked token's stream is closed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from edgetwin.cloud.deps import SESSION_COOKIE
from edgetwin.cloud.live import TYPES_MISS_TTL_S, TYPES_TTL_S, DeviceTypes
from edgetwin.cloud.routes import live as live_route
from edgetwin.compose import build_app
from edgetwin.core.errors import StoreUnavailableError
from edgetwin.core.security import CallerKind, Role
from edgetwin.core.settings import load_settings
from edgetwin.security import IdentityStore
from tests.conftest import bearer, make_token

LIVE = "/api/v1/live"


@pytest.fixture(scope="module")
def app_and_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    """One app for the module (each test uses its own tokens and devices)."""
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("live"),
        mqtt_url="mqtt://127.0.0.1:1",
        packs=("factory", "motor"),
    )
    with TestClient(build_app(settings, dashboard=False)) as client:
        yield client, settings.data_dir


def _reading(tenant: str, machine: str, metric: str, value: float = 1.0) -> dict[str, Any]:
    return {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "id": str(uuid.uuid4()),
        "tenant": tenant,
        "plant": "plant-01",
        "line": "line-01",
        "machine": machine,
        "metric": metric,
        "value": value,
        "unit": "",
    }


def _ingest(client: TestClient, admin: dict[str, str], *readings: dict[str, Any]) -> None:
    for reading in readings:
        response = client.post("/api/v1/ingest", json=reading, headers=admin)
        assert response.status_code == 200, response.text


def _refused(client: TestClient, url: str, **kwargs: Any) -> WebSocketDisconnect:
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(url, **kwargs) as ws,
    ):
        ws.receive_json()
    return closed.value


def _ids(ws: WebSocketTestSession, until: str) -> list[str]:
    """The reading ids the socket receives, up to and with ``until``."""
    seen: list[str] = []
    while not seen or seen[-1] != until:
        event = ws.receive_json()
        if event["type"] == "reading":
            seen.append(event["data"]["id"])
    return seen


def test_without_credentials_the_socket_is_closed_1008_with_a_reason(app_and_dir) -> None:
    client, data_dir = app_and_dir
    closed = _refused(client, LIVE)
    assert closed.code == 1008
    assert "credentials needed" in closed.reason
    assert _refused(client, f"{LIVE}?token=not-a-token").code == 1008
    bad_header = {"Authorization": "Bearer not-a-token"}
    assert _refused(client, LIVE, headers=bad_header).code == 1008
    with IdentityStore(data_dir) as store:
        _, edge = store.create_token(Role.OPERATOR, ["acme"], kind=CallerKind.EDGE)
    closed = _refused(client, f"{LIVE}?token={edge}")
    assert closed.code == 1008
    assert "ingest only" in closed.reason
    assert client.app.state.live.subscribers == 0  # type: ignore[attr-defined]


def test_a_viewer_of_another_tenant_gets_nothing_of_acme(app_and_dir) -> None:
    client, data_dir = app_and_dir
    admin = bearer(data_dir)
    beta = make_token(data_dir, "viewer", ("beta",))
    acme_reading = _reading("acme", "cnc-01", "temp")
    marker = _reading("beta", "cnc-01", "temp")
    with client.websocket_connect(f"{LIVE}?token={beta}") as ws:
        _ingest(client, admin, acme_reading, marker)
        assert _ids(ws, marker["id"]) == [marker["id"]]
    # the same through the header, and a viewer of acme gets acme's
    acme = bearer(data_dir, "viewer", ("acme",))
    second = _reading("acme", "cnc-01", "temp", 2.0)
    with client.websocket_connect(LIVE, headers=acme) as ws:
        _ingest(client, admin, _reading("beta", "cnc-01", "temp"), second)
        assert _ids(ws, second["id"]) == [second["id"]]


def test_the_session_cookie_lets_a_user_in(app_and_dir) -> None:
    client, data_dir = app_and_dir
    with IdentityStore(data_dir) as store:
        store.add_user("olga", Role.OPERATOR, ["acme"], "a long password 1")
        session, _ = store.create_session("olga")
    reading = _reading("acme", "cnc-01", "temp")
    client.cookies.set(SESSION_COOKIE, session)
    try:
        with client.websocket_connect(LIVE) as ws:
            _ingest(client, bearer(data_dir), reading)
            assert _ids(ws, reading["id"]) == [reading["id"]]
        with IdentityStore(data_dir) as store:
            store.end_session(session)
        assert _refused(client, LIVE).code == 1008
    finally:
        client.cookies.clear()


def test_an_application_gets_only_its_device_types(app_and_dir) -> None:
    client, data_dir = app_and_dir
    admin = bearer(data_dir)
    with IdentityStore(data_dir) as store:
        _, app_key = store.create_token(
            Role.VIEWER, ["acme"], kind=CallerKind.APP, device_types=["motor.stm32"]
        )
    # stored first, so the devices' types are known (a device of unknown type is never sent)
    _ingest(
        client, admin, _reading("acme", "cnc-01", "temp"), _reading("acme", "m-1", "temperature")
    )
    factory = _reading("acme", "cnc-01", "temp", 3.0)
    motor = _reading("acme", "m-1", "temperature", 41.0)
    with client.websocket_connect(f"{LIVE}?token={app_key}") as ws:
        _ingest(client, admin, factory, motor)
        assert _ids(ws, motor["id"]) == [motor["id"]]


def test_a_revoked_token_ends_its_stream(app_and_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    client, data_dir = app_and_dir
    monkeypatch.setattr(live_route, "RECHECK_S", 0.05)
    with IdentityStore(data_dir) as store:
        info, secret = store.create_token(Role.VIEWER, ["acme"])
    with client.websocket_connect(f"{LIVE}?token={secret}") as ws:
        with IdentityStore(data_dir) as store:
            store.revoke_token(info.id)
        client.app.state.auth.forget()  # type: ignore[attr-defined]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008
    assert "revoked" in closed.value.reason


class _Devices:
    """The devices of a plant as the store lists them; counts how often it was asked."""

    def __init__(self) -> None:
        self.found: list[dict[str, Any]] = []
        self.asked = 0
        self.down = False

    async def __call__(self, tenant: str, plant: str) -> list[dict[str, Any]]:
        self.asked += 1
        if self.down:
            raise StoreUnavailableError("store down")
        return self.found


def test_device_types_are_cached_per_plant_and_misses_asked_again_later() -> None:
    asyncio.run(_device_types_scenario())


async def _device_types_scenario() -> None:
    devices, now = _Devices(), [0.0]
    types = DeviceTypes(devices, clock=lambda: now[0])
    topic = "v1/acme/plant-01/line-01/m-1/temperature"
    assert await types.of(topic) is None  # not stored yet
    devices.found = [{"line": "line-01", "machine": "m-1", "device_type": "motor.stm32"}]
    assert await types.of(topic) is None
    assert devices.asked == 1
    now[0] += TYPES_MISS_TTL_S
    assert await types.of(topic) == "motor.stm32"
    assert devices.asked == 2
    now[0] += TYPES_TTL_S - 1
    assert await types.of(topic) == "motor.stm32"
    assert devices.asked == 2
    assert await types.of("v1/acme/plant-01/alert/buffer_high") is None
    assert devices.asked == 2
    devices.down = True
    now[0] += 1
    assert await types.of(topic) is None  # the store down: the type cannot be known
