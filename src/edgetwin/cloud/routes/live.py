"""``WS /api/v1/live?topics=...``: readings, alerts and command updates as they happen.

``topics`` is a comma-separated list of MQTT filters (``+`` one segment, ``#`` the rest), e.g.
``v1/acme/plant-01/line-m/#``; without it, everything. Each level is a name (the one rule of
:mod:`edgetwin.core.ids`), ``+`` or a last ``#``; any other filter closes the socket with 1008. The server only sends; each message is a
JSON object ``{"type", "topic", "data"}``, one of (:mod:`edgetwin.cloud.schemas.live`):

- ``{"type": "reading", "topic": "v1/{tenant}/{plant}/{line}/{machine}/{metric}",
  "data": {<the Reading: ts, id, tenant, plant, line, machine, metric, value, unit, q>,
  "historical": bool}}``
- ``{"type": "alert", "topic": "v1/{tenant}/{plant}/alert/{kind}",
  "data": {"kind", "message", "since", "active", "cleared"}}`` (times in ISO 8601 UTC)
- ``{"type": "command", "topic": "v1/{tenant}/{plant}/{line}/{machine}/cmd/{id}",
  "data": <the command, as GET .../commands/{id} answers it>}``

A client that reads too slowly loses its oldest messages (the server keeps 2000 per client);
ingest never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from edgetwin.cloud.live import LiveHub
from edgetwin.core.ids import valid_segment

router = APIRouter(tags=["live"])


@router.websocket("/api/v1/live")
async def live(websocket: WebSocket, topics: str = "#") -> None:
    hub: LiveHub = websocket.app.state.live
    filters = [t.strip() for t in topics.split(",") if t.strip()]
    bad = next((f for f in filters if not valid_filter(f)), None)
    if bad is not None:  # the one name rule, at this entrance too
        await websocket.close(code=1008, reason=f"not a topic filter of names: {bad[:80]!r}")
        return
    # subscribed before the client hears it is connected: nothing it causes after that is missed
    sub = hub.subscribe(filters)
    try:
        await websocket.accept()
        # The client sends nothing, but its close arrives as a message: waiting for it beside the
        # queue ends the subscription at once, even on a topic where nothing flows.
        closed = asyncio.create_task(_closed(websocket), name="live-close-watch")
        try:
            while True:
                event = asyncio.create_task(sub.queue.get())
                done, _ = await asyncio.wait({event, closed}, return_when=asyncio.FIRST_COMPLETED)
                if closed in done:
                    event.cancel()
                    return
                await websocket.send_text(orjson.dumps(event.result()).decode())
        finally:
            closed.cancel()
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        hub.unsubscribe(sub)
        with contextlib.suppress(RuntimeError):
            await websocket.close()


def valid_filter(topic_filter: str) -> bool:
    """An MQTT filter whose levels are names (:mod:`edgetwin.core.ids`), ``+``, or a last ``#``."""
    levels = topic_filter.split("/")
    return all(
        valid_segment(level) or level == "+" or (level == "#" and i == len(levels) - 1)
        for i, level in enumerate(levels)
    )


async def _closed(websocket: WebSocket) -> None:
    """Return when the client closed the socket (anything else it sends is ignored)."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
