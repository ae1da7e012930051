"""Every route in ``/openapi.json``, walked with every kind of caller: each gets exactly what the
roles table (``docs/security.md``) says. A route added later is walked without editing this
test; a route that declares no access fails it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from edgetwin.compose import build_app
from edgetwin.core.security import CallerKind, Role
from edgetwin.core.settings import load_settings
from edgetwin.security import IdentityStore

ACME, BETA = "acme", "beta"
MACHINE = "cnc-01"


@dataclass
class World:
    client: TestClient
    tokens: dict[str, str]  # caller name -> token ("none": no token)
    command_id: str
    acme_token_id: str
    data_dir: Path


def _reading(tenant: str, machine: str = MACHINE, metric: str = "temp") -> dict[str, Any]:
    return {
        "ts": datetime.now(UTC).isoformat(), "id": str(uuid4()), "tenant": tenant,
        "plant": "plant-01", "line": "line-01", "machine": machine, "metric": metric,
        "value": 47.5, "unit": "°C",
    }  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("access")
    settings = load_settings(
        data_dir=data_dir, mqtt_url="mqtt://127.0.0.1:1", packs=["factory", "motor", "warehouse"],
        rate_limit_per_s=0,
    )  # fmt: skip
    with IdentityStore(data_dir) as ids:

        def token(role: Role, tenants: list[str], **kw: Any) -> str:
            return ids.create_token(role, tenants, **kw)[1]

        tokens = {
            "admin": token(Role.ADMIN, ["*"]),
            "viewer": token(Role.VIEWER, [ACME]),
            "operator": token(Role.OPERATOR, [ACME]),
            "admin_other": token(Role.ADMIN, [BETA]),
            "app": token(
                Role.VIEWER,
                [ACME],
                kind=CallerKind.APP,
                label="motor-app",
                device_types=["motor.stm32"],
            ),
            "edge": token(
                Role.OPERATOR, [ACME], kind=CallerKind.EDGE, label="edge-01", plants=["plant-01"]
            ),
        }
        acme_token_id = ids.create_token(Role.VIEWER, [ACME], label="victim")[0].id
        ids.add_user("victim", Role.VIEWER, [ACME])
    with TestClient(build_app(settings, dashboard=False)) as client:
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        factory = [_reading(ACME, metric=m) for m in ("temp", "vibration_rms", "state")]
        assert client.post("/api/v1/ingest", json=factory, headers=admin).status_code == 200
        made = client.post(
            f"/api/v1/devices/{MACHINE}/commands", json={"name": "PING"}, headers=admin
        )
        assert made.status_code == 201, made.text
        yield World(client, tokens, made.json()["id"], acme_token_id, data_dir)


def _operations(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    schema = client.get("/openapi.json").json()
    return [
        (method.upper(), path, op)
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
    ]


def _request(world: World, method: str, path: str, op: dict[str, Any]) -> dict[str, Any]:
    """A request that would succeed for an admin of acme: real ids, acme's tenant."""
    values = {
        "device": MACHINE, "command_id": world.command_id, "name": "victim",
        "token_id": world.acme_token_id, "cmd": "bearing_fault",
    }  # fmt: skip
    if path.startswith("/api/v1/device-types/"):
        values["name"] = "factory.machine"
    # an id this test does not know (a route added later): a well-formed one that names nothing
    url = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "no-such-id"), path)
    params: dict[str, str] = {}
    for p in op.get("parameters", []):
        if p["in"] != "query":
            continue
        known = {"tenant": ACME, "line": "line-01", "machine": MACHINE, "metric": "temp",
                 "code": "not-a-code"}  # fmt: skip
        if p["name"] in known:
            params[p["name"]] = known[p["name"]]
    body: Any = None
    if method == "POST":
        body = {
            "/api/v1/ingest": [_reading(ACME)],
            "/api/v1/devices/{device}/commands": {"name": "PING"},
            "/api/v1/users": {"name": f"u{uuid4().hex[:8]}", "role": "viewer", "tenants": [ACME]},
            "/api/v1/tokens": {"role": "viewer", "tenants": [ACME]},
        }.get(path)
    return {"method": method, "url": url, "params": params, "json": body}


