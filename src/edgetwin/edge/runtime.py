"""The edge process: ``sources -> processors -> BUFFER -> forwarders -> sinks``, as configured.

The runtime builds nothing particular: the plugins come from the pipeline
(:mod:`edgetwin.edge.pipeline`). It owns what every edge has:

- one pump per source: each delivery goes through the processors that want its readings,
  is committed to the buffer, and only then acknowledged (``ack``); a failed commit is
  ``nack``-ed, and the source offers the readings again;
- one forwarder per sink, each draining its own outbox of the shared buffer;
- the control link to the plant broker: the plant command ``network_outage`` (held across
  restarts) and device commands, handed to the command router, which asks the device links;
- the edge's health, one :class:`~edgetwin.core.status.EdgeStatus` built every second from the
  plugins' stats and shared by Prometheus, the retained status topic and the cloud.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import orjson
import paho.mqtt.client as paho

from edgetwin.core.plugins import Delivery, DeviceLink, PluginContext, Processor, Source
from edgetwin.core.point import Point
from edgetwin.core.settings import MqttTarget, Settings
from edgetwin.core.status import EdgeStatus
from edgetwin.core.topics import command_topic, status_topic
from edgetwin.edge.alerts import Alerts
from edgetwin.edge.buffer import BufferLimits, PutResult, SqliteBuffer
from edgetwin.edge.commands import CommandRouter
from edgetwin.edge.forwarder import Forwarder
from edgetwin.edge.health import Health
from edgetwin.edge.metrics import EdgeMetrics
from edgetwin.edge.pipeline import PipelineConfig, Plugins, build
from edgetwin.edge.rejects import Rejects
from edgetwin.edge.routing import Routing
from edgetwin.process import stop_event
from edgetwin.security.mqtt_acl import edge_part
from edgetwin.transport.client import MqttClient
from edgetwin.transport.linklog import diagnose, link_report
from edgetwin.transport.mqtt import resolve_target

log = logging.getLogger("edgetwin.edge")

Row = tuple[str, bytes]  # (reading id, wire payload): what the buffer stores


class EdgeRuntime:
    """One edge gateway, assembled from ``pipeline``; ``run()`` until a stop signal."""

    def __init__(
        self,
        settings: Settings,
        pipeline: PipelineConfig,
        ctx: PluginContext,
        plugins: Plugins | None = None,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.alerts: Alerts = ctx.alerts  # type: ignore[assignment]
        self.plugins = plugins or build(pipeline, ctx)
        b = pipeline.buffer
        self.buffer = SqliteBuffer(
            settings.data_dir / "edge" / f"{settings.edge_id}.buffer.db",
            limits=BufferLimits(max_bytes=b.max_bytes, max_age_s=b.max_age_s, policy=b.policy),
            synchronous=b.synchronous,
            sinks=[s.name for s in self.plugins.sinks],
            filters=pipeline.filters(),
        )
        self.status: EdgeStatus | None = None
        self.metrics = EdgeMetrics(lambda: self.status)
        self.forwarders: list[Forwarder] = []
        self.links: list[DeviceLink] = [
            s for s in self.plugins.sources if isinstance(s, DeviceLink)
        ]
        t, p, e = settings.tenant, settings.plant, settings.edge_id
        self.router = CommandRouter(
            settings.data_dir / "edge" / f"{e}.commands.db",
            self._publish,
            tenant=t,
            plant=p,
            edge_id=e,
            links=self.links,
            # In a share group every edge sees every command: each acts on its own devices.
            owned_only=not any(getattr(k, "fallback", False) for k in self.links),
        )
        for link in self.links:
            link.on_event = self.router.on_device_event
        self.rejected = Rejects(log, "rejected command")
        self.health = Health(self.buffer, self.alerts)
        self._status_topic = status_topic(t, p, e)
        self._cmd_topic = command_topic(t, p)
        self._control_queue: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()
        self.control: MqttClient | None = None
        self.link_error: str | None = None

    # -- lifecycle --
    async def run(self) -> None:
        s = self.settings
        target = resolve_target(s, edge_part(s.tenant, s.plant, s.edge_id))
        self.buffer.open()
        if self.buffer.set_aside is not None:
            self.alerts.raise_(
                "buffer_corrupt", f"damaged buffer set aside as {self.buffer.set_aside}"
            )
        if self.buffer.depth:
            log.info(
                "buffer holds %d reading(s) from before; they go first, as backlog",
                self.buffer.depth,
            )
        for sink in self.plugins.sinks:
            self.forwarders.append(
                Forwarder(
                    self.buffer.outbox(sink.name),
                    sink,
                    batch=s.uplink_batch,
                    window=s.uplink_window,
                    on_latency=self.metrics.uplink_latency.observe,
                )
            )
        self.health.forwarders = self.forwarders
        if self.buffer.get_meta("uplink_cut") == "1":
            log.warning("network_outage is still in force from before the restart")
            self._cut(True)
        self._load_states()
        self.metrics.serve(s.edge_metrics)
        self.router.open()
        t, p = s.tenant, s.plant
        self.control = MqttClient(
            target,
            client_id=f"edgetwin-edge-{t}-{p}-{s.edge_id}-control",
            subscriptions=[self._cmd_topic, command_topic(t, p, "+", "+")],
            queue=self._control_queue,
            will=(self._status_topic, self._status_payload(online=False)),
        )
        try:
            async with contextlib.AsyncExitStack() as stack:
                await stack.enter_async_context(self.control)
                for source in self.plugins.sources:
                    await stack.enter_async_context(source)
                async with asyncio.TaskGroup() as tg:
                    for source in self.plugins.sources:
                        tg.create_task(self._pump(source), name=f"source-{source.name}")
                    for fwd in self.forwarders:
                        tg.create_task(fwd.run(), name=f"sink-{fwd.name}")
                    tg.create_task(self.router.run(), name="commands")
                    tg.create_task(self._control(), name="control")
                    tg.create_task(self._watch_link(target), name="link-check")
                    tg.create_task(self._report(), name="status")
                    tg.create_task(self._housekeeping(), name="housekeeping")
                    tg.create_task(_until_signal(), name="signals")
                    tg.create_task(self._announce_ready(), name="ready")
        except* StopRequestedError:
            log.info("edge stopping")
        finally:
            if self.control is not None and self.control.connected.is_set():
                with contextlib.suppress(OSError, RuntimeError, ValueError):
                    self.control.publish(
                        self._status_topic, self._status_payload(online=False), retain=True
                    )
            self.metrics.stop()
            self._save_states()
            self.router.close()
            self.buffer.close()

    # -- the data path --
    async def _pump(self, source: Source) -> None:
        async for delivery in source.deliveries():
            try:
                result = self.commit(delivery)
            except Exception:
                delivery.nack()
                raise
            delivery.ack()  # after the commit: the PUBACK rule, for every source
            if result.stored:
                for fwd in self.forwarders:
                    fwd.wake.set()
            # A source with a backlog yields without suspending; let the forwarders run between
            # deliveries, or under overload the intake takes the whole loop and nothing leaves.
            await asyncio.sleep(0)

    def commit(self, delivery: Delivery) -> PutResult:
        """Run the processors over a delivery and commit what they return to the buffer."""
        routing = None if self.buffer.routing.everything else self.buffer.routing
        rows, routes = self._routed_rows(
            delivery.points, delivery.raw, self.plugins.processors, routing
        )
        self.health.received += len(delivery.points)
        before = self.buffer.bytes
        result = self.buffer.put_rows(rows, routes)
        self.health.buffered += result.stored
        self.health.redelivered += result.redelivered
        if result.dropped:
            self.health.on_dropped()
        self.health.inflow(max(0, self.buffer.bytes - before))
        return result

    @staticmethod
    def _rows(
        points: Sequence[Point], raw: Sequence[bytes] | None, processors: Sequence[Processor]
    ) -> list[Row]:
        """Readings no processor wants keep the payload the device sent (no re-encoding)."""
        return EdgeRuntime._routed_rows(points, raw, processors, None)[0]

    @staticmethod
    def _routed_rows(
        points: Sequence[Point],
        raw: Sequence[bytes] | None,
        processors: Sequence[Processor],
        routing: Routing | None,
    ) -> tuple[list[Row], list[int] | None]:
        """:meth:`_rows`, and each row's sinks (``routing.masks``; None without ``routing``)."""
        if processors:
            # One cheap test per reading (this runs for every reading of the plant).
            if len(processors) == 1:
                want = processors[0].wants
                mask = [want(p) for p in points]
            else:
                tests = [proc.wants for proc in processors]
                mask = [any(w(p) for w in tests) for p in points]
            if not any(mask):
                processors = ()
        if not processors:
            routes = None if routing is None else routing.masks(points)
            if raw is not None:
                return [(str(p.id), r) for p, r in zip(points, raw, strict=True)], routes
            return [(str(p.id), p.to_json()) for p in points], routes
        untouched: list[Row] = []
        kept: list[Point] = []
        wanted: list[Point] = []
        for i, p in enumerate(points):
            if mask[i]:
                wanted.append(p)
            else:
                kept.append(p)
                untouched.append((str(p.id), raw[i] if raw is not None else p.to_json()))
        for proc in processors:
            if wanted:
                taken = [p for p in wanted if proc.wants(p)]
                if taken:
                    left = [p for p in wanted if not proc.wants(p)]
                    wanted = left + proc.process(taken)
        rows = untouched + [(str(p.id), p.to_json()) for p in wanted]
        return rows, None if routing is None else routing.masks(kept + wanted)

    def _cut(self, cut: bool) -> None:
        self.buffer.set_meta("uplink_cut", "1" if cut else "0")
        for fwd in self.forwarders:
            if getattr(fwd.sink, "remote", True):
                fwd.set_cut(cut)

    # -- the control link: plant and device commands --
    async def _control(self) -> None:
        control = self.control
        assert control is not None
        while True:
            msg = await self._control_queue.get()
            if msg.topic == self._cmd_topic:
                self._plant_command(bytes(msg.payload))
            else:
                parts = msg.topic.split("/")
                if len(parts) == 6 and parts[5] == "cmd":
                    self.router.handle(parts[3], parts[4], bytes(msg.payload))
                else:
                    self.rejected.add("bad_topic", f"not a command topic: {msg.topic!r}")
            control.ack([msg])  # after the router remembered it: at most once, never lost

    def _plant_command(self, payload: bytes) -> None:
        try:
            body = orjson.loads(payload)
            cmd, value = body["cmd"], body.get("value", True)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.rejected.add("bad_command", f"{payload[:200]!r}")
            return
        if cmd == "network_outage" and isinstance(value, bool):
            self._cut(value)

    def _publish(self, topic: str, payload: bytes) -> None:
        if self.control is not None:
            self.control.publish(topic, payload, qos=1)

    async def _watch_link(self, target: MqttTarget) -> None:
        """While the broker link is down, find out why (paho retries TLS failures silently) and
        say it once, clearly, in the log and as an alert; the readings wait in the buffer."""
        control = self.control
        assert control is not None
        while True:
            await asyncio.sleep(2.0)
            if control.takeover is not None:
                self.alerts.raise_("session_takeover", control.takeover)
            else:
                self.alerts.clear("session_takeover")
            if control.connected.is_set():
                self.link_error = None
                self.alerts.clear("broker_link")
                continue
            reason = await diagnose(target)  # the probe the MQTT clients share
            if reason is not None:
                link_report(target).down(reason)  # each reason once, then every 45 s
                self.link_error = reason
                self.alerts.raise_("broker_link", reason)

    # -- state, health, status --
    def _load_states(self) -> None:
        for proc in self.plugins.processors:
            saved = self.buffer.get_meta(f"processor:{proc.name}")
            if saved is None and proc.name == "anomaly":
                saved = self.buffer.get_meta("anomaly")  # where a buffer before plugins kept it
            if saved:
                try:
                    proc.load(orjson.loads(saved))
                except (orjson.JSONDecodeError, ValueError, TypeError, KeyError) as exc:
                    log.warning("processor %s: saved state not loaded (%s)", proc.name, exc)

    def _save_states(self) -> None:
        for proc in self.plugins.processors:
            try:
                self.buffer.set_meta(f"processor:{proc.name}", orjson.dumps(proc.state()).decode())
            except (RuntimeError, TypeError) as exc:  # buffer closed, state not JSON
                log.warning("processor %s: state not saved (%s)", proc.name, exc)

    def refresh(self) -> EdgeStatus:
        """Build the edge's status from the buffer, the forwarders and the plugins."""
        self.status = self.health.status(
            edge_id=self.settings.edge_id,
            sources={s.name: s.stats() for s in self.plugins.sources},
            rejected=self._rejected(),
            commands={"executed": self.router.executed, "duplicates": self.router.duplicates},
        )
        return self.status

    def _rejected(self) -> dict[str, int]:
        total: dict[str, int] = dict(self.rejected)
        for source in self.plugins.sources:
            for reason, n in source.stats().get("rejected", {}).items():
                total[reason] = total.get(reason, 0) + n
        return total

    def _status_payload(self, *, online: bool = True) -> bytes:
        if self.status is None:
            return orjson.dumps({"edge_id": self.settings.edge_id, "online": online})
        return self.status.model_copy(update={"online": online}).model_dump_json().encode()

    async def _housekeeping(self) -> None:
        while True:
            if self.buffer.expire():
                self.health.on_expired()
            self.refresh()
            if int(time.time()) % 10 == 0:
                self._save_states()  # a restart resumes with the learnt baseline
            await asyncio.sleep(1.0)

    async def _announce_ready(self) -> None:
        """Write ``run/<edge>.ready`` once every source and the control link are subscribed, so
        a supervisor starts devices only when nothing they publish can be missed."""
        assert self.control is not None
        await self.control.subscribed.wait()
        for source in self.plugins.sources:
            ready: Any = getattr(source, "ready", None)
            if isinstance(ready, asyncio.Event):
                await ready.wait()
        path = self.settings.data_dir / "run" / f"{self.settings.edge_id}.ready"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(time.time()))

    async def _report(self) -> None:
        """Publish the edge's status, retained, every 2 s (refreshed every second)."""
        control = self.control
        assert control is not None
        while True:
            if control.connected.is_set() and self.status is not None:
                control.publish(self._status_topic, self._status_payload(), retain=True)
            await asyncio.sleep(2.0)


class StopRequestedError(Exception):
    """Raised inside the task group when the process is asked to stop."""


async def _until_signal() -> None:
    await stop_event().wait()
    raise StopRequestedError
