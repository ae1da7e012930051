"""Connecting to the stream backbone and declaring its streams (idempotent, at each start).

Both streams use file storage and the retention of the setting ``nats_retention``: ``limits``
(kept until ``nats_max_age_s[stream]``, whether consumed or not) or ``workqueue`` (a message
leaves once a consumer acknowledged it). Interest retention is never used: it deletes a message
that no consumer has taken when none is listening. The ingest stream's duplicate window is the
setting ``nats_duplicate_window_s``, by default the edge buffer's maximum age: the edge never
resends a message older than that (its buffer no longer holds it), so every resend of an
acknowledged-but-unanswered publish falls inside the window (docs/grid.md).
"""

from __future__ import annotations

import logging
from typing import Any, Final

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from edgetwin.core.settings import Settings
from edgetwin.streams.server import servers
from edgetwin.streams.subjects import (
    ENRICHED_STREAM,
    INGEST_STREAM,
    REGISTRY_BUCKET,
    STREAM_SUBJECTS,
)

log = logging.getLogger("edgetwin.streams")

DEFAULT_MAX_AGE_S: Final = {INGEST_STREAM: 7 * 86400.0, ENRICHED_STREAM: 30 * 86400.0}


async def connect(settings: Settings, name: str, **options: Any) -> Client:
    """A connection that reconnects for ever (``name`` shows in the server's monitoring).

    Raises:
        nats.errors.NoServersError: no server answered the first time.
    """

    async def error(exc: Exception) -> None:
        log.warning("%s: NATS: %s", name, exc)

    params: dict[str, Any] = {
        "servers": servers(settings),
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 5,
        "allow_reconnect": True,
        "error_cb": error,
    }
    return await nats.connect(**(params | options))


def duplicate_window_s(settings: Settings) -> float:
    """The ingest stream's duplicate window: the setting, else the buffer's maximum age."""
    return settings.nats_duplicate_window_s or settings.buffer_max_age_s


def stream_configs(settings: Settings) -> list[StreamConfig]:
    """The two streams, as configured (see the module's docstring)."""
    retention = RetentionPolicy(settings.nats_retention)
    out = []
    for name, subjects in STREAM_SUBJECTS.items():
        age = settings.nats_max_age_s.get(name, DEFAULT_MAX_AGE_S[name])
        # the enriched copies' ids repeat only when an input is delivered again, which can
        # happen as long as the input is in the ingest stream: the same window serves both
        window = duplicate_window_s(settings)
        out.append(
            StreamConfig(
                name=name,
                subjects=list(subjects),
                retention=retention,
                storage=StorageType.FILE,
                discard=DiscardPolicy.OLD,
                max_age=age,
                duplicate_window=min(window, age),
                num_replicas=1,
            )
        )
    return out


async def ensure_streams(js: JetStreamContext, settings: Settings) -> None:
    """Create the streams, or bring an existing one's settings up to date."""
    for config in stream_configs(settings):
        try:
            await js.stream_info(config.name or "")
        except NotFoundError:
            await js.add_stream(config)
            log.info("stream %s created: %s", config.name, ", ".join(config.subjects or []))
            continue
        await js.update_stream(config)


async def ensure_registry(js: JetStreamContext) -> Any:
    """The registry's key-value bucket (every revision's latest value only)."""
    try:
        return await js.key_value(REGISTRY_BUCKET)
    except Exception:  # noqa: BLE001 - nats-py raises several kinds for a missing bucket
        from nats.js.api import KeyValueConfig

        return await js.create_key_value(KeyValueConfig(bucket=REGISTRY_BUCKET, history=1))
