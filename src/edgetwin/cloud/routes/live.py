"""``WS /api/v1/live?topics=...``: readings, alerts and command updates as they happen.

``topics`` is a comma-separated list of MQTT filters (``+`` one segment, ``#`` the rest), e.g.
``v1/acme/plant-01/line-m/#``; without it, everything. The server only sends; each message is a
JSON object ``{"type", "topic", "data"}``, one of (:mod:`edgetwin.cloud.schemas.live`):

- ``{"type": "reading", "topic": "v1/{tenant}/{plant}/{line}/{machine}/{metric}",
  "data": {<the Reading: ts, id, tenant, plant, line, machine, metric, value, unit, q>,
  "historical": bool}}``
- ``{"type": "alert", "topic": "v1/{tenant}/{plant}/alert/{kind}",
  "data": {"kind", "message", "since", "active", "cleared"}}``
- ``{"type": "command", "topic": "v1/{tenant}/{plant}/{line}/{machine}/cmd/{id}",
  "data": <the command, as GET .../commands/{id} answers it>}``

A client that reads too slowly loses its oldest messages (the server keeps 2000 per client);
ingest never waits for it.
"""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from edgetwin.cloud.live import LiveHub

router = APIRouter(tags=["live"])


@router.websocket("/api/v1/live")
async def live(websocket: WebSocket, topics: str = "#") -> None:
    hub: LiveHub = websocket.app.state.live
    # subscribed before the client hears it is connected: nothing it causes after that is missed
    sub = hub.subscribe(t.strip() for t in topics.split(",") if t.strip())
    try:
        await websocket.accept()
        while True:
            event = await sub.queue.get()
            await websocket.send_json(event)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.unsubscribe(sub)
        with contextlib.suppress(RuntimeError):
            await websocket.close()
