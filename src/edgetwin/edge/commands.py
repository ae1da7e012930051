"""The edge's command router: device commands from the cloud, to the source that owns the device.

A command arrives with QoS 1 on ``v1/{tenant}/{plant}/{line}/{machine}/cmd`` as
``{"id", "name", "args", "expires_at"}``. The router

1. remembers its id in a small SQLite table *before* acting, so a redelivered command (QoS 1
   after a reconnect, or after an edge restart) runs at most once: a known id only gets its
   latest state reported again;
2. reports ``expired`` instead of acting when ``expires_at`` has passed;
3. hands it to the device link that owns the device (a source that can talk back: the serial
   line of the motor; a device that no link owns goes to a ``fallback`` link, the plant's MQTT
   source, which relays it on ``.../cmd/device``) and reports ``delivered``. No protocol is
   special here. The device's acknowledgement then makes it ``succeeded`` or ``failed``; for a
   command whose device type says it ``completes_on = "restarted"`` (a reboot) the ack only
   says it heard, and the restart seen on the line completes it. No answer within the
   command's ``timeout_s`` (default ``ack_timeout_s``) makes it ``failed``.

Progress goes to ``.../cmd/ack`` as ``{"id", "state", "detail", "ts", "edge_id"}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from edgetwin.core.device import CommandSpec, Completion
from edgetwin.core.plugins import DeviceLink
from edgetwin.core.topics import command_result_topic
from edgetwin.sqlite_file import SqliteFile

log = logging.getLogger("edgetwin.edge.commands")

KEEP_IDS: Final = 10_000
KEEP_S: Final = 7 * 24 * 3600.0
TERMINAL: Final = frozenset({"succeeded", "failed", "expired"})


@dataclass
class Pending:
    """A command written to a device, waiting for the device's answer."""

    id: str
    name: str
    line: str
    machine: str
    sent_at: float
    completes_on: Completion = "acknowledged"
    timeout_s: float = 5.0
    acked: bool = False
    delivered: bool = False
    detail: dict[str, Any] = field(default_factory=dict)


Target = Callable[[dict[str, Any]], Awaitable[None]]
CommandSpecOf = Callable[[str], CommandSpec | None]  # command name -> how it completes


