"""The edge's alerts: raised and cleared by kind, listed for an hour after they clear, and
published with the edge's status (so the cloud's `/api/v1/stats` and dashboard show them)."""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("edgetwin.edge")

KEEP_CLEARED_S = 3600.0


class Alerts:
    def __init__(self) -> None:
        self.by_kind: dict[str, dict[str, Any]] = {}

    def raise_(self, kind: str, message: str) -> None:
        """Raise (or update the message of) an alert."""
        alert = self.by_kind.get(kind)
        if alert is None or not alert["active"]:
            self.by_kind[kind] = {
                "kind": kind,
                "message": message,
                "since": time.time(),
                "active": True,
                "cleared": None,
            }
            log.warning("alert raised: %s: %s", kind, message)
        else:
            alert["message"] = message

    def clear(self, kind: str) -> None:
        alert = self.by_kind.get(kind)
        now = time.time()
        if alert is not None and alert["active"]:
            alert["active"], alert["cleared"] = False, now
            log.info("alert cleared: %s", kind)
        for k, a in list(self.by_kind.items()):
            if not a["active"] and now - a["cleared"] > KEEP_CLEARED_S:
                del self.by_kind[k]

    def listed(self) -> list[dict[str, Any]]:
        return list(self.by_kind.values())
