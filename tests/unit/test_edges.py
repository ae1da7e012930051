"""The cloud's view of its edges, as built from their status reports."""

from __future__ import annotations

from edgetwin.cloud.edges import EdgeRegistry


def _status(ts: float, depth: int, accepted: int) -> dict[str, object]:
    return {"edge_id": "edge-01", "ts": ts, "buffer_depth": depth, "accepted_total": accepted}


def test_a_newer_report_replaces_the_last() -> None:
    reg = EdgeRegistry()
    reg.from_status(_status(100.0, 5, 10))
    reg.from_status(_status(102.0, 0, 15))
    [edge] = reg.public()
    assert (edge["buffer_depth"], edge["accepted_total"], edge["reported_at"]) == (0, 15, 102.0)


def test_an_older_report_restored_by_a_broker_is_ignored() -> None:
    reg = EdgeRegistry()
    reg.from_status(_status(102.0, 0, 15))
    reg.from_status(_status(100.0, 5, 10))  # a retained report replayed after a broker restart
    [edge] = reg.public()
    assert (edge["buffer_depth"], edge["accepted_total"], edge["reported_at"]) == (0, 15, 102.0)
