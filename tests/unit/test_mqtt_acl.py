"""MQTT users and topic rules (edgetwin.security.mqtt_acl), their files in the data dir
(edgetwin.transport.mqtt_users) and the Mosquitto files of ``edgetwin mqtt-acl``."""

from __future__ import annotations

import base64
import json
import shutil
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgetwin.core.settings import Settings
from edgetwin.edge.broker import broker_config
from edgetwin.security.mqtt_acl import (
    Acl,
    Action,
    MqttPart,
    acl_file,
    cloud_part,
    device_part,
    edge_part,
    filters_overlap,
    foreign_part,
    mosquitto_hash,
    probe_part,
    simulator_part,
    topic_matches,
)
from edgetwin.transport.mqtt import resolve_target
from edgetwin.transport.mqtt_users import ensure_user, load_user, user_file, users_dir
from tests.conftest import need

T, P = "acme", "plant-01"
A = device_part(T, P, "line-01", "cnc-01")
PUB, SUB, RECV = Action.PUBLISH, Action.SUBSCRIBE, Action.RECEIVE


@pytest.mark.parametrize(
    ("pattern", "topic", "match"),
    [
        ("v1/#", "v1/acme/plant-01/line-01/cnc-01/temp", True),
        ("v1/#", "v1", True),  # '#' also matches the parent level [MQTT-4.7.1-2]
        ("v1/#", "v2/acme", False),
        ("v1/+/p", "v1/a/p", True),
        ("v1/+/p", "v1/a/b/p", False),
        ("v1/a/+", "v1/a", False),
        ("v1/a", "v1/a/b", False),
        ("#", "$SYS/broker/uptime", False),  # [MQTT-4.7.2-1]
    ],
)
def test_topic_matches(pattern: str, topic: str, match: bool) -> None:
    assert topic_matches(pattern, topic) is match


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("v1/a/+/x", "v1/+/b/x", True),
        ("v1/a/#", "v1/a", True),
        ("v1/a/b", "v1/a/c", False),
        ("v1/a/+", "v1/a/b/c", False),
        ("#", "anything/at/all", True),
        ("v1/+/+/cmd/device", "v1/acme/plant-01/line-01/cnc-01/cmd/device", False),
    ],
)
def test_filters_overlap(a: str, b: str, overlap: bool) -> None:
    assert filters_overlap(a, b) is overlap
    assert filters_overlap(b, a) is overlap


def _may(part: MqttPart, action: Action, topic: str) -> bool:
    return Acl(part.rules()).allows(action, topic)


def test_a_device_writes_only_its_readings_and_replies_and_reads_only_its_commands() -> None:
    own = "v1/acme/plant-01/line-01/cnc-01"
    other = "v1/acme/plant-01/line-01/cnc-02"
    assert _may(A, PUB, f"{own}/temp")
    assert _may(A, PUB, f"{own}/cmd/reply")
    assert _may(A, RECV, f"{own}/cmd/device")
    assert _may(A, SUB, f"{own}/cmd/device")
    for topic in (
        f"{own}/cmd",  # would reach the edge as a command from the cloud
        f"{own}/cmd/device",
        f"{own}/cmd/ack",
        f"{other}/temp",
        "v1/acme/plant-01/cmd",
        "v1/acme/plant-01/status/edge-01",
        "v1/acme/plant-02/line-01/cnc-01/temp",
    ):
        assert not _may(A, PUB, topic), topic
    assert not _may(A, RECV, f"{other}/cmd/device")
    assert not _may(A, RECV, f"{own}/temp")
    assert not _may(A, SUB, f"{other}/#")
    # A broad filter is granted, as Mosquitto does; each message is then checked on RECEIVE.
    assert _may(A, SUB, "v1/#")


def test_an_edge_stays_in_its_plant_and_the_cloud_in_v1() -> None:
    edge = edge_part(T, P, "edge-01")
    assert _may(edge, PUB, "v1/acme/plant-01/line-01/cnc-01/cmd/device")
    assert _may(edge, SUB, "v1/acme/plant-01/+/+/+")
    assert not _may(edge, PUB, "v1/acme/plant-02/cmd")
    assert _may(edge, SUB, "v1/+/+/status/+")  # it overlaps its plant; RECEIVE filters
    assert not _may(edge, RECV, "v1/globex/plant-01/status/edge-01")
    cloud = cloud_part()
    assert _may(cloud, PUB, "v1/globex/plant-09/cmd")
    assert _may(cloud, SUB, "v1/+/+/+/+/cmd/ack")
    assert not _may(cloud, PUB, "elsewhere/topic")
    assert not _may(probe_part(), PUB, "v1/acme/plant-01/cmd")
    assert not _may(probe_part(), SUB, "#")


