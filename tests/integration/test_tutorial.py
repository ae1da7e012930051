"""docs/writing-a-pack.md, followed literally: its files are written into a copy of the source
tree, its registration line is added, and the stack it says to start is started. The pack must
then do what the page says: its device type served, humidity stored, VENT acknowledged, the
humidity falling, and its page in the dashboard. Only the pack's folder and the registry change."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from edgetwin.security import IdentityStore
from tests.integration.conftest import Stack, wait_for

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "writing-a-pack.md"
REGISTRY_OPEN = "REGISTRY: dict[str, str] = {\n"

pytestmark = pytest.mark.integration


def _steps(doc: str) -> tuple[dict[str, str], str]:
    """The files the tutorial writes (path -> code) and the line it adds to the registry."""
    files = dict(re.findall(r"<!-- file: (\S+) -->\n```python\n(.*?)```", doc, re.S))
    (line,) = re.findall(r"<!-- registry line -->\n```python\n(.*?)```", doc, re.S)
    return files, line


def test_the_tutorial_names_its_steps() -> None:
    files, line = _steps(DOC.read_text())
    assert sorted(files) == [
        "src/edgetwin/packs/greenhouse/__init__.py",
        "src/edgetwin/packs/greenhouse/device_types.py",
        "src/edgetwin/packs/greenhouse/page.py",
        "src/edgetwin/packs/greenhouse/sim.py",
    ]
    assert line.strip() == '"greenhouse": "edgetwin.packs.greenhouse",'


def test_the_tutorial_pack_works_when_followed(tmp_path: Path) -> None:
    files, line = _steps(DOC.read_text())
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for rel, code in files.items():
        target = tree / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code)
    registry = tree / "src/edgetwin/packs/__init__.py"
    text = registry.read_text()
    assert REGISTRY_OPEN in text
    registry.write_text(text.replace(REGISTRY_OPEN, REGISTRY_OPEN + line, 1))
    changed = {
        str(p.relative_to(tree))
        for p in (tree / "src").rglob("*.py")
        if not (ROOT / p.relative_to(tree)).exists()
        or (ROOT / p.relative_to(tree)).read_bytes() != p.read_bytes()
    }
    assert changed == {*files, "src/edgetwin/packs/__init__.py"}  # nothing else touched

    stack = Stack(
        tmp_path / "data",
        env={"PYTHONPATH": str(tree / "src"), "EDGETWIN_PACKS": '["greenhouse"]'},
    )
    try:
        stack.start()
        declared = stack.get("/api/v1/device-types/greenhouse.climate")
        assert [m["name"] for m in declared["metrics"]] == ["humidity"]
        assert [c["name"] for c in declared["commands"]] == ["VENT"]

        def humidity() -> float | None:
            for dev in stack.get("/api/v1/devices"):
                if dev["machine"] == "climate-01":
                    return float(dev["metrics"]["humidity"]["value"])
            return None

        before = wait_for(humidity, 30, what="humidity readings stored")
        created = stack.http.post(
            "/api/v1/devices/climate-01/commands", json={"name": "VENT", "ttl_s": 30}
        )
        assert created.status_code in (200, 201), created.text
        cmd_id = created.json()["id"]
        done = wait_for(
            lambda: (
                (c := stack.get(f"/api/v1/devices/climate-01/commands/{cmd_id}"))["state"]
                in ("succeeded", "failed", "expired")
                and c
            ),
            30,
            what="the VENT command to finish",
        )
        assert done["state"] == "succeeded", done
        wait_for(
            lambda: (h := humidity()) is not None and h < before - 5, 15, what="humidity falling"
        )
        with IdentityStore(stack.data_dir) as ids:  # the dashboard needs a session
            code = ids.create_login_code("admin")  # the admin the first start created
        assert stack.http.get("/auth/link", params={"code": code}).status_code == 303
        page = stack.http.get("/greenhouse")
        assert page.status_code == 200
        assert "Greenhouse" in page.text
    finally:
        stack.stop()
