"""The MQTT source's intake: messages to readings, bad input counted by reason, good input kept."""

from __future__ import annotations

import random

import orjson
import paho.mqtt.client as paho

from edgetwin.edge.sources.mqtt import Intake
from tests.unit.test_buffer import _points

BATCH = "v1/acme/plant-01/batch/gw-7"


def _msg(topic: str, payload: bytes) -> paho.MQTTMessage:
    msg = paho.MQTTMessage(topic=topic.encode())
    msg.payload = payload
    return msg


def _intake() -> Intake:
    return Intake("acme", "plant-01", "v1/acme/plant-01/status/")


def test_a_good_batch_keeps_every_reading_and_its_wire_form() -> None:
    points = _points(2)
    items = [orjson.loads(p.to_json()) for p in points]
    rows = _intake().batch(_msg(BATCH, orjson.dumps(items)))
    assert [r[0].id for r in rows] == [p.id for p in points]
    assert [orjson.loads(r[1]) for r in rows] == items


def test_bad_items_are_rejected_alone_with_their_reason() -> None:
    points = _points(1)
    items: list[object] = [orjson.loads(p.to_json()) for p in points]
    rng = random.Random(5)
    bad_at = sorted(rng.sample(range(len(items)), 4))
    items[bad_at[0]] = "not an object"
    items[bad_at[1]] = {**items[bad_at[1]], "value": "hot"}  # type: ignore[dict-item]
    items[bad_at[2]] = {**items[bad_at[2]], "tenant": "other"}  # type: ignore[dict-item]
    del items[bad_at[3]]["ts"]  # type: ignore[attr-defined]
    intake = _intake()
    rows = intake.batch(_msg(BATCH, orjson.dumps(items)))
    assert len(rows) == len(points) - 4
    assert {str(r[0].id) for r in rows} == {
        str(p.id) for i, p in enumerate(points) if i not in bad_at
    }
    assert intake.rejected == {"malformed": 3, "topic_mismatch": 1}


def test_a_message_that_is_no_batch_is_one_reject() -> None:
    intake = _intake()
    assert intake.batch(_msg(BATCH, b"{not json")) == []
    assert intake.batch(_msg(BATCH, b'{"a": 1}')) == []
    assert intake.rejected == {"malformed": 2}


def test_a_single_reading_must_match_its_topic() -> None:
    point = _points(1)[0]
    good = f"v1/acme/plant-01/{point.line}/{point.machine}/{point.metric}"
    intake = _intake()
    assert intake.reading(_msg(good, point.to_json())) == (point, point.to_json())
    assert (
        intake.reading(_msg(f"v1/acme/plant-01/{point.line}/other/temp", point.to_json())) is None
    )
    assert intake.reading(_msg("v1/acme/plant-01/status/edge-01", b"{}")) is None  # not counted
    assert intake.reading(_msg("v1/acme", point.to_json())) is None
    assert intake.rejected == {"topic_mismatch": 1, "bad_topic": 1}


def test_a_valid_reading_of_another_plant_is_refused_on_the_fast_path() -> None:
    points = _points(1)
    items = [orjson.loads(p.to_json()) for p in points]
    items[7]["plant"] = "plant-99"  # valid on the wire, but not this edge's plant
    intake = _intake()
    rows = intake.batch(_msg(BATCH, orjson.dumps(items)))
    assert [str(r[0].id) for r in rows] == [str(p.id) for i, p in enumerate(points) if i != 7]
    assert intake.rejected == {"topic_mismatch": 1}


def test_names_that_look_like_reserved_words_route_by_the_topic_shape() -> None:
    from edgetwin.edge.sources.mqtt import topic_kind

    assert topic_kind("v1/acme/plant-01/batch/gw-7") == "batch"
    assert topic_kind("v1/acme/plant-01/batch/oven-1/temp") == "reading"  # a line called batch
    assert topic_kind("v1/acme/plant-01/status/oven-1/temp") == "reading"  # a line called status
    assert topic_kind("v1/acme/plant-01/line-1/m-1/cmd") == "command"
    assert topic_kind("v1/acme/plant-01/line-1/m-1/cmd/reply") == "reply"
    assert topic_kind("v1/acme/plant-01/line-1/cmd/temp") == "reading"  # a machine called cmd


def test_a_reading_on_a_line_called_batch_is_kept_and_a_metric_called_cmd_is_counted() -> None:
    point = _points(1)[0].model_copy(update={"line": "batch"})
    intake = _intake()
    topic = f"v1/acme/plant-01/batch/{point.machine}/{point.metric}"
    assert intake.reading(_msg(topic, point.to_json())) == (point, point.to_json())
    reading_named_cmd = point.model_copy(update={"metric": "cmd"})
    intake.command_topic(_msg(f"v1/acme/plant-01/batch/{point.machine}/cmd",
                              reading_named_cmd.to_json()))  # fmt: skip
    intake.command_topic(_msg("v1/acme/plant-01/l/m/cmd", b'{"id": "c1", "name": "PING"}'))
    assert intake.rejected == {"reserved_name": 1}  # the command itself is no reject
