"""Configuration as a new user gets it wrong: each mistake stops the command before anything
starts, with one ``error:`` line naming the setting (issue 14, item 5). Real ``edgetwin``
processes; nothing is started, so each test takes about a second."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import EDGETWIN
from tests.unit.test_settings import readme_example_config

pytestmark = pytest.mark.integration


def _edgetwin(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
    clean.update(env or {})
    return subprocess.run(
        [*EDGETWIN, *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", ["up", "cloud", "edge", "sim"])
def test_an_unknown_pack_stops_every_command_before_it_starts(tmp_path: Path, command: str) -> None:
    data = tmp_path / "data"
    done = _edgetwin(command, "--data-dir", str(data), cwd=tmp_path,
                     env={"EDGETWIN_PACKS": '["factroy"]'})  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: setting packs (EDGETWIN_PACKS): unknown pack 'factroy';"
        " known packs: cmm, factory, grid, motor, warehouse"
    ]
    assert "Traceback" not in done.stdout + done.stderr
    assert not data.exists()  # nothing started, nothing written


def test_packs_as_the_readme_first_writes_them(tmp_path: Path) -> None:
    """``EDGETWIN_PACKS=factory`` (not JSON) is a list of one: the motor's serial line is gone."""
    done = _edgetwin("edge", "--print-config", "--data-dir", str(tmp_path), cwd=tmp_path,
                     env={"EDGETWIN_PACKS": "factory"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert 'type = "mqtt"' in done.stdout
    assert 'type = "serial"' not in done.stdout
    both = _edgetwin("edge", "--print-config", "--data-dir", str(tmp_path), cwd=tmp_path,
                     env={"EDGETWIN_PACKS": "factory,motor"})  # fmt: skip
    assert 'type = "serial"' in both.stdout


def test_a_bad_value_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    done = _edgetwin("sim", "--data-dir", str(tmp_path), cwd=tmp_path,
                     env={"EDGETWIN_BUFFER_POLICY": "keep_all"})  # fmt: skip
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("error: setting buffer_policy (EDGETWIN_BUFFER_POLICY): ")


def test_a_missing_config_file_is_one_line(tmp_path: Path) -> None:
    done = _edgetwin("up", "--data-dir", str(tmp_path / "data"), cwd=tmp_path,
                     env={"EDGETWIN_CONFIG": "edgetwin.tml"})  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: config file 'edgetwin.tml' (--config / EDGETWIN_CONFIG) does not exist or is"
        " not a file"
    ]


def test_the_readme_example_config_file_with_the_edge(tmp_path: Path) -> None:
    """The README's example, as ``edgetwin edge --config edgetwin.toml --print-config``."""
    (tmp_path / "edgetwin.toml").write_text(readme_example_config())
    done = _edgetwin("edge", "--config", "edgetwin.toml", "--print-config", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'name = "historian"' in done.stdout
    assert 'url = "http://127.0.0.1:9000/batches"' in done.stdout
    assert 'type = "serial"' in done.stdout  # packs = ["factory", "motor"] from the file
