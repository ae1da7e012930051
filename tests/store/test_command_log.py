"""The device-command audit log and the command service on it, once on SQLite and once on
PostgreSQL (the real server, the store's migrations): idempotency, tenant scoping, forward-only
transitions with their history, dispatch and expiry, restarts, and the HTTP API. Clocks are
injected; the broker is a fake of *our* publish callable."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import AsyncConnection

from edgetwin.cloud.app import create_app
from edgetwin.cloud.commands import (
    CommandLog,
    CommandService,
    PgCommandLog,
    SqliteCommandLog,
    Target,
)
from edgetwin.cloud.live import LiveHub
from edgetwin.cloud.store.pg_schema import migrate
from edgetwin.core.settings import load_settings
from tests.conftest import bearer
from tests.store.conftest import store_url

MOTOR = Target("acme", "plant-01", "line-m", "stm32-motor-01")
OTHER = Target("globex", "plant-01", "line-m", "stm32-motor-01")  # same names, other tenant


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


class Info:
    """What paho's ``publish`` returns: ``is_published()`` turns true on the PUBACK."""

    def __init__(self) -> None:
        self.acked = False

    def is_published(self) -> bool:
        return self.acked


def migrated(url: str, target: int | None = None) -> str:
    """``url`` once the store's migrations ran on it (as the cloud's start does)."""

    async def run() -> None:
        async with await AsyncConnection.connect(url, autocommit=True) as conn:
            await migrate(conn, target)

    asyncio.run(run())
    return url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_log(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, clock: Clock
) -> Iterator[Callable[[], CommandLog]]:
    """Opens a log on the test's database: one per worker sharing it, or again after a restart."""
    factory: Callable[[], CommandLog]
    if kind == "sqlite":
        factory = lambda: SqliteCommandLog(tmp_path / "commands.db", clock)  # noqa: E731
    else:
        url = migrated(request.getfixturevalue("pg_url"))
        factory = lambda: PgCommandLog(url, clock)  # noqa: E731
    opened: list[CommandLog] = []

    def make() -> CommandLog:
        log = factory()
        log.open()
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()


@pytest.fixture
def log(make_log: Callable[[], CommandLog]) -> CommandLog:
    return make_log()


@pytest.fixture
def service(log: CommandLog, clock: Clock) -> Any:
    published: list[tuple[str, dict[str, Any], Info]] = []
    online = {"up": True}

    def publish(topic: str, payload: dict[str, Any]) -> Info:
        info = Info()
        published.append((topic, payload, info))
        return info

    hub = LiveHub()
    svc = CommandService(log, publish, hub, lambda: online["up"])
    svc.test = (clock, published, online, hub)  # type: ignore[attr-defined]
    return svc


def test_idempotency_key_gives_the_same_command(service: Any) -> None:
    a, existing_a = service.create(MOTOR, "REBOOT", {}, 30, "key-1", "alice")
    b, existing_b = service.create(MOTOR, "REBOOT", {}, 30, "key-1", "alice")
    assert (existing_a, existing_b) == (False, True)
    assert a == b
    c, _ = service.create(MOTOR, "REBOOT", {}, 30, None, "alice")
    assert c["id"] != a["id"]
    d, existing_d = service.create(OTHER, "REBOOT", {}, 30, "key-1", "alice")
    assert (d["id"] != a["id"], existing_d) == (True, False)  # a key belongs to its device


def test_full_lifecycle_with_audit_history_and_live_events(service: Any) -> None:
    clock, published, _online, hub = service.test
    sub = hub.subscribe(["v1/acme/plant-01/line-m/+/cmd/#"])
    cmd, _ = service.create(MOTOR, "REBOOT", {"why": "test", "n": [1, 2]}, 30, None, "alice")
    assert cmd["args"] == {"why": "test", "n": [1, 2]}
    service.tick()
    topic, payload, info = published[0]
    assert topic == "v1/acme/plant-01/line-m/stm32-motor-01/cmd"
    assert payload == {"id": cmd["id"], "name": "REBOOT", "args": {"why": "test", "n": [1, 2]},
                       "expires_at": clock.t + 30}  # fmt: skip
    assert service.log.get("acme", cmd["id"])["state"] == "queued"  # no PUBACK yet
    info.acked = True
    service.tick()
    service.apply_report({"id": cmd["id"], "state": "delivered", "edge_id": "edge-01"})
    clock.t += 1.2
    service.apply_report({"id": cmd["id"], "state": "succeeded", "edge_id": "edge-01",
                          "detail": {"uptime_after": 0.01}})  # fmt: skip
    service.apply_report({"id": cmd["id"], "state": "failed", "edge_id": "edge-01"})  # too late
    got = service.log.get("acme", cmd["id"])
    assert got["state"] == "succeeded"
    assert got["requested_by"] == "alice"
    assert [h["state"] for h in got["history"]] == ["queued", "sent", "delivered", "succeeded"]
    assert got["history"][-1] == {"state": "succeeded", "at": clock.t, "by": "edge-01",
                                  "detail": {"uptime_after": 0.01}}  # fmt: skip
    assert (got["created_at"], got["updated_at"]) == (clock.t - 1.2, clock.t)
    assert got["detail"] == {"uptime_after": 0.01}
    states = []
    while not sub.queue.empty():
        states.append(sub.queue.get_nowait()["data"]["state"])
    assert states == ["queued", "sent", "delivered", "succeeded"]
    assert service.log.get("other-tenant", cmd["id"]) is None


