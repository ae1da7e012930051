"""``WS /api/v1/live?topics=...``: readings, alerts and command updates as they happen.

``topics`` is a comma-separated list of MQTT filters, e.g.
``v1/acme/plant-01/line-m/#``. Each message is ``{"type", "topic", "data"}``.
"""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from edgetwin.cloud.live import LiveHub

router = APIRouter(tags=["live"])


@router.websocket("/api/v1/live")
async def live(websocket: WebSocket, topics: str = "#") -> None:
    hub: LiveHub = websocket.app.state.live
    await websocket.accept()
    sub = hub.subscribe(t.strip() for t in topics.split(",") if t.strip())
    try:
        while True:
            event = await sub.queue.get()
            await websocket.send_json(event)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.unsubscribe(sub)
        with contextlib.suppress(RuntimeError):
            await websocket.close()
