"""Real processes wired for fault injection, and a generator that counts every reading.

The harness runs each part as its own process (a Mosquitto of its own, ``edgetwin cloud``,
``edgetwin edge``), optionally with our fault proxy between edge and cloud or edge and broker,
and a generator of readings whose value is a per-device sequence number. At the end it reads the
cloud's store and accounts for every reading by id and sequence.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgetwin.cli_mqtt import plant_parts, write_broker_files
from edgetwin.core.settings import load_settings
from tests.chaos.proxy import FaultProxy
from tests.conftest import bearer, free_port, port_open
from tests.integration.conftest import wait_for

TENANT, PLANT = "chaos", "p1"
LONG = os.environ.get("EDGETWIN_CHAOS_LONG") == "1"
long_only = pytest.mark.skipif(not LONG, reason="long: EDGETWIN_CHAOS_LONG=1 (make chaos)")
"""For variants the normal suite leaves to ``make chaos``: each keeps a sibling that runs always."""


class Proc:
    """One part as a process: start, kill -9, stop, restart. Signals go to its whole process
    group, so a wrapper (``faketime``) never leaves the part itself running."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def kill9(self) -> None:
        assert self.proc is not None
        self._signal(signal.SIGKILL)
        self.proc.wait(10)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(5)
        if self.proc is not None:
            self._signal(signal.SIGKILL)  # whatever of the group outlived its leader

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Sent:
    device: str
    seq: int
    info: paho.MQTTMessageInfo
    order: int  # position in the generator's overall publish order