def test_a_simulator_plays_only_its_devices() -> None:
    sim = simulator_part("factory", T, P, [("line-01", "cnc-01"), ("line-02", "press-01")])
    assert _may(sim, PUB, "v1/acme/plant-01/line-02/press-01/pressure")
    assert _may(sim, PUB, "v1/acme/plant-01/status/factory-sim")
    assert _may(sim, RECV, "v1/acme/plant-01/cmd")
    assert _may(sim, SUB, "v1/acme/plant-01/+/+/cmd/device")  # what the factory subscribes
    assert _may(sim, RECV, "v1/acme/plant-01/line-01/cnc-01/cmd/device")
    assert not _may(sim, RECV, "v1/acme/plant-01/line-09/other/cmd/device")
    assert not _may(sim, PUB, "v1/acme/plant-01/line-09/other/temp")
    assert not _may(sim, PUB, "v1/acme/plant-01/status/edge-01")
    assert not _may(sim, PUB, "v1/acme/plant-01/line-01/cnc-01/cmd")


def test_a_foreign_part_has_only_its_own_topics_outside_v1() -> None:
    """The grid's breakers speak iot/{device}/...: its source may use those and nothing else."""
    source = foreign_part("grid", "source", T, P, ["iot/+/raw", "iot/+/status", "iot/+/cmd"])
    assert source.username == "edgetwin/pack/grid/source/acme/plant-01"
    assert _may(source, SUB, "iot/+/raw")
    assert _may(source, PUB, "iot/breaker-07/cmd")
    assert not _may(source, PUB, "iot/breaker-07/firmware")
    assert not _may(source, PUB, "v1/acme/plant-01/cmd")
    assert not _may(source, SUB, "v1/#")
    for bad in ("v1/acme/#", "#", "+/raw", "iot/#/raw", "iot/a+", "$SYS/#", ""):
        with pytest.raises(ValueError, match="outside v1/"):
            foreign_part("grid", "source", T, P, [bad])


def test_user_names_are_unambiguous_and_parts_round_trip() -> None:
    parts = [
        cloud_part(),
        probe_part(),
        edge_part("a-b", "c", "e"),
        edge_part("a", "b-c", "e"),
        simulator_part("factory", T, P, [("l", "m")]),
        foreign_part("grid", "sim", T, P, ["iot/+/raw"]),
        A,
    ]
    assert len({p.username for p in parts}) == len(parts)
    assert A.username == "device/acme/plant-01/line-01/cnc-01"
    assert not A.is_part
    assert edge_part(T, P, "edge-01").username == "edgetwin/edge/acme/plant-01/edge-01"
    for part in parts:
        assert MqttPart.from_json(json.loads(json.dumps(part.to_json()))) == part
    with pytest.raises(ValueError, match="not a valid name"):
        edge_part(T, "plant/../x", "e")
    with pytest.raises(ValueError, match="not a valid name"):
        MqttPart.from_json({**A.to_json(), "devices": [["line-01", "#"]]})


def test_acl_file_lists_each_user_with_denials_first() -> None:
    text = acl_file([edge_part(T, P, "edge-01"), A])
    blocks = [b for b in text.split("\n\n") if b.startswith("user ")]
    assert (
        blocks[0] == "user edgetwin/edge/acme/plant-01/edge-01\ntopic readwrite v1/acme/plant-01/#"
    )
    lines = blocks[1].splitlines()
    assert lines[0] == "user device/acme/plant-01/line-01/cnc-01"
    assert lines[1] == "topic deny v1/acme/plant-01/line-01/cnc-01/cmd"
    assert text.index("user ") < text.index("topic ")  # nothing for anonymous clients


def test_password_hash_is_what_mosquitto_passwd_makes(tmp_path: Path) -> None:
    """The same salt gives the same line as the real tool (Mosquitto's $7$ format)."""
    need(shutil.which("mosquitto_passwd") is not None, "mosquitto_passwd is not installed")
    path = tmp_path / "pw"
    path.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(path), "alice", "s3cret é"], check=True)
    made = path.read_text().strip().split(":", 1)[1]
    salt = base64.b64decode(made.split("$")[3])
    assert mosquitto_hash("s3cret é", salt=salt) == made
    assert mosquitto_hash("other", salt=salt) != made


