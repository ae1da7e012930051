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
    assert (edge["buffer_depth"], edge["accepted_total"], edge["reported_at"]) == (
        0,
        15,
        "1970-01-01T00:01:42.000Z",
    )


def test_an_older_report_restored_by_a_broker_is_ignored() -> None:
    reg = EdgeRegistry()
    reg.from_status(_status(102.0, 0, 15))
    reg.from_status(_status(100.0, 5, 10))  # a retained report replayed after a broker restart
    [edge] = reg.public()
    assert (edge["buffer_depth"], edge["accepted_total"], edge["reported_at"]) == (
        0,
        15,
        "1970-01-01T00:01:42.000Z",
    )


def test_the_report_is_typed_and_shows_each_sinks_outbox() -> None:
    reg = EdgeRegistry()
    report = {
        **_status(100.0, 7, 3),
        "uplink": "failing",
        "a_key_of_a_newer_edge": [1, 2],
        "sinks": {
            "cloud": {"depth": 7, "bytes": 900, "oldest_age_s": 4.5, "state": "failing"},
            "mes": {"depth": 0, "state": "ok", "sent": 12},
        },
    }
    reg.from_status(report)
    [edge] = reg.public()
    assert edge["uplink"] == "failing"
    assert edge["sinks"]["cloud"]["depth"] == 7
    assert edge["sinks"]["cloud"]["oldest_age_s"] == 4.5
    assert edge["sinks"]["mes"]["sent"] == 12
    assert "a_key_of_a_newer_edge" not in edge


def test_a_malformed_report_is_ignored_and_the_last_good_one_kept() -> None:
    reg = EdgeRegistry()
    reg.from_status(_status(100.0, 5, 10))
    reg.from_status({**_status(101.0, 6, 11), "buffer_depth": "lots"})
    reg.from_status({"ts": 102.0, "buffer_depth": 1})  # no edge id: not an edge's report
    [edge] = reg.public()
    assert (edge["buffer_depth"], edge["reported_at"]) == (5, "1970-01-01T00:01:40.000Z")


def test_an_edge_known_only_from_ingest_headers() -> None:
    reg = EdgeRegistry()
    reg.from_headers("edge-02", "120", "3.5")
    [edge] = reg.public()
    assert (edge["buffer_depth"], edge["oldest_age_s"], edge["uplink"]) == (120, 3.5, "ok")
    assert (edge["received"], edge["dropped"], edge["sinks"], edge["alerts"]) == (None, {}, {}, [])
    assert reg.alerts() == []


def test_alerts_are_tagged_with_the_edge_and_a_silent_edge_is_one() -> None:
    reg = EdgeRegistry()
    alert = {"kind": "buffer_high", "message": "80% full", "since": 90.0, "active": True}
    reg.from_status({**_status(100.0, 5, 10), "alerts": [alert]})
    [listed] = reg.alerts()
    # times in ISO 8601 UTC, as everywhere in the API
    since = "1970-01-01T00:01:30.000Z"
    assert listed == {**alert, "since": since, "cleared": None, "source": "edge:edge-01"}
    reg.edges["edge-01"].last_report -= 20  # nothing heard for 20 s
    silent, high = reg.alerts()
    assert (silent["kind"], silent["active"], high["kind"]) == ("edge_silent", True, "buffer_high")
    assert reg.public()[0]["online"] is False
