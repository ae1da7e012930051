"""Live fan-out: readings, alerts and command updates to WebSocket clients and dashboard pages.

Every event has an MQTT-style topic (a reading: its reading topic; a command:
``v1/{tenant}/{plant}/{line}/{machine}/cmd/{id}``; an alert: ``v1/{tenant}/{plant}/alert/{kind}``)
and subscribers filter with MQTT wildcards (``+`` one segment, ``#`` the rest). The topic's second
level is its tenant: a subscriber may also be held to the tenants it may see, so another
tenant's events never enter its queue. Each subscriber has a bounded queue: a slow client loses
its oldest events (counted), never slows ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from edgetwin.core.errors import EdgetwinError

MAX_QUEUE = 2000
TYPES_TTL_S: Final = 30.0  # how long a plant's device types are trusted before asking again
TYPES_MISS_TTL_S: Final = 5.0  # after a device was not found: its first readings are being stored


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT filter matching: ``v1/acme/+/line-m/#`` matches ``v1/acme/plant-01/line-m/x/y``."""
    pat, top = pattern.split("/"), topic.split("/")
    for i, seg in enumerate(pat):
        if seg == "#":
            return True
        if i >= len(top) or (seg != "+" and seg != top[i]):
            return False
    return len(pat) == len(top)


def topic_tenant(topic: str) -> str:
    """The tenant of an event's topic (its second level: ``v1/{tenant}/...``); "" if none."""
    parts = topic.split("/", 2)
    return parts[1] if len(parts) > 1 else ""


@dataclass(eq=False)
class Subscription:
    """One subscriber's filters and queue. ``sees`` (a tenant -> bool test, e.g.
    :meth:`edgetwin.core.security.Caller.may_see`) holds it to its tenants; None: every tenant
    (the dashboard's pages, which choose their topics themselves)."""

    patterns: list[str]
    sees: Callable[[str], bool] | None = None
    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=MAX_QUEUE)
    )
    lost: int = 0

    def wants(self, topic: str) -> bool:
        if self.sees is not None and not self.sees(topic_tenant(topic)):
            return False
        return any(topic_matches(p, topic) for p in self.patterns)


class LiveHub:
    """In-process fan-out. ``publish`` never blocks; call it on the event loop's thread."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self.published = 0

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def subscribe(
        self, patterns: Iterable[str], sees: Callable[[str], bool] | None = None
    ) -> Subscription:
        """A new subscription to ``patterns`` (none: every topic), of the tenants ``sees`` lets
        through (None: all)."""
        sub = Subscription(list(patterns) or ["#"], sees)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(self, kind: str, topic: str, data: dict[str, Any]) -> None:
        if not self._subs:
            return
        self.published += 1
        event = {"type": kind, "topic": topic, "data": data}
        for sub in list(self._subs):
            if not sub.wants(topic):
                continue
            if sub.queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    sub.queue.get_nowait()
                sub.lost += 1
            sub.queue.put_nowait(event)


DevicesOf = Callable[[str, str], Awaitable[list[dict[str, Any]]]]


class DeviceTypes:
    """The device type of each device an event names, for holding an application's key to its
    device types (:meth:`edgetwin.core.security.Caller.may_see_type`).

    ``devices`` is :meth:`edgetwin.cloud.services.Services.devices` (each device with its
    ``line``, ``machine`` and ``device_type``); a plant's answer is kept ``TYPES_TTL_S`` seconds,
    and a device it did not name is asked again at most every ``TYPES_MISS_TTL_S`` seconds. A
    device whose type cannot be known (not stored yet, the store down, no type declares its
    metrics) has type None.
    """

    def __init__(self, devices: DevicesOf, clock: Callable[[], float] = time.monotonic) -> None:
        self._devices = devices
        self._clock = clock
        self._plants: dict[tuple[str, str], tuple[float, dict[tuple[str, str], str | None]]] = {}

    async def of(self, topic: str) -> str | None:
        """The type of the device of a reading or command topic
        (``v1/{tenant}/{plant}/{line}/{machine}/...``); None for any other topic."""
        parts = topic.split("/")
        if len(parts) < 6:  # an alert's topic names no device
            return None
        tenant, plant, line, machine = parts[1:5]
        now = self._clock()
        cached = self._plants.get((tenant, plant))
        if cached is not None:
            fetched, types = cached
            known = (line, machine) in types
            if now - fetched < (TYPES_TTL_S if known else TYPES_MISS_TTL_S):
                return types.get((line, machine))
        try:
            found = await self._devices(tenant, plant)
        except EdgetwinError:
            found = []
        types = {(str(d["line"]), str(d["machine"])): d.get("device_type") for d in found}
        self._plants[(tenant, plant)] = (now, types)
        return types.get((line, machine))


def wire_live(hub: LiveHub, services: Any, link: Any, commands: Any) -> None:
    """Connect the hub to its producers: ingest (readings), edge statuses (alerts) and the
    edges' command reports (which the command service turns into lifecycle events)."""
    from pydantic import ValidationError

    from edgetwin.cloud.schemas.edges import AlertPublic
    from edgetwin.core.status import Alert
    from edgetwin.core.topics import reading_topic

    def readings(points: Any, historical: bool) -> None:
        if not hub.subscribers:
            return
        for p in points:
            topic = reading_topic(p.tenant, p.plant, p.line, p.machine, p.metric)
            hub.publish("reading", topic, {**p.to_wire(), "historical": historical})

    seen: dict[tuple[str, str], tuple[Any, ...]] = {}

    def statuses(topic: str, status: dict[str, Any]) -> None:
        prefix = topic.rsplit("/status/", 1)[0]
        for alert in status.get("alerts", []) or []:
            if not isinstance(alert, dict) or "kind" not in alert:
                continue
            key = (topic, str(alert["kind"]))
            sig = (alert.get("active"), alert.get("since"), alert.get("message"))
            if seen.get(key) == sig:
                continue
            try:  # times in ISO 8601 UTC, as everywhere in the API
                public = AlertPublic.of(Alert.model_validate(alert)).model_dump()
            except (ValidationError, ValueError, OverflowError, OSError) as exc:
                services.loops.failed("live-fanout", f"alert {str(alert['kind'])[:64]!r}", exc)
                continue
            seen[key] = sig
            hub.publish("alert", f"{prefix}/alert/{alert['kind']}", public)

    services.on_ingest.append(readings)
    link.on_status = statuses
    link.on_command_report = commands.apply_report


_dashboard: dict[str, Any] = {}


def bind_dashboard(hub: LiveHub, commands: Any) -> None:
    """Give the dashboard pages (served by NiceGUI's own sub-app, whose ``request.app`` is not
    ours) the live hub and the command service of the cloud app they are mounted on."""
    _dashboard.update(hub=hub, commands=commands)


def dashboard_services() -> tuple[LiveHub, Any]:
    if not _dashboard:
        raise RuntimeError("the dashboard is not mounted")
    return _dashboard["hub"], _dashboard["commands"]
