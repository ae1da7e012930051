"""What the cloud knows about each edge: its last reported status and a history of its buffer
depth. Edges report through ingest request headers and, where the cloud shares the plant's
broker, through their retained status topic (which keeps working while the data uplink is cut).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class EdgeState:
    edge_id: str
    buffer_depth: int = 0
    oldest_age_s: float | None = None
    uplink: str = "unknown"
    online: bool = True
    last_report: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    history: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=1800))

    def record(self, now: float) -> None:
        """One sample per second: later reports in the same second update its value. (Moving the
        sample's time instead would keep a busy edge, reporting every 100 ms, at one sample.)"""
        if self.history and int(now) == int(self.history[-1][0]):
            self.history[-1] = (self.history[-1][0], self.buffer_depth)
        else:
            self.history.append((now, self.buffer_depth))

    def public(self, now: float) -> dict[str, Any]:
        d = self.details
        return {
            "edge_id": self.edge_id,
            "buffer_depth": self.buffer_depth,
            "oldest_age_s": self.oldest_age_s,
            "uplink": self.uplink,
            "online": self.online and now - self.last_report < 15,
            "last_report_age_s": round(now - self.last_report, 1) if self.last_report else None,
            "reported_at": d.get("ts"),
            "buffer_bytes": d.get("buffer_bytes"),
            "buffer_fill": d.get("buffer_fill"),
            "buffer_state": d.get("buffer_state"),
            "buffer_policy": d.get("buffer_policy"),
            "runway_s": d.get("runway_s"),
            "dropped": d.get("dropped", {}),
            "rejected": d.get("rejected", {}),
            "received": d.get("received"),
            "buffered": d.get("buffered"),
            "accepted_total": d.get("accepted_total"),
            "redelivered": d.get("redelivered"),
            "sent": d.get("sent"),
            "dead_letters": d.get("dead_letters", 0),
            "alerts": d.get("alerts", []),
        }


class EdgeRegistry:
    def __init__(self) -> None:
        self.edges: dict[str, EdgeState] = {}

    def _get(self, edge_id: str) -> EdgeState:
        if edge_id not in self.edges:
            self.edges[edge_id] = EdgeState(edge_id)
        return self.edges[edge_id]

    def from_headers(self, edge_id: str, depth: str | None, oldest_age: str | None) -> None:
        now = time.time()
        state = self._get(edge_id)
        try:
            state.buffer_depth = int(depth) if depth else state.buffer_depth
            state.oldest_age_s = float(oldest_age) if oldest_age else None
        except ValueError:
            return
        state.uplink = "ok"
        state.online = True
        state.last_report = now
        state.record(now)

    def from_status(self, status: dict[str, Any]) -> None:
        edge_id = status.get("edge_id")
        if not isinstance(edge_id, str):
            return
        now = time.time()
        state = self._get(edge_id)
        ts = status.get("ts")
        held = state.details.get("ts")
        if isinstance(ts, int | float) and isinstance(held, int | float) and ts < held:
            return  # an older report, e.g. a retained one a restarted broker restored
        state.buffer_depth = int(status.get("buffer_depth") or 0)
        state.oldest_age_s = status.get("oldest_age_s")
        state.uplink = str(status.get("uplink", "unknown"))
        state.online = bool(status.get("online", True))
        state.last_report = now
        state.details = status
        state.record(now)

    def public(self) -> list[dict[str, Any]]:
        now = time.time()
        return [e.public(now) for e in sorted(self.edges.values(), key=lambda e: e.edge_id)]

    def alerts(self) -> list[dict[str, Any]]:
        """Every edge's alerts (active and recently cleared), tagged with the edge."""
        now = time.time()
        out = []
        for e in self.edges.values():
            for alert in e.details.get("alerts", []):
                out.append({**alert, "source": f"edge:{e.edge_id}"})
            if e.last_report and now - e.last_report > 15 and e.details:
                out.append(
                    {
                        "kind": "edge_silent",
                        "source": f"edge:{e.edge_id}",
                        "active": True,
                        "message": f"no report from {e.edge_id} for {now - e.last_report:.0f} s",
                        "since": e.last_report,
                        "cleared": None,
                    }
                )
        return sorted(out, key=lambda a: (not a.get("active"), -float(a.get("since") or 0)))