def test_a_report_that_skips_steps_fills_them_in(service: Any) -> None:
    cmd, _ = service.create(MOTOR, "PING", {}, 30, None, "alice")
    service.apply_report({"id": cmd["id"], "state": "failed", "edge_id": "edge-01",
                          "detail": {"error": "no answer"}})  # fmt: skip
    service.apply_report({"id": "not-a-command", "state": "failed"})
    service.apply_report({"id": cmd["id"], "state": "exploded"})
    got = service.log.get("acme", cmd["id"])
    assert [(h["state"], h["by"]) for h in got["history"]] == [
        ("queued", "alice"), ("delivered", "edge-01"), ("failed", "edge-01")
    ]  # fmt: skip
    assert got["detail"] == {"error": "no answer"}


def test_offline_broker_waits_then_expires(service: Any) -> None:
    clock, published, online, _hub = service.test
    online["up"] = False
    cmd, _ = service.create(MOTOR, "REBOOT", {}, 10, None, "alice")
    service.tick()
    assert published == []
    online["up"] = True
    service.tick()
    assert len(published) == 1  # published once the link is back
    clock.t += 11
    service.tick()
    got = service.log.get("acme", cmd["id"])
    assert got["state"] == "expired"
    assert got["history"][-1]["by"] == "cloud"
    assert service.log.open_commands() == []


def test_every_query_is_scoped_by_tenant(log: CommandLog) -> None:
    mine, _ = log.create(MOTOR, "PING", {}, 30, None, "alice")
    theirs, _ = log.create(OTHER, "PING", {}, 30, None, "mallory")
    assert log.get("globex", mine["id"]) is None
    assert log.transition("globex", mine["id"], "sent", by="mallory") is None
    assert log.get("acme", mine["id"])["state"] == "queued"
    assert [c["id"] for c in log.list_for("acme", "plant-01")] == [mine["id"]]
    assert [c["id"] for c in log.list_for("globex", "plant-01", MOTOR.machine)] == [theirs["id"]]
    # only the dispatcher's scan and an edge report's lookup see every tenant
    assert {c["id"] for c in log.open_commands()} == {mine["id"], theirs["id"]}
    assert log.lookup(theirs["id"]) == theirs


def test_transitions_only_move_forward_and_keep_the_audit(log: CommandLog, clock: Clock) -> None:
    cmd, _ = log.create(MOTOR, "STALL", {"seconds": 3}, 60, "op-7", "alice")
    assert cmd["history"] == [{"state": "queued", "at": clock.t, "by": "alice"}]
    assert (cmd["ttl_s"], cmd["expires_at"], cmd["detail"]) == (60, clock.t + 60, {})
    clock.t += 0.5
    assert log.transition("acme", cmd["id"], "delivered", {"port": "pty"}, "edge-01")
    assert log.transition("acme", cmd["id"], "sent", None, "broker") is None  # backwards
    assert log.transition("acme", cmd["id"], "bogus") is None
    assert log.transition("acme", "no-such-id", "sent") is None
    assert log.transition("acme", "00000000-0000-0000-0000-000000000000", "sent") is None
    clock.t += 0.25
    done = log.transition("acme", cmd["id"], "succeeded", {"uptime": 1.5}, "edge-01")
    assert done is not None
    assert log.transition("acme", cmd["id"], "failed", None, "edge-01") is None  # terminal
    assert done["detail"] == {"port": "pty", "uptime": 1.5}
    assert [h["state"] for h in done["history"]] == ["queued", "delivered", "succeeded"]
    assert done["history"][1] == {"state": "delivered", "at": 1_000_000.5, "by": "edge-01",
                                  "detail": {"port": "pty"}}  # fmt: skip
    assert (done["created_at"], done["updated_at"]) == (1_000_000.0, 1_000_000.75)
    assert log.get("acme", cmd["id"]) == done
    assert log.get("acme", "not-a-uuid") is None
    assert log.lookup("not-a-uuid") is None


