"""The edge gateway process: MQTT source -> durable buffer -> uplink, plus plant commands.

Every reading is validated and committed to the buffer before the broker gets its PUBACK.
Malformed readings are counted by reason and logged; they never stop the pipeline. The edge's
status (buffer depth, fill, drops, runway, alerts) is published retained to the plant broker
every 2 s and served to Prometheus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
import paho.mqtt.client as paho

from edgetwin.core.point import Point
from edgetwin.core.settings import MqttTarget, Settings
from edgetwin.core.topics import (
    batch_topic,
    command_topic,
    device_command_topic,
    device_reply_filter,
    plant_filter,
    shared,
    status_topic,
)
from edgetwin.edge.alerts import Alerts
from edgetwin.edge.anomaly import AnomalyProcessor
from edgetwin.edge.buffer import BufferLimits, SqliteBuffer
from edgetwin.edge.commands import CommandRouter, Target
from edgetwin.edge.intake import Intake, Row
from edgetwin.edge.metrics import EdgeMetrics
from edgetwin.edge.mqtt_source import MqttSource
from edgetwin.edge.serial_source import SerialSource
from edgetwin.edge.uplink import Uplink
from edgetwin.process import stop_event
from edgetwin.transport.mqtt import BrokerLinkError, check_broker, resolve_target

log = logging.getLogger("edgetwin.edge")

DRAIN_MAX = 5000


class Gateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        limits = BufferLimits(
            max_bytes=settings.buffer_max_bytes,
            max_age_s=settings.buffer_max_age_s,
            policy=settings.buffer_policy,
        )
        self.buffer = SqliteBuffer(
            settings.data_dir / "edge" / f"{settings.edge_id}.buffer.db",
            limits=limits,
            synchronous=settings.buffer_synchronous,
        )
        self.metrics = EdgeMetrics(self)
        self.uplink = Uplink(
            self.buffer,
            settings.cloud_urls,
            settings.edge_id,
            batch=settings.uplink_batch,
            window=settings.uplink_window,
            timeout_s=settings.uplink_timeout_s,
            on_latency=self.metrics.uplink_latency.observe,
        )
        self.received = 0
        self.buffered = 0
        self.redelivered = 0
        self.alerts = Alerts()
        self.snapshot: dict[str, Any] = {}
        self._rate: list[tuple[float, int]] = []  # (monotonic time, bytes buffered) for the runway
        self._cmd_topic = command_topic(settings.tenant, settings.plant)
        self._status_topic = status_topic(settings.tenant, settings.plant, settings.edge_id)
        self._status_prefix = status_topic(settings.tenant, settings.plant, "")
        self._batch_prefix = batch_topic(settings.tenant, settings.plant, "")
        self.intake = Intake(settings.tenant, settings.plant, self._status_prefix)
        self._queue: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()
        self._last_drop_log = 0.0
        # -- device commands, the serial source, anomaly detection --
        self._source: MqttSource | None = None
        self.router = CommandRouter(
            settings.data_dir / "edge" / f"{settings.edge_id}.commands.db",
            self._publish,
            tenant=settings.tenant,
            plant=settings.plant,
            edge_id=settings.edge_id,
            # Edges sharing a plant relay nothing over MQTT: each command would reach every
            # one of them, and a device must get it once.
            relay=None if settings.mqtt_share_group else self._mqtt_device,
            owned_only=settings.mqtt_share_group is not None,
        )
        self.anomaly = AnomalyProcessor(on_alert=self._anomaly_alert)
        self.serial: SerialSource | None = None
        self.link_error: str | None = None
        path = settings.serial_path()
        if path is not None:
            self.serial = SerialSource(
                path,
                settings.serial_baud,
                tenant=settings.tenant,
                plant=settings.plant,
                line=settings.motor_line,
                on_points=self._store,
                on_event=self._device_event,
            )

    async def run(self) -> None:
        s = self.settings
        target = resolve_target(s)
        self.buffer.open()
        if self.buffer.set_aside is not None:
            self.alerts.raise_(
                "buffer_corrupt", f"damaged buffer set aside as {self.buffer.set_aside}"
            )
        if self.buffer.get_meta("uplink_cut") == "1":
            log.warning("network_outage is still in force from before the restart")
            self.uplink.set_cut(True)
        if self.buffer.depth:
            log.info(
                "buffer holds %d reading(s) from before; they go first, as backlog",
                self.buffer.depth,
            )
        self.metrics.serve(s.edge_metrics)
        self.router.open()
        with contextlib.suppress(ValueError, TypeError):
            self.anomaly.load(orjson.loads(self.buffer.get_meta("anomaly") or "{}"))
        source = MqttSource(
            target,
            client_id=f"edgetwin-edge-{s.tenant}-{s.plant}-{s.edge_id}",
            subscriptions=[
                shared(plant_filter(s.tenant, s.plant), s.mqtt_share_group),
                self._cmd_topic,
                shared(batch_topic(s.tenant, s.plant, "+"), s.mqtt_share_group),
                device_reply_filter(s.tenant, s.plant),
                # The shared reading filter also matches device commands, so that each would
                # reach one edge of the group only: every edge takes them unshared as well.
                *([command_topic(s.tenant, s.plant, "+", "+")] if s.mqtt_share_group else []),
            ],
            queue=self._queue,
            will=(self._status_topic, self._status_payload(online=False)),
        )
        self._source = source
        try:
            async with source, asyncio.TaskGroup() as tg:
                tg.create_task(self.router.run(), name="commands")
                tg.create_task(self._watch_link(source, target), name="link-check")
                if self.serial is not None:
                    tg.create_task(self.serial.run(), name="serial")
                tg.create_task(self._pump(source), name="pump")
                tg.create_task(self.uplink.run(), name="uplink")
                tg.create_task(self._report(source), name="status")
                tg.create_task(self._housekeeping(), name="housekeeping")
                tg.create_task(_until_signal(), name="signals")
                tg.create_task(self._announce_ready(source), name="ready")
        except* StopRequestedError:
            log.info("edge stopping")
        finally:
            with contextlib.suppress(Exception):
                source.publish(self._status_topic, self._status_payload(online=False), retain=True)
            self.metrics.stop()
            self._save_anomaly()
            self.router.close()
            self.buffer.close()

    async def _pump(self, source: MqttSource) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < DRAIN_MAX:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            rows: list[Row] = []
            for msg in batch:
                if msg.topic == self._cmd_topic:
                    self._command(bytes(msg.payload))
                    continue
                if msg.topic.endswith("/cmd"):  # a device's command
                    self._device_command(msg)
                    continue
                if msg.topic.endswith("/cmd/reply"):  # an MQTT device's answer to one
                    self._device_reply(msg)
                    continue
                if msg.topic.startswith(self._batch_prefix):
                    rows.extend(self.intake.batch(msg))
                    continue
                row = self.intake.reading(msg)
                if row is not None:
                    rows.append(row)
            self.received += len(rows)
            before = self.buffer.bytes
            result = self.buffer.put_rows(rows)  # commit before the PUBACK
            self.buffered += result.stored
            self.redelivered += result.redelivered
            if result.dropped:
                self._on_dropped(result.dropped)
            self._rate.append((time.monotonic(), max(0, self.buffer.bytes - before)))
            source.ack(batch)
            if result.stored:
                self.uplink.wake.set()

    # -- commands, serial source, anomaly detection --
    def _publish(self, topic: str, payload: bytes) -> None:
        if self._source is not None:
            self._source.publish(topic, payload, qos=1)

    def _device_command(self, msg: paho.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        if len(parts) != 6 or parts[1:3] != [self.settings.tenant, self.settings.plant]:
            self.intake.reject("bad_topic", f"not a device command topic: {msg.topic!r}")
            return
        self.router.handle(parts[3], parts[4], bytes(msg.payload))

    def _mqtt_device(self, line: str, machine: str) -> Target | None:
        """Commands for a device no local source owns go to it over MQTT (the factory's
        machines); the serial line's devices wait until the device has named itself."""
        if self.serial is not None and line == self.settings.motor_line:
            return None
        s = self.settings
        topic = device_command_topic(s.tenant, s.plant, line, machine)

        async def relay(cmd: dict[str, Any]) -> None:
            if self._source is None or not self._source.connected.is_set():
                raise ConnectionError("the plant broker is unreachable")
            self._source.publish(topic, orjson.dumps(cmd), qos=1)

        return relay

    def _device_reply(self, msg: paho.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        try:
            reply = orjson.loads(msg.payload)
            if not isinstance(reply, dict) or "id" not in reply:
                raise TypeError("a reply is an object with the command's id")
        except (orjson.JSONDecodeError, TypeError) as exc:
            self.intake.reject("bad_command", f"{msg.topic}: {exc}")
            return
        self.router.on_device_event(parts[3], parts[4], {**reply, "type": "ack"})

    def _device_event(self, machine: str, event: dict[str, Any]) -> None:
        self._route_to_serial(machine)
        self.router.on_device_event(self.settings.motor_line, machine, event)

    def _route_to_serial(self, machine: str) -> None:
        """The serial device named itself: its commands go down its line from now on."""
        if (self.settings.motor_line, machine) not in self.router.targets:
            self.router.register(self.settings.motor_line, machine, self._serial_send)

    async def _serial_send(self, cmd: dict[str, Any]) -> None:
        assert self.serial is not None
        await self.serial.send(orjson.dumps(cmd).decode())

    def _store(self, points: list[Point]) -> None:
        """Readings of a local source (serial): the same buffer, so the same exactly-once path."""
        if points:
            self._route_to_serial(points[0].machine)
        self.received += len(points)
        points = self.anomaly.process(points)
        result = self.buffer.put(points)
        self.buffered += result.stored
        if result.dropped:
            self._on_dropped(result.dropped)
        if result.stored:
            self.uplink.wake.set()

    def _anomaly_alert(self, key: str, active: bool, message: str) -> None:
        kind = "anomaly." + key.replace("/", ".")
        if active:
            self.alerts.raise_(kind, message)
        else:
            self.alerts.clear(kind)

    async def _watch_link(self, source: MqttSource, target: MqttTarget) -> None:
        """While the broker link is down, find out why (paho retries TLS failures silently) and
        say it once, clearly, in the log and as an alert; the readings wait in the buffer."""
        while True:
            await asyncio.sleep(2.0)
            if source.connected.is_set():
                self.link_error = None
                self.alerts.clear("broker_link")
                continue
            try:
                await asyncio.to_thread(check_broker, target)
            except BrokerLinkError as exc:
                if str(exc) != self.link_error:
                    log.error("broker link: %s", exc)
                self.link_error = str(exc)
                self.alerts.raise_("broker_link", str(exc))

    def _save_anomaly(self) -> None:
        with contextlib.suppress(Exception):
            self.buffer.set_meta("anomaly", orjson.dumps(self.anomaly.state()).decode())

    def _on_dropped(self, dropped: dict[str, int]) -> None:
        totals = self.buffer.dropped
        reasons = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in totals.items())
        self.alerts.raise_(
            "buffer_full",
            f"buffer full, policy {self.buffer.limits.policy.replace('_', ' ')}: "
            f"{sum(totals.values())} reading(s) dropped ({reasons})",
        )
        now = time.monotonic()
        if now - self._last_drop_log > 5.0:
            self._last_drop_log = now
            log.error(
                "buffer full: dropping by policy %s; dropped so far %s",
                self.buffer.limits.policy,
                self.buffer.stats().dropped,
            )

    def _command(self, payload: bytes) -> None:
        try:
            body = orjson.loads(payload)
            cmd, value = body["cmd"], body.get("value", True)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.intake.reject("bad_command", f"{payload[:200]!r}")
            return
        if cmd == "network_outage" and isinstance(value, bool):
            self.buffer.set_meta("uplink_cut", "1" if value else "0")
            self.uplink.set_cut(value)

    def runway_s(self) -> float | None:
        """How long the buffer can take the current inflow before the policy starts dropping."""
        now = time.monotonic()
        self._rate = [(t, b) for t, b in self._rate if now - t <= 60]
        if not self._rate:
            return None
        span = max(now - self._rate[0][0], 1.0)
        inflow = sum(b for _t, b in self._rate) / span
        if inflow <= 0:
            return None
        room = max(self.buffer.limits.max_bytes - self.buffer.bytes, 0)
        return round(min(room / inflow, self.buffer.limits.max_age_s), 1)

    def _refresh(self) -> dict[str, Any]:
        stats = self.buffer.stats()
        if stats.state in ("high", "full"):
            self.alerts.raise_(
                "buffer_high", f"buffer {stats.fill_ratio:.0%} full ({stats.bytes} bytes)"
            )
        else:
            self.alerts.clear("buffer_high")
            if not self.uplink.cut.is_set() and stats.fill_ratio < 0.5:
                self.alerts.clear("buffer_full")
        up = self.uplink.stats
        now = time.time()
        self.snapshot = {
            "edge_id": self.settings.edge_id,
            "online": True,
            "ts": now,
            "buffer_depth": stats.depth,
            "buffer_bytes": stats.bytes,
            "buffer_file_bytes": stats.file_bytes,
            "buffer_max_bytes": self.buffer.limits.max_bytes,
            "buffer_fill": stats.fill_ratio,
            "buffer_state": stats.state,
            "buffer_policy": self.buffer.limits.policy,
            "oldest_age_s": None
            if stats.oldest_ts_ms is None
            else round(now - stats.oldest_ts_ms / 1000, 1),
            "runway_s": self.runway_s(),
            "dropped": stats.dropped,
            "dead_letters": stats.dead_letters,
            "uplink": "cut" if self.uplink.cut.is_set() else up.state,
            "uplink_error": up.last_error,
            "uplink_failures": up.failures,
            "received": self.received,
            "buffered": self.buffered,
            "accepted_total": self.buffer.totals.get("accepted", 0),
            "redelivered": self.redelivered,
            "rejected": dict(self.intake.rejected),
            "sent": up.sent,
            "cloud_duplicates": up.duplicates,
            "alerts": self.alerts.listed(),
            "serial": None if self.serial is None else self.serial.stats(),
            "commands": {"executed": self.router.executed, "duplicates": self.router.duplicates},
        }
        return self.snapshot

    def _status_payload(self, *, online: bool = True) -> bytes:
        return orjson.dumps({**self.snapshot, "edge_id": self.settings.edge_id, "online": online})

    async def _housekeeping(self) -> None:
        while True:
            self.buffer.expire(int(time.time() * 1000))
            self._refresh()
            if int(time.time()) % 10 == 0:
                self._save_anomaly()  # a restart resumes with the learnt baseline
            await asyncio.sleep(1.0)

    async def _announce_ready(self, source: MqttSource) -> None:
        """Write ``run/<edge>.ready`` once subscribed, so a supervisor starts devices only when
        nothing they publish can be missed (from then on the persistent session keeps it)."""
        await source.subscribed.wait()
        ready = self.settings.data_dir / "run" / f"{self.settings.edge_id}.ready"
        ready.parent.mkdir(parents=True, exist_ok=True)
        ready.write_text(str(time.time()))

    async def _report(self, source: MqttSource) -> None:
        """Publish the edge's status, retained, to the plant broker every 2 s (the snapshot is
        refreshed every second by the housekeeping task)."""
        while True:
            if source.connected.is_set():
                source.publish(self._status_topic, self._status_payload(), retain=True)
            await asyncio.sleep(2.0)


class StopRequestedError(Exception):
    pass


async def _until_signal() -> None:
    await stop_event().wait()
    raise StopRequestedError
