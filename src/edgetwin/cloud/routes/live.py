"""``WS /api/v1/live?topics=...``: readings, alerts and command updates as they happen.

Nothing is anonymous: the caller proves who it is with ``?token=<token>``, an
``Authorization: Bearer <token>`` header, or the dashboard's session cookie (a browser's
WebSocket cannot set headers); without a valid one, and for an edge's credential (ingest only),
the socket is accepted and closed at once with code 1008 and the reason. Every message is of the
caller's tenants (the topic's second level, ``v1/{tenant}/...``); an application's key also gets
only readings and commands of devices of its device types (a device whose type cannot be known
yet is left out) and no alerts (an edge is no device type).

``topics`` is a comma-separated list of MQTT filters (``+`` one segment, ``#`` the rest), e.g.
``v1/acme/plant-01/line-m/#``; without it, everything the caller may see. Each level is a name
(the one rule of :mod:`edgetwin.core.ids`), ``+`` or a last ``#``; any other filter closes the
socket with 1008. Every ``RECHECK_S`` seconds the stream checks its credentials again: a revoked
token or an ended session closes it with 1008. The server only sends; each message is a JSON
object ``{"type", "topic", "data"}``, one of (:mod:`edgetwin.cloud.schemas.live`):

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
import time
from typing import Any, Final

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from edgetwin.cloud.deps import authenticate_ws
from edgetwin.cloud.live import DeviceTypes, LiveHub
from edgetwin.core.ids import valid_segment
from edgetwin.core.security import Caller, CallerKind

router = APIRouter(tags=["live"])

RECHECK_S: Final = 30.0  # how often an open stream checks its credentials again
REVOKED: Final = "the credentials were revoked or have expired"


@router.websocket("/api/v1/live")
async def live(websocket: WebSocket, topics: str = "#") -> None:
    hub: LiveHub = websocket.app.state.live
    filters = [t.strip() for t in topics.split(",") if t.strip()]
    bad = next((f for f in filters if not valid_filter(f)), None)
    if bad is not None:  # the one name rule, at this entrance too
        await websocket.close(code=1008, reason=f"not a topic filter of names: {bad[:80]!r}")
        return
    caller = authenticate_ws(websocket)
    refused = _refusal(caller)
    if refused is not None or caller is None:
        # accepted first: a client sees the code and the reason, not just a failed upgrade
        await websocket.accept()
        await websocket.close(code=1008, reason=refused or "credentials needed")
        return
    types = DeviceTypes(websocket.app.state.services.devices) if caller.device_types else None
    # subscribed before the client hears it is connected: nothing it causes after that is missed
    sub = hub.subscribe(filters, caller.may_see)
    try:
        await websocket.accept()
        # The client sends nothing, but its close arrives as a message: waiting for it beside the
        # queue ends the subscription at once, even on a topic where nothing flows.
        closed = asyncio.create_task(_closed(websocket), name="live-close-watch")
        event: asyncio.Task[dict[str, Any]] | None = None
        recheck = time.monotonic() + RECHECK_S
        try:
            while True:
                event = event or asyncio.create_task(sub.queue.get())
                done, _ = await asyncio.wait(
                    {event, closed}, timeout=RECHECK_S, return_when=asyncio.FIRST_COMPLETED
                )
                if closed in done:
                    return
                if time.monotonic() >= recheck:  # a revoked token or ended session stops here
                    recheck = time.monotonic() + RECHECK_S
                    if authenticate_ws(websocket) is None:
                        await websocket.close(code=1008, reason=REVOKED)
                        return
                if event not in done:
                    continue
                message, event = event.result(), None
                if types is not None and not await _of_its_types(caller, types, message):
                    continue
                await websocket.send_text(orjson.dumps(message).decode())
        finally:
            closed.cancel()
            if event is not None:
                event.cancel()
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        hub.unsubscribe(sub)
        with contextlib.suppress(RuntimeError):
            await websocket.close()


def _refusal(caller: Caller | None) -> str | None:
    """Why ``caller`` may not follow the stream; None when it may."""
    if caller is None:
        return (
            "credentials needed: ?token=<token> or Authorization: Bearer <token>"
            " (edgetwin token create), or log in on the dashboard"
        )
    if caller.kind == CallerKind.EDGE:
        return "an edge's credential is for ingest only"
    return None


async def _of_its_types(caller: Caller, types: DeviceTypes, message: dict[str, Any]) -> bool:
    """Whether an application's key gets ``message``: a reading or command of a device of its
    device types; never an alert."""
    if message["type"] == "alert":
        return False
    return caller.may_see_type(await types.of(message["topic"]))


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
