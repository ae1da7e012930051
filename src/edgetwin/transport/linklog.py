"""Saying why a link is down without flooding the log.

A link that cannot connect is retried every second or so; logging each attempt buries the
reason. :class:`LinkReport` logs each reason the first time it is seen in an outage, then a
reminder of the same reason at most every ``remind_s`` while the outage lasts, and one INFO line
when the link is back. Every client of one process that talks to the same broker shares one
report (:func:`link_report`), so the edge's several MQTT clients say a wrong CA once, not thrice.

:func:`diagnose` finds the reason paho keeps to itself (it retries a failed TLS handshake or a
refused TCP connection without calling back): one synchronous connection attempt, shared by the
clients of a target, at most one per ``CHECK_EVERY_S``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from edgetwin.core.settings import MqttTarget
from edgetwin.transport.mqtt import where

REMIND_S: Final = 45.0  # a standing reason is repeated at most this often
CHECK_EVERY_S: Final = 5.0  # a broker is probed for the reason at most this often

log = logging.getLogger("edgetwin.mqtt")


class LinkReport:
    """The log of one link's outages: each reason once, reminders at most every ``remind_s``.

    Thread-safe: paho calls back on its own thread.

    Args:
        what: names the link in each line, e.g. ``MQTT broker 127.0.0.1:1883``.
        logger: where the lines go.
        remind_s: the least time between two lines about the same reason.
        clock: monotonic seconds (a test's own).
    """

    def __init__(
        self,
        what: str,
        logger: logging.Logger = log,
        *,
        remind_s: float = REMIND_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.logger = logger
        self.remind_s = remind_s
        self.clock = clock
        self.reason: str | None = None  # the last reason given; None while the link is up
        self.since: float | None = None  # when the outage began
        self._said: dict[str, float] = {}  # reason -> when it was last logged, this outage
        self._lock = threading.Lock()

    def down(self, reason: str, level: int = logging.WARNING) -> bool:
        """The link is down for ``reason``; True when this call logged a line."""
        with self._lock:
            now = self.clock()
            if self.since is None:
                self.since = now
            self.reason = reason
            said = self._said.get(reason)
            if said is not None and now - said < self.remind_s:
                return False
            self._said[reason] = now
            if said is None:
                self.logger.log(level, "%s: %s", self.what, reason)
            else:
                self.logger.log(
                    level, "%s: still %s (down for %.0f s)", self.what, reason, now - self.since
                )
            return True

    def up(self, message: str | None = None) -> None:
        """The link works again: one INFO line if it was down (``message``, or a default)."""
        with self._lock:
            if self.since is not None:
                down_s = self.clock() - self.since
                self.logger.info("%s: %s", self.what, message or f"connected after {down_s:.0f} s")
            self.reason = None
            self.since = None
            self._said.clear()


_REPORTS: dict[str, LinkReport] = {}
_REPORTS_LOCK = threading.Lock()


def link_report(target: MqttTarget) -> LinkReport:
    """The one report of this process's links to ``target``."""
    key = where(target)
    with _REPORTS_LOCK:
        report = _REPORTS.get(key)
        if report is None:
            report = _REPORTS[key] = LinkReport("MQTT link")
        return report


_CHECKS: dict[str, tuple[float, str | None]] = {}  # target -> (when, reason) of the last probe
_CHECK_LOCKS: dict[str, threading.Lock] = {}


async def diagnose(target: MqttTarget, timeout_s: float = 5.0) -> str | None:
    """Why a connection to ``target`` fails now (None: it succeeds); one probe per
    ``CHECK_EVERY_S`` per target, whichever client asks."""
    return await asyncio.to_thread(_diagnose, target, timeout_s)


def _diagnose(target: MqttTarget, timeout_s: float) -> str | None:
    from edgetwin.transport.mqtt import BrokerLinkError, check_broker

    key = f"{where(target)} {target.username} {target.ca_file}"
    with _REPORTS_LOCK:
        lock = _CHECK_LOCKS.setdefault(key, threading.Lock())
    with lock:
        last = _CHECKS.get(key)
        if last is not None and time.monotonic() - last[0] < CHECK_EVERY_S:
            return last[1]
        reason: str | None = None
        try:
            check_broker(target, timeout_s)
        except BrokerLinkError as exc:
            reason = str(exc)
        _CHECKS[key] = (time.monotonic(), reason)
        return reason