def test_args_and_details_come_back_as_sent(log: CommandLog) -> None:
    args = {"z": "naïve ✓ \u0000", "a": {"y": [1.5, None, True], "b": ""}}
    cmd, _ = log.create(MOTOR, "SET", args, 30, None, "alice")
    detail = {"answer": "\u0000ok", "z": 1}
    got = log.transition("acme", cmd["id"], "failed", detail, "edge-01")
    assert got is not None
    assert (got["args"], list(got["args"])) == (args, ["z", "a"])  # key order kept too
    assert (got["detail"], got["history"][-1]["detail"]) == (detail, detail)


def test_listing_is_newest_first_and_open_commands_oldest_first(
    log: CommandLog, clock: Clock
) -> None:
    ids = []
    for i, machine in enumerate(["stm32-motor-01", "cnc-01", "stm32-motor-01"]):
        clock.t += 1
        cmd, _ = log.create(Target("acme", "plant-01", "line-m", machine), "PING", {}, 30, None,
                            f"op-{i}")  # fmt: skip
        ids.append(cmd["id"])
    log.transition("acme", ids[1], "failed")
    assert [c["id"] for c in log.list_for("acme", "plant-01")] == ids[::-1]
    assert [c["id"] for c in log.list_for("acme", "plant-01", "stm32-motor-01")] == [ids[2], ids[0]]
    assert [c["id"] for c in log.list_for("acme", "plant-01", limit=1)] == [ids[2]]
    assert log.list_for("acme", "plant-02") == []
    assert [c["id"] for c in log.open_commands()] == [ids[0], ids[2]]


def test_the_log_outlives_a_restart(make_log: Callable[[], CommandLog], clock: Clock) -> None:
    first = make_log()
    cmd, _ = first.create(MOTOR, "REBOOT", {"why": "audit"}, 30, "op-1", "alice")
    clock.t += 1
    first.transition("acme", cmd["id"], "sent", None, "broker")
    first.close()
    again = make_log()
    got = again.get("acme", cmd["id"])
    assert got is not None
    assert [h["state"] for h in got["history"]] == ["queued", "sent"]
    assert again.create(MOTOR, "REBOOT", {}, 30, "op-1", "alice") == (got, True)


def test_two_workers_share_one_log(make_log: Callable[[], CommandLog]) -> None:
    a, b = make_log(), make_log()
    cmd, _ = a.create(MOTOR, "PING", {}, 30, "op-9", "alice")
    assert b.create(MOTOR, "PING", {}, 30, "op-9", "alice") == (cmd, True)
    assert b.transition("acme", cmd["id"], "sent", None, "broker") is not None
    assert a.transition("acme", cmd["id"], "sent", None, "broker") is None  # already there
    assert a.get("acme", cmd["id"]) == b.get("acme", cmd["id"])


def test_the_commands_api(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = store_url(kind, request, tmp_path)
    settings = load_settings(data_dir=tmp_path, db=url, mqtt_url="mqtt://127.0.0.1:1")
    base = "/api/v1/devices/stm32-motor-01/commands"
    body = {"name": "REBOOT", "args": {"why": "api"}, "ttl_s": 30, "idempotency_key": "op-42"}
    with TestClient(create_app(settings), headers=bearer(settings.data_dir)) as client:
        created = client.post(base, params={"line": "line-m"}, json=body)
        assert created.status_code == 201, created.text
        again = client.post(base, params={"line": "line-m"}, json=body)
        assert (again.status_code, again.json()) == (200, created.json())
        cmd = created.json()
        assert cmd["created_at"] == cmd["updated_at"] == cmd["history"][0]["at"]
        assert (cmd["state"], cmd["args"]) == ("queued", body["args"])
        assert cmd["requested_by"].startswith("token:")  # who sent it: the caller's name
        assert client.get(f"{base}/{cmd['id']}").json() == cmd
        assert [c["id"] for c in client.get(base).json()] == [cmd["id"]]
        assert client.get(base, params={"tenant": "globex"}).status_code == 404  # no such device
        assert client.get(f"{base}/{cmd['id']}", params={"tenant": "globex"}).status_code == 404
        assert client.get(f"{base}/not-a-uuid").status_code == 404
        assert client.post("/api/v1/devices/ghost/commands", json=body).status_code == 404
    if kind == "sqlite":
        assert (tmp_path / "commands.db").exists()
    else:
        assert not (tmp_path / "commands.db").exists()  # the log lives in PostgreSQL
