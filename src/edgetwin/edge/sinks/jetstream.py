"""The ``jetstream`` sink: the buffer's messages and readings into NATS JetStream, exactly once.

Like the cloud's uplink it is a cursor over its own outbox: a batch leaves the outbox only after
JetStream acknowledged every publish of it (the PubAck: the stream stored it). Each publish
carries ``Nats-Msg-Id``, the reading's id or the kept message's (derived from the device's
message, never drawn), so a resend after an unanswered publish is recognised by the stream as a
duplicate and stored once. JetStream recognises ids only within the stream's duplicate window;
the ingest stream's window is the edge buffer's maximum age (:mod:`edgetwin.streams.setup`), the
longest a reading can wait here, so no resend can come after it (docs/grid.md).

What it publishes:

- the messages a source kept unchanged (:mod:`edgetwin.streams.kept`): a reading of the metric
  ``message_metric`` is the marker of one; the message goes to its own subject (``iot.raw``...)
  under the marker's id, and is forgotten once acknowledged (a marker that comes again finds no
  message: it was published, and counts as a duplicate);
- with ``readings_subject``, every reading as its wire JSON on that subject, under its own id.

Readings that are neither are not this sink's business: they pass (the cloud's sink has them).
When JetStream cannot be reached or does not answer in time the batch waits in the outbox
(:class:`SinkRetryableError`); the sink is ``remote``, so a ``network_outage`` holds it too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Annotated, Any, Self

import nats
import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import APIError
from pydantic import BaseModel, ConfigDict, Field

from edgetwin.core.errors import SinkRetryableError, WireFormatError
from edgetwin.core.ids import Segment
from edgetwin.core.plugins import BatchInfo, PluginContext, WriteResult
from edgetwin.core.point import parse_point
from edgetwin.streams.kept import KeptMessages, kept_path

log = logging.getLogger("edgetwin.edge.jetstream")


class JetStreamSinkConfig(BaseModel):
    """``[[sinks]] type = "jetstream"``.

    Attributes:
        url: the NATS server(s), comma-separated; default: the settings' (``--nats-url``, else
            the embedded server).
        message_metric: readings of this metric mark kept messages (see the module's docstring).
        readings_subject: publish every reading here too (off by default).
        timeout_s: how long a publish may wait for JetStream's acknowledgement.
        declare_streams: create or update the streams at connect (off for a server whose
            streams are someone else's to configure).
    """

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    message_metric: Segment | None = None
    readings_subject: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")] | None = None  # fmt: skip
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    declare_streams: bool = True


class JetStreamSink:
    """See the module's docstring."""

    remote = True

    def __init__(self, name: str, config: JetStreamSinkConfig, ctx: PluginContext) -> None:
        self.name = name
        self.config = config
        self.settings = ctx.settings
        self.kept = KeptMessages(kept_path(ctx.data_dir))
        self.max_age_s = float(getattr(ctx.settings, "buffer_max_age_s", 7 * 86400.0))
        self._marker = (
            None
            if config.message_metric is None
            else f'"metric":"{config.message_metric}"'.encode()
        )
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self._connecting = asyncio.Lock()
        self.counts = {"published": 0, "duplicates": 0, "refused": 0}
        self.last_error: str | None = None

    @classmethod
    def from_config(
        cls, name: str, config: JetStreamSinkConfig, ctx: PluginContext
    ) -> JetStreamSink:
        return cls(name, config, ctx)

    async def __aenter__(self) -> Self:
        self.kept.open()
        pruned = self.kept.prune(self.max_age_s)
        if pruned:
            log.warning(
                "%s: %d kept messages older than the buffer's age forgotten", self.name, pruned
            )
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self.nc is not None:
            await self.nc.close()
            self.nc = self.js = None
        self.kept.close()

    async def _jetstream(self) -> JetStreamContext:
        async with self._connecting:
            if self.js is not None and self.nc is not None and not self.nc.is_closed:
                return self.js
            from edgetwin.streams.setup import connect, ensure_streams

            options: dict[str, Any] = {}
            if self.config.url:
                options["servers"] = [u.strip() for u in self.config.url.split(",")]
            try:
                if options:
                    self.nc = await nats.connect(
                        **options, name=f"edge-{self.name}", max_reconnect_attempts=-1,
                        reconnect_time_wait=0.5, connect_timeout=3,
                    )  # fmt: skip
                else:
                    self.nc = await connect(self.settings, f"edge-{self.name}")
                self.js = self.nc.jetstream(timeout=self.config.timeout_s)
                if self.config.declare_streams:
                    await ensure_streams(self.js, self.settings)
            except (OSError, nats.errors.Error, APIError, TimeoutError) as exc:
                await self._drop()
                raise self._retry(f"NATS unreachable: {type(exc).__name__}: {exc}") from exc
            self.last_error = None
            return self.js

    async def _drop(self) -> None:
        if self.nc is not None:
            nc, self.nc, self.js = self.nc, None, None
            try:
                await nc.close()
            except Exception:
                log.debug("closing a broken NATS connection", exc_info=True)

    def _retry(self, message: str) -> SinkRetryableError:
        self.last_error = message
        return SinkRetryableError(message)

    async def write(self, payloads: Sequence[bytes], info: BatchInfo) -> WriteResult:
        """Raises:
        SinkRetryableError: JetStream did not acknowledge every publish of the batch."""
        refused: dict[int, str] = {}
        markers: list[str] = []
        pubs: list[tuple[str, bytes, str]] = []  # (subject, body, message id)
        for i, payload in enumerate(payloads):
            wanted = self._marker is not None and self._marker in payload
            if not wanted and self.config.readings_subject is None:
                continue
            try:
                point = parse_point(payload)
            except WireFormatError as exc:
                refused[i] = f"not a reading: {exc}"
                continue
            if wanted and point.metric == self.config.message_metric:
                markers.append(str(point.id))
            if self.config.readings_subject is not None:
                pubs.append((self.config.readings_subject, payload, str(point.id)))
        kept = self.kept.get(markers) if markers else {}
        pubs += [(subject, body, mid) for mid, (subject, body) in kept.items()]
        gone = len(markers) - len(kept)  # published before; their acknowledgement was lost
        if not pubs:
            self.counts["duplicates"] += gone
            return WriteResult(refused=refused, duplicate=gone)
        js = await self._jetstream()
        try:
            acks = await asyncio.gather(
                *(js.publish(s, b, headers={"Nats-Msg-Id": mid}) for s, b, mid in pubs)
            )
        except (OSError, nats.errors.Error, APIError, TimeoutError) as exc:
            if self.nc is not None and self.nc.is_closed:
                await self._drop()
            raise self._retry(
                f"JetStream did not acknowledge: {type(exc).__name__}: {exc}"
            ) from exc
        if kept:
            self.kept.done(list(kept))
        new = sum(1 for a in acks if not a.duplicate)
        dups = len(acks) - new + gone
        self.counts["published"] += new
        self.counts["duplicates"] += dups
        self.counts["refused"] += len(refused)
        return WriteResult(refused=refused, accepted=new, duplicate=dups)

    def stats(self) -> dict[str, Any]:
        return {
            "type": "jetstream",
            "connected": self.nc is not None and self.nc.is_connected,
            **self.counts,
            "error": self.last_error,
        }
