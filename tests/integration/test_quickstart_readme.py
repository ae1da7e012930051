"""The README tells how to run ``edgetwin`` before it first shows an ``edgetwin`` command line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_says_how_to_run_edgetwin_before_using_it() -> None:
    text = README.read_text()
    first_use = re.search(r"^edgetwin \w", text, flags=re.MULTILINE)  # a line a user types
    assert first_use is not None
    before = text[: first_use.start()]
    assert ".venv/bin/edgetwin" in before
    assert "source .venv/bin/activate" in before


def test_the_venv_command_the_readme_names_runs() -> None:
    """``.venv/bin/edgetwin`` is the script beside this interpreter (``make up`` installs it)."""
    script = Path(sys.executable).parent / "edgetwin"
    assert script.exists(), f"{script} is missing: the package is not installed into the venv"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "sim" in result.stdout
