"""The pipeline under load: a broker, ``edgetwin cloud`` and ``edgetwin edge`` as processes, and a
load generator that publishes readings over MQTT (one per message, or batches per message)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from edgetwin.core.security import Role
from edgetwin.security import IdentityStore

TENANT, PLANT = "bench", "p1"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(predicate: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if predicate():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


@dataclass
class Pipeline:
    workdir: Path
    db_url: str | None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mqtt_port = _free_port()
        self.http_port = _free_port()
        self.metrics_port = _free_port()
        self.broker_kind = "mosquitto" if shutil.which("mosquitto") else "embedded (amqtt)"
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.http_port}", timeout=10)

    def _env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
        env.update(
            {
                "EDGETWIN_DATA_DIR": str(self.workdir),
                "EDGETWIN_HTTP_PORT": str(self.http_port),
                "EDGETWIN_LOG_LEVEL": "WARNING",
                "EDGETWIN_PACKS": "factory,motor",  # as measured since the first run
                "PYTHONUNBUFFERED": "1",
                **extra,
            }
        )
        if self.broker_kind == "mosquitto":
            env["EDGETWIN_MQTT_URL"] = f"mqtt://127.0.0.1:{self.mqtt_port}"
        else:
            env["EDGETWIN_MQTT_PORT"] = str(self.mqtt_port)
        return env

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        py = [sys.executable, "-m", "edgetwin"]
        if self.broker_kind == "mosquitto":
            conf = self.workdir / "mosquitto.conf"
            user = "user root\n" if os.geteuid() == 0 else ""
            # No queue limit and a wide in-flight window: the defaults (1000, 20) cap throughput.
            conf.write_text(
                f"listener {self.mqtt_port} 127.0.0.1\nallow_anonymous true\n{user}"
                "persistence false\nmax_queued_messages 0\nmax_inflight_messages 1000\n"
            )
            self._spawn("broker", ["mosquitto", "-c", str(conf)], os.environ.copy())
        else:
            self._spawn("broker", [*py, "broker"], self._env())
        time.sleep(0.5)
        cloud_env = self._env(**({"EDGETWIN_DB": self.db_url} if self.db_url else {}))
        self._spawn("cloud", [*py, "cloud"], cloud_env)
        _wait(lambda: self.http.get("/health").status_code == 200, 60, "cloud /health")
        # The bench reads the cloud as an admin; the edge makes its own credential (same data dir).
        with IdentityStore(self.workdir) as identities:
            _info, token = identities.create_token(Role.ADMIN, ["*"], label="bench")
        self.http.headers["Authorization"] = f"Bearer {token}"
        ready = self.workdir / "run" / "edge-01.ready"
        self._spawn(
            "edge",
            [*py, "edge"],
            self._env(
                EDGETWIN_TENANT=TENANT,
                EDGETWIN_PLANT=PLANT,
                EDGETWIN_UPLINK_BATCH="5000",
                EDGETWIN_EDGE_METRICS_PORT=str(self.metrics_port),
            ),
        )
        _wait(ready.exists, 30, "edge subscribed")

    def stop(self) -> None:
        for name in ("edge", "cloud", "broker"):
            p = self.procs.get(name)
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.http.close()

    def stored(self) -> int:
        return int(self.http.get("/api/v1/stats").json()["stored"])

    def edge_metric(self, name: str) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        m = re.search(rf"^{name}\{{[^}}]*\}} ([0-9.e+-]+)$", text, re.M)
        return float(m.group(1)) if m else 0.0

    def cloud_histogram(self, name: str) -> dict[float, float]:
        text = self.http.get("/metrics").text
        out: dict[float, float] = {}
        for le, v in re.findall(rf'^{name}_bucket\{{le="([^"]+)"\}} ([0-9.e+-]+)$', text, re.M):
            out[float("inf") if le == "+Inf" else float(le)] = float(v)
        return out

    def process(self, name: str) -> psutil.Process:
        return psutil.Process(self.procs[name].pid)


class Load:
    """Publishes readings of ``series`` series at a set rate, QoS 1, one per message or batched.

    A plain threaded paho publisher, not the asyncio adapter the parts use
    (:class:`edgetwin.transport.client.MqttClient`): a load generator has no event loop to feed
    and must spend as little of the machine it shares with the pipeline as it can."""

    def __init__(self, port: int, *, per_message: int = 1, series: int = 54) -> None:
        self.per_message = per_message
        self.series = [(f"l{i // 18}", f"m{i // 6 % 3}", f"s{i % 6}") for i in range(series)]
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:6]}"
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.sent = 0
        self.refused = 0
        self._n = 0
        # Ids are a random prefix and a counter in UUID form: unique, and cheap enough that the
        # generator, which shares the machine with the pipeline, takes less of it.
        r = uuid.uuid4().hex
        self._id_prefix = f"{r[:8]}-{r[8:12]}-4{r[13:16]}-8{r[17:20]}-"
        self._ts_ms = -1
        self._ts = ""

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _reading(self) -> tuple[str, dict[str, Any]]:
        line, machine, metric = self.series[self._n % len(self.series)]
        self._n += 1
        now_ms = int(time.time() * 1000)
        if now_ms != self._ts_ms:  # formatted once per millisecond
            self._ts_ms = now_ms
            self._ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now_ms // 1000))
            self._ts += f".{now_ms % 1000:03d}Z"
        topic = f"v1/{TENANT}/{PLANT}/{line}/{machine}/{metric}"
        return topic, {
            "ts": self._ts,
            "id": f"{self._id_prefix}{self._n:012x}",
            "tenant": TENANT,
            "plant": PLANT,
            "line": line,
            "machine": machine,
            "metric": metric,
            "value": float(self._n % 1000),
            "unit": "u",
            "q": 100,
        }

    def command(self, cmd: str, value: bool) -> None:
        self.client.publish(
            f"v1/{TENANT}/{PLANT}/cmd", orjson.dumps({"cmd": cmd, "value": value}), qos=1
        )

    def run(self, rate: float, seconds: float, stop: threading.Event | None = None) -> float:
        """Publish at ``rate`` readings/s for ``seconds``; returns the rate actually offered."""
        tick = 0.02
        per_tick = rate * tick
        owed = 0.0
        sent0 = self.sent
        start = time.monotonic()
        next_at = start
        while time.monotonic() - start < seconds and not (stop and stop.is_set()):
            owed += per_tick
            while owed >= self.per_message:
                owed -= self.per_message
                self._publish()
            next_at += tick
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return (self.sent - sent0) / (time.monotonic() - start)

    def _publish(self) -> None:
        if self.per_message == 1:
            topic, body = self._reading()
            self._send(topic, orjson.dumps(body), 1)
            return
        items = [self._reading()[1] for _ in range(self.per_message)]
        self._send(f"v1/{TENANT}/{PLANT}/batch/bench", orjson.dumps(items), self.per_message)

    def _send(self, topic: str, payload: bytes, readings: int) -> None:
        """Publish, waiting while paho refuses: MQTT has 65,535 message ids, so a publisher
        cannot have more unacknowledged messages than that. The wait is back-pressure, and
        shows as an offered rate below the target."""
        while True:
            info = self.client.publish(topic, payload, qos=1)
            if info.rc != paho.MQTT_ERR_QUEUE_SIZE:
                break
            self.refused += 1
            time.sleep(0.002)
        self.sent += readings