def test_user_files_are_private_stable_and_shared_by_racing_processes(tmp_path: Path) -> None:
    edge = edge_part(T, P, "edge-01")
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_user(tmp_path, edge)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    path = user_file(tmp_path, edge.username)
    assert path is not None
    assert path.parent == users_dir(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(users_dir(tmp_path).stat().st_mode) == 0o700
    assert load_user(tmp_path, edge.username) == (edge, results[0])
    assert [p.name for p in users_dir(tmp_path).iterdir()] == [path.name]  # no leftovers


def test_a_changed_scope_keeps_the_password_and_a_damaged_file_is_replaced(tmp_path: Path) -> None:
    one = simulator_part("factory", T, P, [("line-01", "cnc-01")])
    two = simulator_part("factory", T, P, [("line-01", "cnc-01"), ("line-01", "cnc-02")])
    password = ensure_user(tmp_path, one)
    assert ensure_user(tmp_path, two) == password
    assert load_user(tmp_path, two.username) == (two, password)
    path = user_file(tmp_path, two.username)
    assert path is not None
    path.write_text("{not json")
    assert load_user(tmp_path, two.username) is None
    fresh = ensure_user(tmp_path, two)
    assert load_user(tmp_path, two.username) == (two, fresh)


def test_a_user_name_never_leaves_the_users_folder(tmp_path: Path) -> None:
    assert user_file(tmp_path, "../../etc/passwd") is not None
    inside = user_file(tmp_path, "../../etc/passwd")
    assert inside is not None
    assert inside.parent == users_dir(tmp_path)
    assert user_file(tmp_path, "a\x00b") is None
    assert user_file(tmp_path, "") is None
    assert load_user(tmp_path, "../../etc/passwd") is None
    # A file that names another user than its own is no user.
    ensure_user(tmp_path, A)
    path = user_file(tmp_path, A.username)
    other = user_file(tmp_path, "device/acme/plant-01/line-01/cnc-02")
    assert path is not None
    assert other is not None
    other.write_text(path.read_text())
    assert load_user(tmp_path, "device/acme/plant-01/line-01/cnc-02") is None


def test_each_part_gets_its_own_login_on_the_embedded_broker_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    edge = resolve_target(settings, edge_part(T, P, "edge-01"))
    cloud = resolve_target(settings)
    assert (edge.username, cloud.username) == (
        "edgetwin/edge/acme/plant-01/edge-01",
        "edgetwin/cloud",
    )
    assert edge.password
    assert cloud.password
    assert edge.password != cloud.password
    remote = Settings(data_dir=tmp_path, mqtt_url="mqtt://u:p@broker.example:1883")
    assert resolve_target(remote, edge_part(T, P, "edge-01")).username == "u"


def test_anonymous_clients_only_while_the_broker_listens_on_loopback(tmp_path: Path) -> None:
    def anonymous(host: str, on: bool = True) -> bool:
        config = broker_config(tmp_path, 1883, host, anonymous_loopback=on)
        return bool(config["plugins"]["edgetwin.edge.broker.EdgetwinAuthPlugin"][
            "allow_loopback_anonymous"
        ])  # fmt: skip

    assert anonymous("127.0.0.1")
    assert anonymous("localhost")
    assert anonymous("::1")
    assert not anonymous("127.0.0.1", on=False)
    assert not anonymous("0.0.0.0")
    assert not anonymous("192.168.1.10")


def test_mqtt_acl_command_writes_the_files_and_keeps_passwords(tmp_path: Path) -> None:
    import typer

    from edgetwin.cli_mqtt import mqtt_acl

    app = typer.Typer()
    app.command()(mqtt_acl)
    out = tmp_path / "broker"
    args = ["--out", str(out), "--tenant", "globex", "--plant", "p9", "--device", "l1/m1"]
    first = CliRunner().invoke(app, args, env={"EDGETWIN_PACKS": "motor"})
    assert first.exit_code == 0, first.output
    assert "3 MQTT users (1 cloud, 1 edge, 1 device) for globex/p9" in first.output
    creds = json.loads((out / "credentials.json").read_text())["users"]
    assert {u["username"] for u in creds} == {
        "edgetwin/cloud",
        "edgetwin/edge/globex/p9/edge-01",
        "device/globex/p9/l1/m1",
    }
    assert all(u["password"] not in first.output for u in creds)
    assert stat.S_IMODE((out / "credentials.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "password_file").stat().st_mode) == 0o600
    assert "topic write v1/globex/p9/l1/m1/+" in (out / "acl_file").read_text()
    assert "allow_anonymous false" in (out / "mosquitto.conf").read_text()

    again = CliRunner().invoke(app, [*args, "--device", "l1/m2"], env={"EDGETWIN_PACKS": "motor"})
    assert again.exit_code == 0, again.output
    after = {
        u["username"]: u["password"]
        for u in json.loads((out / "credentials.json").read_text())["users"]
    }
    assert all(after[u["username"]] == u["password"] for u in creds)
    assert "device/globex/p9/l1/m2" in after

    bad = CliRunner().invoke(app, ["--out", str(out), "--device", "l1"])
    assert bad.exit_code == 2
    assert "LINE/MACHINE" in bad.output
