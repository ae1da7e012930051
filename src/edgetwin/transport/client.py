"""The MQTT client adapter: paho behind ``async with``, messages handed to an asyncio queue.

Subscriptions are persistent (clean session off) at QoS 1 and acknowledged by the caller only
after it has done what it must (paho's manual ack): the edge's MQTT source acks after the buffer
commit, its control link after the command router remembered the command. A crash in between
makes the broker deliver again instead of losing the message.

While the client cannot connect it says why (a refused password, a certificate not accepted,
nothing listening), each reason once and then at most every 45 s (:mod:`.linklog`); closing
the client (a stop) is not an outage and logs at INFO.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as paho

from edgetwin.core.settings import MqttTarget
from edgetwin.transport.linklog import diagnose, link_report
from edgetwin.transport.mqtt import make_client, refused

log = logging.getLogger("edgetwin.mqtt")

DIAGNOSE_AFTER_S = 3.0  # not connected this long: find out why (paho does not say)
# A session takeover (another client connecting with our client id) shows as a connection the
# broker drops within seconds, again and again: both clients reconnect and throw each other out.
FLAP_CONNECTED_S = 10.0  # a connection dropped sooner than this is a flap
FLAP_WINDOW_S = 60.0
FLAPS_FOR_TAKEOVER = 3


class MqttClient:
    """Delivers ``paho.MQTTMessage`` objects to an asyncio queue; ``ack`` them when done.

    Args:
        target: the broker (host, port, TLS, credentials).
        client_id: stable across restarts: the broker keeps the session's queue under it.
        subscriptions: topic filters, each at QoS 1.
        queue: where messages go (on the event loop that entered the client).
        will: ``(topic, payload)`` published retained by the broker if we vanish.
        persistent: keep the session (and its queued messages) across reconnects and restarts,
            with manual acks; off for a device that only needs what arrives while it is there.
        keepalive_s: a short one finds a black-holed broker connection within ~1.5 times it.
    """

    def __init__(
        self,
        target: MqttTarget,
        client_id: str,
        subscriptions: Sequence[str],
        queue: asyncio.Queue[paho.MQTTMessage],
        will: tuple[str, bytes] | None = None,
        *,
        persistent: bool = True,
        keepalive_s: int = 10,
    ) -> None:
        self.target = target
        self.persistent = persistent
        self.keepalive_s = keepalive_s
        self.client_id = client_id
        self.subscriptions = list(subscriptions)
        self.queue = queue
        self.will = will
        self.connected = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.last_error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: paho.Client | None = None
        self._closing = False
        self._refused = False  # the broker said why it refused the last CONNECT
        self._report = link_report(target)
        self._watch: asyncio.Task[None] | None = None
        self._connected_at = 0.0
        self._flaps: deque[float] = deque()
        self.takeover: str | None = None  # why we think another client uses our client id

    async def __aenter__(self) -> MqttClient:
        self._loop = asyncio.get_running_loop()
        client = make_client(self.target, self.client_id, clean_session=not self.persistent)
        client.manual_ack_set(self.persistent)
        if self.will is not None:
            client.will_set(self.will[0], self.will[1], qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.connect_async(self.target.host, self.target.port, keepalive=self.keepalive_s)
        client.loop_start()
        self._client = client
        self._watch = asyncio.create_task(self._watch_link(), name=f"mqtt-link-{self.client_id}")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        if self._client is not None:
            self._closing = True
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    @property
    def entered(self) -> bool:
        """True between ``__aenter__`` and ``__aexit__`` (publishing is possible)."""
        return self._client is not None

    @property
    def client(self) -> paho.Client:
        if self._client is None:
            raise RuntimeError("the MQTT client is not entered")
        return self._client

    def ack(self, messages: Sequence[paho.MQTTMessage]) -> None:
        client = self.client
        if not self.persistent:
            return  # paho acknowledged them itself
        for msg in messages:
            if msg.qos > 0:
                client.ack(msg.mid, msg.qos)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain)

    async def _watch_link(self) -> None:
        """While not connected, find out why and report it (shared with this process's other
        clients of the same broker)."""
        while True:
            await asyncio.sleep(DIAGNOSE_AFTER_S)
            if self.connected.is_set() and time.monotonic() - self._connected_at > FLAP_WINDOW_S:
                if self.takeover is not None:
                    log.info("client id %r: the connection holds again", self.client_id)
                self._flaps.clear()
                self.takeover = None
            if self.connected.is_set() or self._closing:
                continue
            if self._refused:
                continue  # the broker said why itself, and says it again on each attempt
            reason = await diagnose(self.target)
            if reason is not None and not self.connected.is_set() and not self._closing:
                self.last_error = reason
                self._report.down(reason)

    # -- paho callbacks, on paho's network thread --
    def _on_connect(self, client: paho.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.last_error = refused(self.target, reason)
            self._refused = True
            self._report.down(self.last_error, logging.ERROR)
            return
        self._refused = False
        self._connected_at = time.monotonic()
        client.subscribe([(topic, 1) for topic in self.subscriptions])
        self.last_error = None
        self._report.up()
        log.info(
            "connected to %s:%d (session present: %s), subscribed to %s",
            self.target.host,
            self.target.port,
            flags.session_present,
            ", ".join(self.subscriptions),
        )
        self._call(self.connected.set)

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not self._closing and self._connected_at:
            self._count_flap(time.monotonic())
        if self._closing:  # our own disconnect: expected, not something to act on
            log.info("disconnected from %s:%d", self.target.host, self.target.port)
        elif self.last_error is None:  # a link that was up went down (a refusal said its own)
            self.last_error = f"disconnected from the broker: {reason}"
            self._report.down(f"{self.last_error}; reconnecting")
        self._call(self.connected.clear)

    def _count_flap(self, now: float) -> None:
        if now - self._connected_at >= FLAP_CONNECTED_S:
            return
        self._flaps.append(now)
        while self._flaps and now - self._flaps[0] > FLAP_WINDOW_S:
            self._flaps.popleft()
        if len(self._flaps) >= FLAPS_FOR_TAKEOVER and self.takeover is None:
            self.takeover = (
                f"the broker dropped this connection {len(self._flaps)} times within a minute,"
                f" each within seconds of connecting: another client probably uses the client id"
                f" {self.client_id!r} (a session takeover); give each part its own id (an edge:"
                " EDGETWIN_EDGE_ID)"
            )
            self._report.down(self.takeover, logging.ERROR)

    def _on_subscribe(self, _c: paho.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        if any(code.is_failure for code in codes):
            self.last_error = f"broker refused a subscription: {codes}"
            self._report.down(f"{self.last_error} (check the broker's ACL)", logging.ERROR)
            return
        self._call(self.subscribed.set)

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        self._call(self.queue.put_nowait, msg)

    def _call(self, fn: Any, *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)
