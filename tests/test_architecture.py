"""Team rules a linter can check, read from the source's syntax trees: the dependency
direction between packages (contract ← backend ← workers; contract ← web) and no float in
money code (contract/ and backend/)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package → the packages of ours it must never import (DESIGN.md §3).
FORBIDDEN: dict[str, frozenset[str]] = {
    "contract": frozenset({"backend", "web", "workers", "tests"}),
    "backend": frozenset({"web", "workers", "tests"}),
    "web": frozenset({"backend", "workers", "tests"}),
    "workers": frozenset({"web", "tests"}),
}

MONEY_CODE = ("contract", "backend")
FLOAT_COLUMN_TYPES = frozenset({"Float", "FLOAT", "Double", "DOUBLE", "DOUBLE_PRECISION", "REAL"})
# A float named for its unit of time (`timeout_s`, `poll_seconds`, `ping_ms`) is a duration,
# which asyncio and httpx take as float; the name says it is not money.
DURATION = re.compile(r"(_s|_seconds|_ms)$")
# Any other float needs this on its line, with the reason: `# float-ok: <why it is not money>`.
FLOAT_OK = re.compile(r"#\s*float-ok:\s*\S+\s+\S+\s+\S+")

# Lines in files this test's owner may not edit, explained here instead of inline.
FLOAT_ALLOWED: dict[tuple[str, str], str] = {
    ("backend/system/service.py", "async def heartbeat_age(redis: Redis) -> float | None:"):
        "seconds since the worker's heartbeat, a duration, not money",
    (
        "backend/system/service.py",
        "return None if value is None else max(0.0, time.time() - float(value))",
    ): "parses the heartbeat's time.time() stamp, a duration, not money",
    (
        "backend/dev/embedded.py",
        'def wait_for_port(port: int, timeout: float = 30.0, host: str = "127.0.0.1") -> None:',
    ): "a wait in seconds for a local server to start",
    ("backend/dev/stack.py", "def banner(self, ready_in: float) -> str:"):
        "how many seconds the dev stack took to start",
}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    source: str
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}: {self.source}"


def sources(*packages: str) -> Iterator[tuple[str, ast.Module, list[str]]]:
    for package in packages:
        for file in sorted((ROOT / package).rglob("*.py")):
            text = file.read_text()
            yield file.relative_to(ROOT).as_posix(), ast.parse(text, str(file)), text.splitlines()


def imported_modules(path: str, tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every module a file imports: plain, from-, relative (resolved), and importlib calls."""
    package_parts = path.removesuffix(".py").split("/")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield node.lineno, module
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


def import_violations() -> list[Finding]:
    found = []
    for path, tree, lines in sources(*FORBIDDEN):
        forbidden = FORBIDDEN[path.split("/")[0]]
        for line, module in imported_modules(path, tree):
            if module.split(".")[0] in forbidden:
                what = f"{path.split('/')[0]} imports {module}"
                found.append(Finding(path, line, lines[line - 1].strip(), what))
    return found


def _annotation_names_float(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return False
    return any(isinstance(n, ast.Name) and n.id == "float" for n in ast.walk(annotation))


def _float_uses(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "float":
                yield node.lineno, "float() call"
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            every += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
            for argument in every:
                if _annotation_names_float(argument.annotation) and not DURATION.search(
                    argument.arg
                ):
                    yield argument.lineno, f"float annotation on {argument.arg}"
            if _annotation_names_float(node.returns) and not DURATION.search(node.name):
                yield node.lineno, f"{node.name} returns float"
        elif isinstance(node, ast.AnnAssign) and _annotation_names_float(node.annotation):
            target = node.target
            name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")
            if not DURATION.search(name):
                yield node.lineno, f"float annotation on {name}"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            for alias in node.names:
                if alias.name in FLOAT_COLUMN_TYPES:
                    yield node.lineno, f"floating-point column type {alias.name}"
        elif isinstance(node, ast.Attribute) and node.attr in FLOAT_COLUMN_TYPES:
            yield node.lineno, f"floating-point column type {node.attr}"


def float_findings() -> list[Finding]:
    """Floats in money code that no `# float-ok:` comment explains."""
    return [
        Finding(path, line, lines[line - 1].strip(), what)
        for path, tree, lines in sources(*MONEY_CODE)
        for line, what in _float_uses(tree)
        if not FLOAT_OK.search(lines[line - 1])
    ]


def test_packages_import_only_in_the_allowed_direction() -> None:
    violations = import_violations()
    assert not violations, "imports across the dependency rule:\n" + "\n".join(map(str, violations))


def test_no_float_in_money_code() -> None:
    unexplained = [f for f in float_findings() if (f.path, f.source) not in FLOAT_ALLOWED]
    assert not unexplained, (
        "money is Decimal, never float; if a float is truly not money, name it for its unit "
        "(`_s`, `_ms`) or end its line with `# float-ok: <why>`:\n"
        + "\n".join(map(str, unexplained))
    )


# The checks themselves must catch what they claim to, or the two tests above prove nothing.
@pytest.mark.parametrize(
    ("path", "code", "caught"),
    [
        ("web/pages.py", "import backend.db", True),
        ("web/pages.py", "from backend import errors", True),
        ("web/pages.py", "importlib.import_module('workers.main')", True),
        ("web/pages.py", "from contract.money import Money", False),
        ("contract/money.py", "from ..web import app", True),
        ("contract/money.py", "from .ids import new_id", False),
        ("contract/money.py", "from tests.conftest import x", True),
        ("backend/ledger/service.py", "def f():\n    from workers import main", True),
        ("backend/ledger/service.py", "from ..db import Base", False),
        ("workers/main.py", "from backend.queue import x", False),
        ("workers/main.py", "import web.app", True),
    ],
)
def test_the_import_rule_catches_crossings(path: str, code: str, caught: bool) -> None:
    forbidden = FORBIDDEN[path.split("/")[0]]
    modules = [m for _, m in imported_modules(path, ast.parse(code))]
    assert any(m.split(".")[0] in forbidden for m in modules) is caught, modules


@pytest.mark.parametrize(
    ("code", "caught"),
    [
        ("x = float(amount)", True),
        ("def f(amount: float) -> None: ...", True),
        ("def f(*, rate: 'float | None' = None): ...", True),
        ("def f() -> list[float]: ...", True),
        ("fee: float = 0", True),
        ("from sqlalchemy import Float", True),
        ("amount = mapped_column(sa.Double)", True),
        ("def f(timeout_s: float, poll_ms: float) -> None: ...", False),
        ("def elapsed_s() -> float: ...", False),
        ("interval_s: float = 0.5", False),
        ("self.rate: float = 1", True),
        ("x = float(v)  # float-ok: a ratio shown in a benchmark, not money", False),
        ("x = float(v)  # float-ok: fine", True),
        ("x = Decimal(amount)", False),
        ("if isinstance(value, float): raise ValueError", False),
        ("from sqlalchemy import Numeric", False),
    ],
)
def test_the_float_rule_catches_floats(code: str, caught: bool) -> None:
    lines = code.splitlines()
    uses = [n for n, _ in _float_uses(ast.parse(code)) if not FLOAT_OK.search(lines[n - 1])]
    assert bool(uses) is caught
