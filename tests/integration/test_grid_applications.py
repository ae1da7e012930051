"""The application registry: created, listed, read, changed and deleted by an admin, audited;
its key shown once, never by a GET nor in a log line, working as an application caller that sees
only itself and its device types, revoked by a regeneration or a deletion. With the stream
backbone, the application's NATS user may subscribe to its types' enriched subjects only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from fastapi.testclient import TestClient

from edgetwin.compose import build_app
from edgetwin.core.settings import load_settings
from edgetwin.security import IdentityStore
from edgetwin.streams import server
from tests.conftest import bearer
from tests.integration.test_grid_jetstream import embedded_nats

APPS = "/api/v1/applications"
BODY = {"name": "Smart Grid Monitor", "developer": "IoT Solutions Inc.", "platform": "web",
        "category": "monitoring", "devicetypes": ["smart_breaker"], "version": "1.0.0",
        "contact_email": "grid@example.com"}  # fmt: skip


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    settings = load_settings(data_dir=tmp_path_factory.mktemp("apps"),
                             mqtt_url="mqtt://127.0.0.1:1", packs=("factory", "motor"))  # fmt: skip
    with TestClient(build_app(settings, dashboard=False)) as c:
        yield c, settings.data_dir


def test_an_application_lives_and_dies_with_its_key_shown_once(
    client: tuple[TestClient, Path], caplog: pytest.LogCaptureFixture
) -> None:
    c, data = client
    admin = bearer(data)
    caplog.set_level(logging.DEBUG)
    made = c.post(APPS, json=BODY, headers=admin)
    assert made.status_code == 201, made.text
    app = made.json()
    key = app["api_key"]
    assert app["devicetypes"] == ["smart_breaker"]
    assert app["nats"] is None  # no pack streams here
    mine = {"Authorization": f"Bearer {key}"}
    for url in (APPS, f"{APPS}/{app['id']}", f"{APPS}/by-device-type/smart_breaker"):
        got = c.get(url, headers=admin)
        assert got.status_code == 200
        assert key not in got.text
        assert "api_key" not in got.text
    assert [
        a["id"] for a in c.get(f"{APPS}/by-device-type/smart_breaker", headers=admin).json()
    ] == [app["id"]]
    assert c.get(f"{APPS}/by-device-type/cmm.thermal", headers=admin).json() == []
    # the key is an application caller: it sees itself only, and only its device types
    assert [a["id"] for a in c.get(APPS, headers=mine).json()] == [app["id"]]
    types = [t["name"] for t in c.get("/api/v1/device-types", headers=mine).json()]
    assert "factory.machine" not in types
    assert c.post(APPS, json=BODY, headers=mine).status_code == 403
    # a change of fields keeps the key; a regeneration replaces it
    changed = c.patch(f"{APPS}/{app['id']}", json={"category": "grid"}, headers=admin)
    assert changed.json()["category"] == "grid"
    assert changed.json()["api_key"] is None
    again = c.post(f"{APPS}/{app['id']}/regenerate-key", headers=admin).json()
    assert c.get(APPS, headers=mine).status_code == 401
    mine = {"Authorization": f"Bearer {again['api_key']}"}
    assert c.get(APPS, headers=mine).status_code == 200
    assert c.delete(f"{APPS}/{app['id']}", headers=admin).status_code == 204
    assert c.get(APPS, headers=mine).status_code == 401
    assert c.get(f"{APPS}/{app['id']}", headers=admin).status_code == 404
    assert key not in caplog.text
    assert again["api_key"] not in caplog.text
    with IdentityStore(data) as ids:
        actions = [e.action for e in ids.audit_entries(("*",))]
    for action in ("application.create", "application.update", "application.regenerate_key",
                   "application.delete"):  # fmt: skip
        assert action in actions


def test_changes_need_an_admin_and_bad_input_is_named(client: tuple[TestClient, Path]) -> None:
    c, data = client
    viewer, operator, admin = (bearer(data, role=r) for r in ("viewer", "operator", "admin"))
    assert c.post(APPS, json=BODY, headers=viewer).status_code == 403
    assert c.post(APPS, json=BODY, headers=operator).status_code == 403
    assert c.post(APPS, json={**BODY, "surprise": 1}, headers=admin).status_code == 422
    assert c.post(APPS, json={**BODY, "devicetypes": []}, headers=admin).status_code == 422
    other = bearer(data, tenants=("other",))
    made = c.post(APPS, json=BODY, headers=admin).json()
    assert c.get(f"{APPS}/{made['id']}", headers=other).status_code == 404  # not its tenant
    assert c.delete(f"{APPS}/{made['id']}", headers=other).status_code == 404
    assert c.delete(f"{APPS}/{made['id']}", headers=admin).status_code == 204


def test_an_applications_nats_user_reads_only_its_types_enriched_subjects(tmp_path: Path) -> None:
    with embedded_nats(tmp_path) as s:
        settings = load_settings(data_dir=tmp_path, mqtt_url="mqtt://127.0.0.1:1",
                                 nats_port=s.nats_port, packs=("grid",))  # fmt: skip
        with TestClient(build_app(settings, dashboard=False)) as c:
            made = c.post(APPS, json=BODY, headers=bearer(tmp_path)).json()
        creds = made["nats"]
        assert creds["subjects"] == ["iot.smart_breaker.enriched"]
        got = asyncio.run(_try(settings, creds["user"], creds["password"]))
    assert got["iot.smart_breaker.enriched"] == [b"breaker"]
    for subject in ("iot.enriched", "iot.raw", "iot.cmm.thermal.enriched", ">"):
        assert got[subject] == [], subject
    assert any("permissions violation" in e.lower() for e in got["errors"])
    assert got["registry"] == [f"app.{made['id']}"]


async def _try(settings: object, user: str, password: str) -> dict[str, list]:
    from edgetwin.streams.setup import ensure_registry

    port = settings.nats_port  # type: ignore[attr-defined]
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    app = await nats.connect(f"nats://{user}:{password}@127.0.0.1:{port}", error_cb=on_error)
    got: dict[str, list] = {}
    subs = []
    for subject in ("iot.smart_breaker.enriched", "iot.enriched", "iot.raw",
                    "iot.cmm.thermal.enriched", ">"):  # fmt: skip
        got[subject] = []
        subs.append(await app.subscribe(subject, cb=_adder(got[subject])))
    await app.flush()
    await asyncio.sleep(0.2)
    ours = await nats.connect(server.servers(settings))  # type: ignore[arg-type]
    for subject in (
        "iot.smart_breaker.enriched",
        "iot.enriched",
        "iot.raw",
        "iot.cmm.thermal.enriched",
    ):
        await ours.publish(subject, b"breaker" if "smart" in subject else b"secret")
    await ours.flush()
    await asyncio.sleep(0.3)
    kv = await ensure_registry(ours.jetstream())
    got["registry"] = [k for k in await kv.keys() if k.startswith("app.")]
    await ours.close()
    await app.close()
    got["errors"] = errors
    return got


def _adder(into: list) -> object:
    async def add(msg: object) -> None:
        into.append(msg.data)  # type: ignore[attr-defined]

    return add