class Generator:
    """Publishes ``rate`` readings/s over ``devices`` machines with QoS 1 and remembers each one."""

    def __init__(
        self,
        port: int,
        rate: int = 200,
        devices: int = 10,
        skew_s: float = 0.0,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.port, self.rate, self.devices, self.skew_s = port, rate, devices, skew_s
        self.sent: dict[str, Sent] = {}
        self.extra: list[tuple[str, bytes]] = []  # (topic, payload) injected between good readings
        self._seq: dict[str, int] = defaultdict(int)
        self._last_ms: dict[str, int] = defaultdict(int)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"chaos-gen-{uuid.uuid4().hex[:6]}",
            clean_session=False,
        )
        if login is not None:
            self.client.username_pw_set(*login)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(200)
        self.client.reconnect_delay_set(0.2, 2)
        self._thread = threading.Thread(target=self._run, daemon=True, name="generator")

    def start(self) -> None:
        connected = threading.Event()
        self.client.on_connect = lambda *_a: connected.set()
        self.client.connect_async("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()
        connected.wait(10)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _run(self) -> None:
        interval = 0.05
        per_tick = max(1, int(self.rate * interval))
        next_at = time.monotonic()
        n = 0
        while not self._stop.is_set():
            for _ in range(per_tick):
                self._publish_one(f"m{n % self.devices:02d}")
                n += 1
            with self._lock:
                extra, self.extra = self.extra, []
            for topic, payload in extra:
                self.client.publish(topic, payload, qos=1)
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def _publish_one(self, device: str) -> None:
        self._seq[device] += 1
        seq = self._seq[device]
        ts_ms = max(int((time.time() + self.skew_s) * 1000), self._last_ms[device] + 1)
        self._last_ms[device] = ts_ms
        rid = str(uuid.uuid4())
        ts = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
        stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"
        payload = orjson.dumps(
            {
                "ts": stamp,
                "id": rid,
                "tenant": TENANT,
                "plant": PLANT,
                "line": "l1",
                "machine": device,
                "metric": "seq",
                "value": seq,
                "unit": "n",
                "q": 100,
            }
        )
        info = self.client.publish(f"v1/{TENANT}/{PLANT}/l1/{device}/seq", payload, qos=1)
        self.sent[rid] = Sent(device, seq, info, len(self.sent))

    def command(self, cmd: str, value: bool) -> None:
        """Publish a plant command, as an operator would."""
        body = f'{{"cmd": "{cmd}", "value": {str(value).lower()}}}'.encode()
        self.client.publish(f"v1/{TENANT}/{PLANT}/cmd", body, qos=1)

    def inject(self, topic: str, payload: bytes) -> None:
        with self._lock:
            self.extra.append((topic, payload))

    def confirmed(self) -> set[str]:
        return {rid for rid, s in self.sent.items() if _acked(s.info)}


@dataclass
class Report:
    fault: str
    sent: int
    confirmed: int
    stored: int
    lost: int
    lost_at_broker: int
    duplicated: int
    out_of_order: int
    dropped_by_policy: int
    recovery_s: float
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Harness:
    def __init__(
        self,
        workdir: Path,
        *,
        proxy_cloud: bool = False,
        proxy_broker: bool = False,
        edge_env: dict[str, str] | None = None,
        edge_wrapper: list[str] | None = None,
        rate: int = 200,
        skew_s: float = 0.0,
        broker_persistence: bool = True,
        max_queued: int = 0,
    ) -> None:
        self.dir = workdir
        self.mqtt_port = free_port()
        self.http_port = free_port()
        conf = workdir / "mosquitto.conf"
        # As a plant should run it: persistence on, saved every second. ``max_queued`` 0 means
        # no limit; Mosquitto's default of 1000 silently drops the rest (see the pitfalls test).
        persistence = (
            f"persistence true\npersistence_location {workdir}/\nautosave_interval 1\n"
            if broker_persistence
            else "persistence false\n"
        )
        # Run as root, Mosquitto would switch to its own user and could not save in our folder.
        user = "user root\n" if os.geteuid() == 0 else ""
        # Credentials on, as in production: each part its own user, held to its topics by the
        # files ``edgetwin mqtt-acl`` writes; anonymous clients are refused.
        self.mqtt_users = _broker_users(workdir)
        acl = (workdir / "acl" / "mosquitto.conf").read_text()
        conf.write_text(
            f"listener {self.mqtt_port} 127.0.0.1\n{acl}{user}{persistence}"
            f"max_queued_messages {max_queued}\n"
        )
        base = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
        base.update(
            {
                "EDGETWIN_DATA_DIR": str(workdir),
                "EDGETWIN_PACKS": "factory,motor",
                "EDGETWIN_HTTP_PORT": str(self.http_port),
                "EDGETWIN_EDGE_METRICS_PORT": str(free_port()),
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.broker = Proc("broker", ["mosquitto", "-c", str(conf)], base, workdir / "broker.log")
        cloud_env = {
            **base,
            "EDGETWIN_MQTT_URL": f"mqtt://127.0.0.1:{self.mqtt_port}",
            **_login(self.mqtt_users, "edgetwin/cloud"),
        }
        self.cloud = Proc(
            "cloud", [sys.executable, "-m", "edgetwin", "cloud"], cloud_env, workdir / "cloud.log"
        )
        self.cloud_proxy = FaultProxy(self.http_port, free_port()) if proxy_cloud else None
        self.broker_proxy = FaultProxy(self.mqtt_port, free_port()) if proxy_broker else None
        edge_mqtt = self.broker_proxy.port if self.broker_proxy else self.mqtt_port
        edge_http = self.cloud_proxy.port if self.cloud_proxy else self.http_port
        edge_envs = {
            **base,
            "EDGETWIN_TENANT": TENANT,
            "EDGETWIN_PLANT": PLANT,
            "EDGETWIN_MQTT_URL": f"mqtt://127.0.0.1:{edge_mqtt}",
            "EDGETWIN_CLOUD_URL": f"http://127.0.0.1:{edge_http}",
            "EDGETWIN_UPLINK_TIMEOUT_S": "2",
            **_login(self.mqtt_users, f"edgetwin/edge/{TENANT}/{PLANT}/edge-01"),
            **(edge_env or {}),
        }
        self.edge = Proc(
            "edge",
            [*(edge_wrapper or []), sys.executable, "-m", "edgetwin", "edge"],
            edge_envs,
            workdir / "edge.log",
        )
        self.gen = Generator(
            self.mqtt_port, rate=rate, skew_s=skew_s,
            login=(  # the plant's devices, played by one client: the cloud's user may
                "edgetwin/cloud", self.mqtt_users["edgetwin/cloud"],
            ),
        )  # fmt: skip
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.http_port}", timeout=5, headers=bearer(workdir)
        )
        self.ready = workdir / "run" / "edge-01.ready"

    # -- lifecycle --
    def start(self) -> Harness:
        self.broker.start()
        wait_for(lambda: port_open("127.0.0.1", self.mqtt_port), 10, what="mosquitto")
        self.start_cloud()
        for proxy in (self.cloud_proxy, self.broker_proxy):
            if proxy:
                proxy.start()
        self.start_edge()
        self.gen.start()
        return self

    def start_cloud(self) -> None:
        self.cloud.start()
        wait_for(lambda: self.http.get("/health").status_code == 200, 30, what="cloud /health")

    def start_edge(self) -> None:
        self.ready.unlink(missing_ok=True)
        self.edge.start()
        wait_for(self.ready.exists, 30, what="edge subscribed")

    def restart_broker(self) -> None:
        self.broker.start()
        wait_for(lambda: port_open("127.0.0.1", self.mqtt_port), 10, what="mosquitto back")

    def close(self) -> None:
        self.gen.close()
        for proxy in (self.cloud_proxy, self.broker_proxy):
            if proxy:
                proxy.stop()
        for p in (self.edge, self.cloud, self.broker):
            p.stop()
        self.http.close()

    # -- observation --
    def edge_status(self) -> dict[str, Any]:
        edges = self.http.get("/api/v1/stats").json()["edges"]
        return edges[0] if edges else {}

    def stored_rows(self) -> list[tuple[str, str, int, int]]:
        """(id hex, device, seq, ts_ms) of every stored chaos reading, read from the store itself."""
        db = sqlite3.connect(f"file:{self.dir / 'cloud.db'}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(
                "SELECT lower(hex(r.id)), s.machine, CAST(r.value AS INTEGER), r.ts_ms "
                "FROM readings r JOIN series s ON s.id = r.series_id WHERE s.tenant = ?",
                (TENANT,),
            ).fetchall()
        finally:
            db.close()

    def settle(self, timeout: float = 60.0, *, missing: Callable[[], int] | None = None) -> float:
        """Stop generating; wait until every reading the broker acknowledged is stored, except
        ``missing()`` of them that the test expects gone (dropped by policy, set aside), and the
        edge's buffer is empty. Returns the time that took."""
        started = time.monotonic()
        self.gen.stop()
        deadline = started + timeout
        pending = [s.info for s in self.gen.sent.values()]
        while pending and time.monotonic() < deadline:  # paho resends unacknowledged QoS 1
            pending = [i for i in pending if not _acked(i)]
            time.sleep(0.2)
        want = self.gen.confirmed()

        def done() -> bool:
            stored = {_uuid_hex(r[0]) for r in self.stored_rows()}
            gone = missing() if missing else 0
            return len(want - stored) <= gone and self.edge_status().get("buffer_depth") == 0

        wait_for(
            done,
            max(1.0, deadline - time.monotonic()),
            interval=0.3,
            what="everything acknowledged to be stored",
        )
        if missing is not None:
            time.sleep(2.5)  # with losses allowed, also let stragglers arrive before counting
        return time.monotonic() - started

    def report(self, fault: str, recovery_s: float, *, dropped: int = 0, notes: str = "") -> Report:
        rows = self.stored_rows()
        stored_ids = [_uuid_hex(r[0]) for r in rows]
        confirmed = self.gen.confirmed()
        sent_ids = set(self.gen.sent)
        stored_set = set(stored_ids)
        by_device: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for _id, device, seq, ts in rows:
            by_device[device].append((ts, seq))
        out_of_order = 0
        pairs = set()
        for device, items in by_device.items():
            items.sort()
            seqs = [seq for _ts, seq in items]
            out_of_order += sum(1 for a, b in itertools.pairwise(seqs) if b <= a)
            pairs.update((device, s) for s in seqs)
        lost = len(confirmed - stored_set)
        return Report(
            fault=fault,
            sent=len(sent_ids),
            confirmed=len(confirmed),
            stored=len(stored_ids),
            lost=lost - dropped if dropped else lost,
            lost_at_broker=0,
            duplicated=len(stored_ids) - len(pairs),
            out_of_order=out_of_order,
            dropped_by_policy=dropped,
            recovery_s=round(recovery_s, 1),
            notes=notes,
        )


def _acked(info: paho.MQTTMessageInfo) -> bool:
    # is_published() raises for a message queued while disconnected, although paho sends it on
    # reconnect and marks it published on PUBACK; the flag itself is what we need.
    return bool(info._published)


def _uuid_hex(h: str) -> str:
    return str(uuid.UUID(hex=h))


def _broker_users(workdir: Path) -> dict[str, str]:
    """The plant's MQTT users (cloud, edge) as ``edgetwin mqtt-acl`` writes them, in
    ``workdir/acl``; username -> password."""
    settings = load_settings(tenant=TENANT, plant=PLANT, data_dir=workdir)
    files = write_broker_files(workdir / "acl", plant_parts(settings))
    users = json.loads(files["credentials.json"].read_text())["users"]
    return {str(u["username"]): str(u["password"]) for u in users}


def _login(users: dict[str, str], username: str) -> dict[str, str]:
    return {"EDGETWIN_MQTT_USERNAME": username, "EDGETWIN_MQTT_PASSWORD": users[username]}