def _call(world: World, who: str, req: dict[str, Any]) -> int:
    headers = {} if who == "none" else {"Authorization": f"Bearer {world.tokens[who]}"}
    r = world.client.request(**req, headers=headers)
    # 503 is a declared answer here: the plant's broker is unreachable on purpose
    assert r.status_code < 500 or r.status_code == 503, f"{who} {req['url']}: {r.text}"
    return r.status_code


RANK = {"viewer": 0, "operator": 1, "ingest": 1, "admin": 2}


def test_every_route_declares_who_may_call_it(world: World) -> None:
    undeclared = [
        f"{m} {p}" for m, p, op in _operations(world.client) if "x-edgetwin-access" not in op
    ]
    assert not undeclared, f"routes that take no caller: {undeclared}"


def test_every_route_answers_each_caller_as_the_roles_table_says(world: World) -> None:
    walked = 0
    for method, path, op in _operations(world.client):
        access = op["x-edgetwin-access"]
        if path.startswith("/auth/") or access.startswith("public"):
            continue  # logging in is for anonymous callers; tested apart
        req = _request(world, method, path, op)
        walked += 1
        where = f"{method} {path}"
        # nothing is anonymous
        assert _call(world, "none", req) == 401, where
        # an edge's credential is for ingest only
        edge = _call(world, "edge", req)
        assert (edge < 400) if access == "ingest" else (edge == 403), (where, edge)
        # roles, within the caller's own tenant
        for who, role in (("viewer", "viewer"), ("operator", "operator")):
            got = _call(world, who, req)
            if RANK[access] > RANK[role]:
                assert got == 403, (where, who, got)
            else:
                assert got not in (401, 403), (where, who, got)
        # an admin of another tenant never reaches acme's objects
        other = _call(world, "admin_other", _request(world, method, path, op))
        takes_tenant = any(p["name"] == "tenant" for p in op.get("parameters", []))
        if takes_tenant or "/users/{name}" in path or "{token_id}" in path:
            assert other == 404, (where, other)
        elif path == "/api/v1/ingest":
            assert other == 403, (where, other)
        # an application's key reads only its device types' data, and never writes
        app = _call(world, "app", _request(world, method, path, op))
        if method != "GET" or access != "viewer":
            assert app == 403, (where, app)
        elif "{device}" in path or path in ("/api/v1/series", "/api/v1/kpis", "/api/v1/faults"):
            assert app == 404, (where, app)
    assert walked >= 20


