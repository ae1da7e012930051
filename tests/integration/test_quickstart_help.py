"""Each part's ``--help`` names what it connects to and how to set it, a flag reads as a flag,
and a standalone cloud says which broker it uses and why it cannot connect (issue 14, item 8)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.conftest import EDGETWIN, wait_for

pytestmark = pytest.mark.integration


def _help(*command: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
    done = subprocess.run([*EDGETWIN, *command, "--help"], env=env, capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    return done.stdout


@pytest.mark.parametrize(
    ("command", "connects"),
    [
        (("up",), ["--mqtt-port", "--mqtt-url", "--http-port"]),
        (("cloud",), ["--mqtt-url", "--mqtt-port", "--http-port", "--db"]),
        (("edge",), ["--mqtt-url", "--mqtt-port", "--cloud-url", "--config"]),
        (("sim",), ["--mqtt-url", "--mqtt-port"]),
        (("broker",), ["--mqtt-port"]),
        (("bench",), ["--db"]),
    ],
)
def test_help_names_what_each_part_connects_to(
    command: tuple[str, ...], connects: list[str]
) -> None:
    text = _help(*command)
    for flag in connects:
        assert f"  {flag} " in text, f"{flag} missing from edgetwin {' '.join(command)} --help"
    assert "<bool>" not in text  # a flag takes no value and shows none
    assert "EDGETWIN_" in text  # each option names its variable


def test_flags_read_as_flags() -> None:
    bench = _help("bench")
    assert "  --quick  " in bench
    edge = _help("edge")
    assert "  --print-config  " in edge
    assert "[[sources]], [[processors]] and\n" in edge or "[[sinks]]" in edge  # not eaten as markup


def test_the_cloud_help_says_which_broker_by_default() -> None:
    text = " ".join(_help("cloud").split())
    assert "the embedded broker's port on 127.0.0.1 (--mqtt-port, default 1883)" in text
    assert "EDGETWIN_MQTT_URL" in text


def test_a_standalone_cloud_says_which_broker_and_why_it_cannot_connect(tmp_path: Path) -> None:
    """Nothing listens on the broker port: the cloud serves anyway and says so, once."""
    http_port, mqtt_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
    env.update({"PYTHONUNBUFFERED": "1", "EDGETWIN_PACKS": "factory"})
    log = tmp_path / "cloud.log"
    proc = subprocess.Popen(
        [*EDGETWIN, "cloud", "--http-port", str(http_port), "--mqtt-port", str(mqtt_port),
         "--data-dir", str(tmp_path / "data")],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        where = f"mqtt://127.0.0.1:{mqtt_port}"
        wait_for(lambda: f"plant broker: {where} (the embedded broker's port" in log.read_text(),
                 60, what="the cloud to name its broker")  # fmt: skip
        wait_for(lambda: f"cannot reach {where}" in log.read_text(), 30,
                 what="the cloud to say why it cannot connect")  # fmt: skip
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    text = log.read_text()
    assert text.count(f"cannot reach {where}") == 1, text  # said once, not every second
    assert "Traceback" not in text