class CommandRouter(SqliteFile):
    """Routes device commands to the sources that own the devices; remembers recent command ids
    in its SQLite file so that a redelivered command runs at most once."""

    schema = (
        "CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, state TEXT NOT NULL,"
        " line TEXT NOT NULL, machine TEXT NOT NULL, detail TEXT, at REAL NOT NULL)"
    )

    def __init__(
        self,
        db_path: Path,
        publish: Callable[[str, bytes], None],
        *,
        tenant: str,
        plant: str,
        edge_id: str,
        ack_timeout_s: float = 5.0,
        links: Sequence[DeviceLink] = (),
        owned_only: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(db_path)
        self.publish = publish
        self.tenant, self.plant, self.edge_id = tenant, plant, edge_id
        self.ack_timeout_s = ack_timeout_s
        self.clock = clock
        self.targets: dict[tuple[str, str], tuple[Target, CommandSpecOf | None]] = {}
        self.links = list(links)
        # In a group of edges sharing a plant, every edge sees every command: each acts only on
        # its own devices and stays silent about the others (another edge answers for them).
        self.owned_only = owned_only
        self.pending: dict[str, Pending] = {}
        self.executed = 0
        self.duplicates = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def register(
        self, line: str, machine: str, target: Target, spec_of: CommandSpecOf | None = None
    ) -> None:
        """Route commands for ``line/machine`` to ``target``; ``spec_of(name)`` says how each
        command completes (None: by acknowledgement)."""
        self.targets[(line, machine)] = (target, spec_of)

    def _route(self, line: str, machine: str) -> tuple[Target, CommandSpecOf | None] | None:
        """The device's target: registered, else the link that owns it, else a fallback link."""
        known = self.targets.get((line, machine))
        if known is not None:
            return known
        owner = next((k for k in self.links if k.owns(line, machine)), None)
        if owner is None:
            owner = next((k for k in self.links if getattr(k, "fallback", False)), None)
        if owner is None:
            return None
        link = owner

        async def send(cmd: dict[str, Any]) -> None:
            await link.send(line, machine, cmd)

        return send, lambda name: link.command_spec(line, machine, name)

    def handle(self, line: str, machine: str, payload: bytes) -> None:
        """One command message from the broker; acting is scheduled, remembering is not."""
        try:
            body = orjson.loads(payload)
            cmd_id, name = str(body["id"]), str(body["name"])
            args = body.get("args") or {}
            expires_at = body.get("expires_at")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("bad command on %s/%s: %.200r", line, machine, payload)
            return
        row = self.db.execute("SELECT state, detail FROM seen WHERE id = ?", (cmd_id,)).fetchone()
        if row is not None:
            self.duplicates += 1
            log.info("command %s seen before (%s): not run again", cmd_id, row[0])
            self._report(cmd_id, line, machine, row[0], orjson.loads(row[1] or b"{}"))
            return
        now = self.clock()
        if isinstance(expires_at, int | float) and now > expires_at:
            self._remember(cmd_id, line, machine, "expired", {"reason": "ttl passed"})
            return
        route = self._route(line, machine)
        if route is None and self.owned_only:
            log.debug("command %s for %s/%s: not a device of this edge", cmd_id, line, machine)
            return
        if route is None:
            reason = {"error": f"no device {line}/{machine} on edge {self.edge_id}"}
            self._remember(cmd_id, line, machine, "failed", reason)
            return
        target, spec_of = route
        spec = spec_of(name) if spec_of is not None else None
        self._remember(cmd_id, line, machine, "received", {})  # at most once from here on
        pending = Pending(
            cmd_id,
            name.upper(),
            line,
            machine,
            sent_at=now,
            completes_on=spec.completes_on if spec else "acknowledged",
            timeout_s=spec.timeout_s if spec else self.ack_timeout_s,
        )
        task = asyncio.get_running_loop().create_task(
            self._deliver(target, pending, {"id": cmd_id, "name": name, "args": args})
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, target: Target, pending: Pending, cmd: dict[str, Any]) -> None:
        # Waiting for the answer starts before the write: a fast device (or a busy event loop)
        # can bring the acknowledgement in before the write's own completion is seen.
        pending.sent_at = self.clock()
        self.pending[pending.id] = pending
        try:
            await target(cmd)
        except Exception as exc:  # noqa: BLE001 - any failure of the device link fails the command
            self.pending.pop(pending.id, None)
            self._remember(pending.id, pending.line, pending.machine, "failed", {"error": str(exc)})
            return
        self.executed += 1
        self._delivered(pending)

    def _delivered(self, pending: Pending) -> None:
        """Report ``delivered`` once, before any outcome (the lifecycle never skips it)."""
        if not pending.delivered:
            pending.delivered = True
            self._remember(pending.id, pending.line, pending.machine, "delivered", {})

    def on_device_event(self, line: str, machine: str, event: dict[str, Any]) -> None:
        """An acknowledgement, boot banner or restart from the device completes a command."""
        kind, cmd_id = event.get("type"), event.get("id")
        if kind == "ack" and cmd_id in self.pending:
            pending = self.pending[cmd_id]
            if not event.get("ok", False):
                self._finish(pending, "failed", {"error": event.get("error", "device refused")})
            elif pending.completes_on == "restarted":
                pending.acked = True  # success only once it has really restarted
            else:
                detail = event.get("detail")
                if not isinstance(detail, dict):  # the motor's ack carries its fields inline
                    detail = {k: v for k, v in event.items() if k not in ("type", "ok")}
                self._finish(pending, "succeeded", detail)
        elif kind == "restarted":
            for pending in list(self.pending.values()):
                same = (line, machine) == (pending.line, pending.machine)
                restart = pending.completes_on == "restarted"
                if restart and same and cmd_id in (None, pending.id):
                    detail = {
                        "uptime_before": event.get("uptime_before"),
                        "uptime_after": event.get("uptime"),
                    }
                    self._finish(pending, "succeeded", detail)

    def _finish(
        self, pending: Pending, state: str, detail: dict[str, Any], *, answered: bool = True
    ) -> None:
        if answered:
            self._delivered(pending)  # the device answered: it got the command
        self.pending.pop(pending.id, None)
        self._remember(pending.id, pending.line, pending.machine, state, detail)

    async def run(self) -> None:
        """Fail commands the device never answered; forget ids older than a week."""
        while True:
            now = self.clock()
            for pending in list(self.pending.values()):
                if now - pending.sent_at > pending.timeout_s:
                    what = "restart" if pending.acked else "acknowledgement"
                    error = {"error": f"no {what} from the device"}
                    self._finish(pending, "failed", error, answered=False)
            self.db.execute(
                "DELETE FROM seen WHERE at < ? OR id NOT IN"
                " (SELECT id FROM seen ORDER BY at DESC LIMIT ?)",
                (now - KEEP_S, KEEP_IDS),
            )
            await asyncio.sleep(0.25)

    def _remember(
        self, cmd_id: str, line: str, machine: str, state: str, detail: dict[str, Any]
    ) -> None:
        self.db.execute(
            "INSERT INTO seen (id, state, line, machine, detail, at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET state = excluded.state, detail = excluded.detail",
            (cmd_id, state, line, machine, orjson.dumps(detail).decode(), self.clock()),
        )
        if state != "received":
            self._report(cmd_id, line, machine, state, detail)

    def _report(
        self, cmd_id: str, line: str, machine: str, state: str, detail: dict[str, Any]
    ) -> None:
        if state == "received":
            return  # not yet handed over: the cloud's "sent" already says as much
        log.info("command %s on %s/%s: %s %s", cmd_id, line, machine, state, detail or "")
        payload = {
            "id": cmd_id,
            "state": state,
            "detail": detail,
            "ts": self.clock(),
            "edge_id": self.edge_id,
        }
        self.publish(
            command_result_topic(self.tenant, self.plant, line, machine), orjson.dumps(payload)
        )