def _get(world: World, who: str, url: str, **params: str) -> Any:
    r = world.client.get(
        url, params=params, headers={"Authorization": f"Bearer {world.tokens[who]}"}
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_lists_hold_only_what_the_caller_may_see(world: World) -> None:
    assert [d["machine"] for d in _get(world, "viewer", "/api/v1/devices")] == [MACHINE]
    assert _get(world, "app", "/api/v1/devices") == []  # cnc-01 is no motor
    assert [t["name"] for t in _get(world, "app", "/api/v1/device-types")] == ["motor.stm32"]
    assert _get(world, "app", "/api/v1/stats")["edges"] == []
    assert all(u["tenants"] == [BETA] for u in _get(world, "admin_other", "/api/v1/users"))
    assert all(BETA in t["tenants"] for t in _get(world, "admin_other", "/api/v1/tokens"))
    assert all(e["tenant"] == BETA for e in _get(world, "admin_other", "/api/v1/audit"))


def test_commands_and_user_changes_are_audited_without_secrets(world: World) -> None:
    created = world.client.post(
        "/api/v1/tokens", json={"role": "viewer", "tenants": [ACME], "label": "audited"},
        headers={"Authorization": f"Bearer {world.tokens['admin']}"},
    )  # fmt: skip
    assert created.status_code == 201
    secret = created.json()["token"]
    entries = _get(world, "admin", "/api/v1/audit", limit="1000")
    actions = {(e["action"], e["outcome"]) for e in entries}
    assert ("command", "queued") in actions
    assert ("token.create", "ok") in actions
    command = next(e for e in entries if e["action"] == "command")
    assert command["tenant"] == ACME
    assert command["caller"].startswith("token:")
    # the secret was shown once: no list, no audit entry, no log line holds it
    listed = world.client.get(
        "/api/v1/tokens", headers={"Authorization": f"Bearer {world.tokens['admin']}"}
    ).text
    assert secret not in listed
    assert secret.split("_")[-1] not in str(entries)
    # a viewer's command is refused, and the audit log is admins' only
    refused = world.client.post(
        f"/api/v1/devices/{MACHINE}/commands", json={"name": "PING"},
        headers={"Authorization": f"Bearer {world.tokens['viewer']}"},
    )  # fmt: skip
    assert refused.status_code == 403
    audit_as_viewer = world.client.get(
        "/api/v1/audit", headers={"Authorization": f"Bearer {world.tokens['viewer']}"}
    )
    assert audit_as_viewer.status_code == 403


def test_unknown_fields_and_bad_tokens_are_refused(world: World) -> None:
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    extra = world.client.post(
        "/api/v1/tokens", json={"role": "viewer", "tenants": [ACME], "secret": "x"}, headers=admin
    )
    assert extra.status_code == 422
    for bad in ("Bearer etk_nope_nope", "Bearer ", "Basic abc", "Bearer " + "x" * 5000):
        r = world.client.get("/api/v1/stats", headers={"Authorization": bad})
        assert r.status_code == 401, bad
        assert r.headers["www-authenticate"] == "Bearer"


def test_a_revoked_token_stops_working(world: World) -> None:
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    made = world.client.post("/api/v1/tokens", json={"role": "viewer", "tenants": [ACME]},
                             headers=admin).json()  # fmt: skip
    mine = {"Authorization": f"Bearer {made['token']}"}
    assert world.client.get("/api/v1/me", headers=mine).json()["role"] == "viewer"
    assert world.client.delete(f"/api/v1/tokens/{made['id']}", headers=admin).status_code == 204
    assert world.client.get("/api/v1/me", headers=mine).status_code == 401


def test_the_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path, mqtt_url="mqtt://127.0.0.1:1", packs=[], rate_limit_per_s=0.5,
        rate_limit_burst=3,
    )  # fmt: skip
    with IdentityStore(tmp_path) as ids:
        token = ids.create_token(Role.VIEWER, [ACME])[1]
    with TestClient(build_app(settings, dashboard=False)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        codes = [client.get("/api/v1/me", headers=headers).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        last = client.get("/api/v1/me", headers=headers)
        assert last.status_code == 429
        assert int(last.headers["retry-after"]) >= 1
        assert client.get("/health").status_code == 200  # never limited, never anonymous-refused


def test_a_session_needs_its_csrf_token_for_changes(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, mqtt_url="mqtt://127.0.0.1:1", packs=["factory"])
    with IdentityStore(tmp_path) as ids:
        ids.add_user("ops", Role.OPERATOR, [ACME], password="correct horse battery")
        code = ids.create_login_code("ops")
    with TestClient(build_app(settings, dashboard=False), follow_redirects=False) as client:
        wrong = client.post("/auth/login", data={"username": "ops", "password": "nope"})
        assert wrong.status_code == 401
        form = client.post(
            "/auth/login", data={"username": "ops", "password": "nope", "next": "/motor"},
            headers={"Accept": "text/html"},
        )  # fmt: skip
        assert form.status_code == 303  # a browser's form post goes back to the form
        assert form.headers["location"] == "/login?error=1&next=/motor"
        used = client.get("/auth/link", params={"code": code})
        assert used.status_code == 303
        assert client.get("/auth/link", params={"code": code}).status_code == 401  # once only
        cookie = used.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie.replace("Strict", "strict")
        assert client.get("/api/v1/me").json()["name"] == "ops"
        body = {"name": "PING"}
        refused = client.post(f"/api/v1/devices/{MACHINE}/commands?line=line-01", json=body)
        assert refused.status_code == 403
        csrf = client.cookies["edgetwin_csrf"]
        sent = client.post(
            f"/api/v1/devices/{MACHINE}/commands?line=line-01", json=body,
            headers={"X-CSRF-Token": csrf},
        )  # fmt: skip
        assert sent.status_code == 201, sent.text
        assert client.post("/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 303
        assert client.get("/api/v1/me").status_code == 401
