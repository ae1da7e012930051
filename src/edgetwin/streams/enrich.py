"""``edgetwin enrich``: each raw device message, enriched exactly once, on two subjects.

An enricher is a durable pull consumer (``enricher``) of ``iot.raw`` on the ingest stream;
several enrichers share it (JetStream hands each message to one of them). For each message it
adds the device type's metadata, the applications registered for the type, ``enrichment_info``
and ``data_quality`` (the share of the type's expected measurements present and in range), and
publishes the result to ``iot.enriched`` and ``iot.{device_type}.enriched``, each with a message
id derived from the input's (its ``Nats-Msg-Id``, else its stream sequence). It acknowledges the
input only after JetStream acknowledged both publishes. An enricher killed in between leaves the
input unacknowledged: it is delivered again (to it or another), enriched again with the same
ids, and the enriched stream recognises them; so each enriched subject holds every raw message
once. Lookups come from :class:`~edgetwin.streams.registry.RegistryCache`: no network call per
message.

A message that is not JSON, or names no device type, cannot be enriched: it is terminated (never
redelivered), counted and logged at most once a second. A device type that is not a subject
token is enriched onto ``iot.enriched`` only.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import nats.errors
import orjson
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError

from edgetwin.edge.rejects import Rejects
from edgetwin.streams.registry import RegistryCache
from edgetwin.streams.subjects import (
    ENRICHED,
    ENRICHER_DURABLE,
    INGEST_STREAM,
    RAW,
    TOKEN,
    enriched_ids,
    type_subject,
)

log = logging.getLogger("edgetwin.enrich")

SERVICE: Final = "edgetwin-enrich"
VERSION: Final = "1.0.0"
ACK_WAIT_S: Final = 30.0


class NotEnrichableError(ValueError):
    """A message that cannot be enriched (not JSON, no device type)."""


def quality(measurements: Any, expected: Mapping[str, Any]) -> dict[str, Any] | None:
    """The data-quality score: the share of ``expected`` paths (``{"voltage.phase_a":
    [min, max]}``) present in ``measurements`` as finite numbers within their range (a bound
    that is None is open). None when the type expects nothing."""
    if not expected:
        return None
    present = in_range = 0
    for path, bounds in expected.items():
        node: Any = measurements
        for key in path.split("."):
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, bool):
            node = int(node)  # a flag (arc fault detected) is a 0/1 measurement
        if not isinstance(node, int | float) or not math.isfinite(node):
            continue
        present += 1
        lo, hi = (bounds or [None, None])[:2]
        if (lo is None or node >= lo) and (hi is None or node <= hi):
            in_range += 1
    n = len(expected)
    return {
        "score": round(in_range / n, 4),
        "expected": n,
        "present": present,
        "in_range": in_range,
    }


def enrich(
    raw: bytes, source_id: str, cache: RegistryCache, now: datetime
) -> tuple[str, dict[str, Any]]:
    """``(device type, enriched message)`` of one raw message.

    Raises:
        NotEnrichableError: not a JSON object, or no ``device_type``.
    """
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise NotEnrichableError(f"not JSON: {exc}") from exc
    if not isinstance(msg, dict):
        raise NotEnrichableError("a message is a JSON object")
    dtype = msg.get("device_type")
    if not isinstance(dtype, str) or not dtype:
        raise NotEnrichableError("the message names no device_type")
    meta = cache.device_types.get(dtype)
    apps = cache.apps_for(dtype)
    public_meta = (
        {k: v for k, v in meta.items() if k != "expected"}
        if meta is not None
        else {"device_type": dtype, "known": False}
    )
    out = {
        "device_id": msg.get("device_id"),
        "device_type": dtype,
        "timestamp": msg.get("timestamp"),
        "event_type": msg.get("event_type"),
        "device_metadata": public_meta,
        "application_registry": {
            "device_type": dtype,
            "registered_applications_count": len(apps),
            "applications": apps,
        },
        "enrichment_info": {
            "enriched_at": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "enrichment_service": SERVICE,
            "enrichment_version": VERSION,
            "device_type_detected": dtype,
            "device_type_known": meta is not None,
            "app_registry_integration": True,
            "registry_revision": cache.revision,
            "source_message_id": source_id,
        },
        "data_quality": quality(msg.get("measurements"), (meta or {}).get("expected") or {}),
        "measurements": msg.get("measurements"),
    }
    return dtype, out


class Enricher:
    """One enricher process's loop; see the module's docstring."""

    def __init__(self, js: JetStreamContext, cache: RegistryCache, *, batch: int = 100) -> None:
        self.js = js
        self.cache = cache
        self.batch = batch
        self.rejected = Rejects(log, "message not enriched")
        self.enriched = 0
        self.failed = 0

    async def subscribe(self) -> Any:
        config = ConsumerConfig(
            durable_name=ENRICHER_DURABLE,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=ACK_WAIT_S,
            max_ack_pending=10_000,
            filter_subject=RAW,
        )
        return await self.js.pull_subscribe(
            RAW, durable=ENRICHER_DURABLE, stream=INGEST_STREAM, config=config
        )

    async def run(self) -> None:
        """Fetch, enrich, publish and acknowledge until cancelled."""
        sub = await self.subscribe()
        while True:
            try:
                msgs = await sub.fetch(self.batch, timeout=1.0)
            except (nats.errors.TimeoutError, TimeoutError):  # nothing to take within 1 s
                continue
            except (nats.errors.Error, APIError) as exc:
                log.warning("fetch: %s: %s", type(exc).__name__, exc)
                await asyncio.sleep(0.5)
                continue
            await self.handle(msgs)

    async def handle(self, msgs: list[Any]) -> None:
        """Enrich a fetched batch; each input is acknowledged once both its copies are stored."""
        now = datetime.now(UTC)
        jobs = []
        for m in msgs:
            source_id = (m.headers or {}).get("Nats-Msg-Id") or f"seq-{m.metadata.sequence.stream}"
            try:
                dtype, out = enrich(m.data, source_id, self.cache, now)
            except NotEnrichableError as exc:
                self.rejected.add("not_enrichable", f"{source_id}: {exc}")
                await m.term()
                continue
            jobs.append(self._one(m, source_id, dtype, orjson.dumps(out)))
        for result in await asyncio.gather(*jobs, return_exceptions=True):
            if isinstance(result, BaseException):
                self.failed += 1
                log.warning("enriched copy not stored (%s): the input comes again", result)

    async def _one(self, m: Any, source_id: str, dtype: str, body: bytes) -> None:
        general, typed = enriched_ids(source_id)
        pubs = [self.js.publish(ENRICHED, body, headers={"Nats-Msg-Id": general})]
        if TOKEN.match(dtype):
            pubs.append(self.js.publish(type_subject(dtype), body, headers={"Nats-Msg-Id": typed}))
        try:
            await asyncio.gather(*pubs)
        except Exception:
            await m.nak(delay=1.0)
            raise
        await m.ack()
        self.enriched += 1


async def serve(settings: Any, *, batch: int = 100) -> None:
    """``edgetwin enrich``: connect, declare the streams, seed and follow the registry, enrich
    until cancelled. Raises what the first connection raises (no server answers)."""
    from edgetwin.packs import load_pack
    from edgetwin.streams.registry import load_and_follow, seed
    from edgetwin.streams.setup import connect, ensure_registry, ensure_streams

    nc = await connect(settings, "enricher")
    try:
        js = nc.jetstream(timeout=5.0)
        await ensure_streams(js, settings)
        kv = await ensure_registry(js)
        types = [dt for name in settings.packs for dt in load_pack(name).device_types]
        await seed(kv, types)
        cache, ready = RegistryCache(), asyncio.Event()
        enricher = Enricher(js, cache, batch=batch)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(load_and_follow(kv, cache, ready), name="registry")
            await ready.wait()
            log.info(
                "enriching iot.raw: %d device types, %d applications in the registry",
                len(cache.device_types), len(cache.apps),
            )  # fmt: skip
            tg.create_task(enricher.run(), name="enrich")
            tg.create_task(_report(enricher), name="report")
    finally:
        await nc.close()


async def _report(enricher: Enricher) -> None:
    last = -1
    while True:
        await asyncio.sleep(30.0)
        if enricher.enriched != last:
            last = enricher.enriched
            log.info("enriched %d, not enrichable %s, retried %d", last,
                     dict(enricher.rejected), enricher.failed)  # fmt: skip
