"""The command service: creates commands, dispatches them over MQTT, applies the edges'
progress reports, expires what outlived its ttl, and streams every change live.

``queued``: accepted and logged. ``sent``: the plant broker acknowledged the QoS 1 publish
(PUBACK), so it holds the command even while the edge is offline. ``delivered``: the edge wrote
it to the device. ``succeeded``/``failed``: the device's answer (for a reboot, the boot banner
and a restarted uptime); ``expired``: the ttl passed first (:mod:`.lifecycle`).

While the log (:mod:`.log`) is unavailable, creating or reading a command raises
:class:`StoreUnavailableError` (the API answers 503); the dispatcher and the edges' reports wait
for the database and carry on when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import deque
from collections.abc import Callable
from typing import Any, Final

import psycopg

from edgetwin.cloud.commands.lifecycle import ORDER, Target
from edgetwin.cloud.commands.log import CommandLog
from edgetwin.cloud.commands.rows import command_view
from edgetwin.cloud.live import LiveHub
from edgetwin.cloud.loops import Loops
from edgetwin.core.errors import StoreUnavailableError
from edgetwin.core.topics import command_topic

log = logging.getLogger("edgetwin.cloud.commands")

REPUBLISH_S: Final = 5.0
MAX_WAITING_REPORTS: Final = 10_000  # edges' reports kept while the log is unavailable


class CommandService:
    """Creates commands, publishes queued ones while the plant broker is reachable, applies the
    edge's progress reports, expires what outlived its ttl, and streams every change live."""

    def __init__(
        self,
        log_: CommandLog,
        publish: Callable[[str, dict[str, Any]], Any],
        hub: LiveHub,
        connected: Callable[[], bool],
        *,
        loops: Loops | None = None,
    ) -> None:
        self.log = log_
        self.loops = loops or Loops()
        self.publish = publish
        self.hub = hub
        self.connected = connected
        # command id -> (paho MQTTMessageInfo awaiting its PUBACK, when published)
        self._inflight: dict[str, tuple[Any, float]] = {}
        self._reports: deque[dict[str, Any]] = deque()
        self.wake = asyncio.Event()

    def create(
        self, target: Target, name: str, args: dict[str, Any], ttl_s: float,
        idempotency_key: str | None, requested_by: str,
    ) -> tuple[dict[str, Any], bool]:  # fmt: skip
        cmd, existing = self.log.create(target, name, args, ttl_s, idempotency_key, requested_by)
        if not existing:
            log.info("command %s %s for %s/%s by %s", cmd["id"], name, target.line,
                     target.machine, requested_by)  # fmt: skip
            self._stream(cmd)
            self.wake.set()
        return cmd, existing

    def apply_report(self, report: dict[str, Any]) -> None:
        """A progress report from an edge (``.../cmd/ack``). While the log is unavailable it
        waits, in order with the others, and the dispatcher applies it once the log is back."""
        if len(self._reports) == MAX_WAITING_REPORTS:
            lost = self._reports.popleft()
            log.warning("command report %s dropped: too many wait for the log", lost.get("id"))
        self._reports.append(report)
        try:
            self._apply_reports()
        except StoreUnavailableError as exc:
            log.warning("command report %s waits for the log: %s", report.get("id"), exc)

    def _apply_reports(self) -> None:
        while self._reports:
            report = self._reports.popleft()
            try:
                self._apply_report(report)
            except StoreUnavailableError:
                self._reports.appendleft(report)  # moves only go forward: applying it again is safe
                raise
            except Exception as exc:  # noqa: BLE001 - a bad report is skipped, the others go on
                self.loops.failed("commands", f"report {str(report.get('id'))[:64]!r}", exc)

    def _apply_report(self, report: dict[str, Any]) -> None:
        cmd_id, state = report.get("id"), report.get("state")
        if not isinstance(cmd_id, str) or state not in ORDER:
            return
        detail = report.get("detail") if isinstance(report.get("detail"), dict) else {}
        cur = self.log.lookup(cmd_id)
        if cur is None:
            return
        tenant, by = cur["device"]["tenant"], str(report.get("edge_id", "edge"))
        if state in ("succeeded", "failed") and cur["state"] in ("queued", "sent"):
            self._move(tenant, cmd_id, "delivered", None, by)
        if cur["state"] == "queued" and state == "delivered":
            self._move(tenant, cmd_id, "sent", None, "broker")
        self._move(tenant, cmd_id, state, detail, by)

    def _move(
        self, tenant: str, cmd_id: str, state: str, detail: dict[str, Any] | None, by: str
    ) -> dict[str, Any] | None:
        cmd = self.log.transition(tenant, cmd_id, state, detail, by)
        if cmd is not None:
            self._stream(cmd)
        return cmd

    def _stream(self, cmd: dict[str, Any]) -> None:
        d = cmd["device"]
        topic = f"{command_topic(d['tenant'], d['plant'], d['line'], d['machine'])}/{cmd['id']}"
        self.hub.publish("command", topic, command_view(cmd))

    def tick(self) -> None:
        """One pass: apply waiting reports, expire, publish queued commands, mark PUBACKed
        ones sent."""
        self._apply_reports()
        now = self.log.clock()
        for cmd in self.log.open_commands():
            try:
                self._dispatch(cmd, now)
            except (StoreUnavailableError, sqlite3.Error, psycopg.Error):
                raise  # the log itself: the whole pass waits for it
            except Exception as exc:  # noqa: BLE001 - one bad command must not wedge dispatch
                self._fail(cmd, exc)

    def _fail(self, cmd: dict[str, Any], exc: Exception) -> None:
        """Dispatching ``cmd`` raised: count it, and fail it with the reason (the loop goes on)."""
        self.loops.failed("commands", f"command {cmd.get('id')}", exc)
        self._inflight.pop(cmd["id"], None)
        reason = {"reason": f"dispatch failed: {type(exc).__name__}: {exc}"}
        self._move(cmd["device"]["tenant"], cmd["id"], "failed", reason, "cloud")

    def _dispatch(self, cmd: dict[str, Any], now: float) -> None:
        """One open command: expire it, publish it, or mark it sent once PUBACKed."""
        tenant = cmd["device"]["tenant"]
        if now > cmd["expires_at"]:
            self._inflight.pop(cmd["id"], None)
            self._move(tenant, cmd["id"], "expired", {"reason": "ttl passed"}, "cloud")
            return
        info, at = self._inflight.get(cmd["id"], (None, 0.0))
        if info is not None and not info.is_published() and now - at > REPUBLISH_S:
            info = None  # lost with a broken connection: publish again (the edge dedupes)
        if cmd["state"] == "queued":
            if info is None and self.connected():
                d = cmd["device"]
                topic = command_topic(d["tenant"], d["plant"], d["line"], d["machine"])
                payload = {
                    "id": cmd["id"],
                    "name": cmd["name"],
                    "args": cmd["args"],
                    "expires_at": cmd["expires_at"],
                }
                info = self.publish(topic, payload)
                if info is not None:
                    self._inflight[cmd["id"]] = (info, now)
            if info is not None and info.is_published():
                self._inflight.pop(cmd["id"], None)
                self._move(tenant, cmd["id"], "sent", None, "broker")
        else:
            self._inflight.pop(cmd["id"], None)

    async def run(self) -> None:
        down = False
        while True:
            try:
                self.tick()
            except StoreUnavailableError as exc:
                if not down:
                    log.warning("command log unavailable, dispatch waits: %s", exc)
                down = True
            except (sqlite3.Error, psycopg.Error) as exc:
                self.loops.failed("commands", "a dispatch pass (command log)", exc)
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any bug in a pass
                self.loops.failed("commands", "a dispatch pass", exc)
            else:
                if down:
                    log.info("command log available again")
                down = False
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 0.05 if self._inflight else 0.5)
