"""`make test` stops at once, with one message naming the install command, on a machine that
lacks Python 3.11+, Node/npm or Chromium."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from backend.dev import prereqs

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "backend" / "dev" / "prereqs.py"


def on_path(*names: str) -> Callable[[str], str | None]:
    return lambda name: f"/usr/bin/{name}" if name in names else None


def test_a_complete_machine_lacks_nothing() -> None:
    assert prereqs.missing((3, 11), True, on_path("node", "npm"), sys.executable) == []


def test_each_missing_piece_is_named_with_its_package(tmp_path: Path) -> None:
    found = prereqs.missing((3, 11), True, on_path(), str(tmp_path / "chromium"))
    assert [m.package for m in found] == ["nodejs", "npm", "chromium"]
    assert [m.package for m in prereqs.missing((3, 9), True, on_path("node", "npm"),
                                               sys.executable)] == ["python3"]  # fmt: skip
    no_venv = prereqs.missing((3, 12), False, on_path("node", "npm"), sys.executable)
    assert [m.package for m in no_venv] == ["python3-venv"]
    # A file that is there but cannot run is no browser.
    (tmp_path / "chromium").write_text("")
    found = prereqs.missing((3, 11), True, on_path("node", "npm"), str(tmp_path / "chromium"))
    assert [m.package for m in found] == ["chromium"]


def test_the_script_stops_with_one_message_naming_the_install_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--chromium", str(tmp_path / "chromium")],
        env={"PATH": str(tmp_path)},  # neither node nor npm on it
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "apt-get install -y nodejs npm chromium" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 3


def test_the_script_is_silent_when_everything_is_there(tmp_path: Path) -> None:
    for tool in ("node", "npm", "chromium"):
        (tmp_path / tool).write_text("#!/bin/sh\n")
        (tmp_path / tool).chmod(0o755)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--chromium", str(tmp_path / "chromium")],
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_an_older_python_can_read_the_script_to_say_it_is_too_old() -> None:
    # Run by the system python3 before .venv exists: new syntax would be a SyntaxError
    # instead of the message.
    ast.parse(SCRIPT.read_text(), feature_version=(3, 8))
    source = SCRIPT.read_text()
    imported = re.findall(r"^(?:from|import) ([\w.]+)", source, re.MULTILINE)
    assert not [m for m in imported if m.split(".")[0] in ("backend", "contract", "pydantic")]


def test_make_test_checks_the_machine_before_it_installs_or_runs_anything() -> None:
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^test: (.*)$", makefile, re.MULTILINE)
    assert target is not None and target.group(1).split()[0] == "prereqs"
    recipe = re.search(r"^prereqs:\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe is not None and "backend/dev/prereqs.py" in recipe.group(1)
