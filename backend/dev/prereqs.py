"""What `make test` needs from the machine before it installs anything: Python 3.11+ with
venv support, Node with npm, and Chromium at /usr/bin/chromium for the browser tests.

Run by the interpreter that will create `.venv` (`python3 backend/dev/prereqs.py`), before
any dependency of ours is installed, so it imports only the standard library and stays
readable by an older Python: a machine with Python 3.9 must get this message, not a
syntax error. Prints one message naming everything missing and the command that installs
it, and exits 1; prints nothing and exits 0 when all is there.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass

CHROMIUM = "/usr/bin/chromium"
MIN_PYTHON = (3, 11)


@dataclass(frozen=True)
class Missing:
    what: str  # what the person reads
    package: str  # the Debian/Ubuntu package that provides it


def missing(
    python: tuple[int, int],
    has_venv: bool,
    which: Callable[[str], str | None],
    chromium: str,
) -> list[Missing]:
    """Everything `make test` needs that this machine lacks, in install order."""
    found: list[Missing] = []
    if python < MIN_PYTHON:
        found.append(Missing(f"Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ (this is "
                             f"{python[0]}.{python[1]})", "python3"))  # fmt: skip  # kept compact
    elif not has_venv:
        found.append(Missing("Python's venv module", "python3-venv"))
    if which("node") is None:
        found.append(Missing("Node.js", "nodejs"))
    if which("npm") is None:
        found.append(Missing("npm", "npm"))
    if not (os.path.isfile(chromium) and os.access(chromium, os.X_OK)):
        found.append(Missing(f"Chromium at {chromium} (the browser tests drive it)", "chromium"))
    return found


def message(found: list[Missing]) -> str:
    packages = " ".join(dict.fromkeys(m.package for m in found))
    lines = [
        f"make test needs {', '.join(m.what for m in found)}.",
        f"Install with: sudo apt-get install -y {packages}",
        "(or run .ci/run, which installs them and then runs make test)",
    ]
    return "\n".join(lines)


def _has_venv() -> bool:
    # Debian's python3 ships `venv` without `ensurepip`, which python3-venv adds.
    return all(importlib.util.find_spec(name) is not None for name in ("ensurepip", "venv"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default=CHROMIUM, help="where Chromium must be")
    args = parser.parse_args(argv)
    version = (sys.version_info[0], sys.version_info[1])
    found = missing(version, _has_venv(), shutil.which, args.chromium)
    if found:
        print(message(found), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
