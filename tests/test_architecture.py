"""Team rules a linter can check, read from the source's syntax trees: the dependency
direction between packages (contract ← backend ← workers; contract ← web), no float in
money code (contract/ and backend/), outside systems reached only through connectors,
statuses changed only by backend.machine.transition, no `assert` in production code, no lint
or type suppression without its reason, and documentation that lives in the repository: no
file cites a design text kept elsewhere, and every `docs/….md#anchor` cited resolves."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package → the packages of ours it must never import (docs/architecture.md#dependency-rule).
FORBIDDEN: dict[str, frozenset[str]] = {
    "contract": frozenset({"backend", "web", "workers", "tests"}),
    "backend": frozenset({"web", "workers", "tests"}),
    "web": frozenset({"backend", "workers", "tests"}),
    "workers": frozenset({"web", "tests"}),
}

MONEY_CODE = ("contract", "backend")
PRODUCTION = ("backend", "web", "workers", "contract")
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


# ------------------------------------------------------------------------- documentation

# Design texts kept outside the repository.
OUTSIDE_DOCS = re.compile(r"\b(?:DESIGN|STYLE)\.md\b|(?<![\w./-])reference/[\w./-]*")
# `docs/<page>.md` with an optional `#anchor`, wherever it is cited (docstrings, comments).
DOC_CITATION = re.compile(r"(?<![\w./-])(docs/[\w./-]+?\.md)(?:#([\w-]+))?")
# Relative links inside Markdown: `[text](wire-formats.md#tron-http-api)`, `[x](#events)`.
MARKDOWN_LINK = re.compile(r"\]\((?!https?:|mailto:)([^)\s#]*)(?:#([^)\s]+))?\)")
SKIPPED_DIRS = frozenset(
    {".git", ".venv", "node_modules", "var", "__pycache__", ".mypy_cache", ".ruff_cache",
     ".pytest_cache", ".hypothesis", "build"}
)  # fmt: skip


def repository_files() -> list[Path]:
    """Every file the repository holds (tracked or new), text or not."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: walk the tree
        return [
            file
            for file in ROOT.rglob("*")
            if file.is_file() and not SKIPPED_DIRS.intersection(file.relative_to(ROOT).parts)
        ]


def text_files() -> Iterator[tuple[str, str]]:
    """Every text file but this one, whose examples are the citations the rules must catch."""
    for file in repository_files():
        if file == Path(__file__).resolve():
            continue
        try:
            text = file.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        yield file.relative_to(ROOT).as_posix(), text


def anchors(markdown: str) -> set[str]:
    """The anchors a Markdown page's headings get: lower case, punctuation dropped, spaces
    to hyphens, a repeat numbered (`-1`, `-2`), as GitHub renders them."""
    found: set[str] = set()
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fenced or heading is None:
            continue
        text = re.sub(r"[`*_]|\[([^]]*)\]\([^)]*\)", r"\1", heading.group(1)).strip().lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        unique, n = slug, 0
        while unique in found:
            n += 1
            unique = f"{slug}-{n}"
        found.add(unique)
    return found


def outside_citations(path: str, text: str) -> list[Finding]:
    lines = text.splitlines()
    return [
        Finding(path, number, lines[number - 1].strip(), f"cites {match.group(0)}")
        for number in range(1, len(lines) + 1)
        for match in OUTSIDE_DOCS.finditer(lines[number - 1])
    ]


def broken_citations(path: str, text: str, pages: dict[str, str]) -> list[Finding]:
    """`docs/….md#anchor` citations (anywhere) and relative Markdown links (in .md files)
    whose page or anchor does not exist."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        cited = [(m.group(1), m.group(2)) for m in DOC_CITATION.finditer(line)]
        if path.endswith(".md"):
            for m in MARKDOWN_LINK.finditer(line):
                target = m.group(1)
                if target:
                    target = (Path(path).parent / target).as_posix().removeprefix("./")
                    target = Path(target).as_posix()
                cited.append((target or path, m.group(2)))
        for page, anchor in cited:
            if page not in pages and not (ROOT / page).exists():
                found.append(Finding(path, number, line.strip(), f"{page} does not exist"))
            elif anchor and page.endswith(".md") and anchor not in anchors(pages.get(page, "")):
                found.append(Finding(path, number, line.strip(), f"{page} has no #{anchor}"))
    return found


def test_no_file_cites_design_texts_kept_outside_the_repository() -> None:
    found = [f for path, text in text_files() for f in outside_citations(path, text)]
    assert not found, (
        "the design lives in docs/ (docs/architecture.md, docs/wire-formats.md); cite those:\n"
        + "\n".join(map(str, found))
    )


def test_every_cited_docs_page_and_anchor_exists() -> None:
    files = dict(text_files())
    pages = {path: text for path, text in files.items() if path.endswith(".md")}
    assert "docs/architecture.md" in pages and "docs/wire-formats.md" in pages
    found = [f for path, text in files.items() for f in broken_citations(path, text, pages)]
    assert not found, "citations that lead nowhere:\n" + "\n".join(map(str, found))


@pytest.mark.parametrize(
    ("line", "caught"),
    [
        ("Rounding (DESIGN.md §4): up for the customer", True),
        ("# see STYLE.md", True),
        ("Speaks reference/chains.md §4", True),
        ("Speaks docs/wire-formats.md#tron-http-api", False),
        ("a cross-reference/link in prose", False),
        ("static/reference/x.svg", False),
    ],
)
def test_the_outside_citation_rule_catches_citations(line: str, caught: bool) -> None:
    assert bool(outside_citations("backend/x.py", line)) is caught


@pytest.mark.parametrize(
    ("path", "line", "caught"),
    [
        ("backend/x.py", "(docs/architecture.md#rounding)", False),
        ("backend/x.py", "(docs/architecture.md#no-such-section)", True),
        ("backend/x.py", "see docs/nowhere.md", True),
        ("docs/architecture.md", "[wire formats](wire-formats.md#tron-http-api)", False),
        ("docs/architecture.md", "[wire formats](wire-formats.md#bitcoin)", True),
        ("docs/architecture.md", "[events](#events)", False),
        ("docs/architecture.md", "[events](#the-events)", True),
        ("README.md", "[design](docs/architecture.md#money-and-the-ledger)", False),
        ("README.md", "[site](https://example.com/x.md#y)", False),
    ],
)
def test_the_citation_rule_catches_dead_links(path: str, line: str, caught: bool) -> None:
    pages = {
        "docs/architecture.md": "# A\n## Money and the ledger\n### Rounding\n## Events\n",
        "docs/wire-formats.md": "# W\n## Tron HTTP API\n",
    }
    assert bool(broken_citations(path, line, pages)) is caught


def test_anchors_follow_githubs_rule() -> None:
    page = (
        "# Qpeapay\n## Money and the ledger\n## Tron HTTP API\n"
        "```\n# not a heading\n```\n## Events\n## Events\n"
    )
    assert anchors(page) == {
        "qpeapay", "money-and-the-ledger", "tron-http-api", "events", "events-1"
    }  # fmt: skip


# ------------------------------------------------------------------ outside systems

# Libraries that talk to a chain or over HTTP. Only backend/connectors may use them (plus
# the exceptions below), so every call to an outside system gets the connector's retries,
# timeouts and error mapping.
OUTSIDE_CLIENTS = frozenset(
    {"tronpy", "web3", "bitcoinrpc", "hexbytes", "httpx", "httpcore", "requests", "aiohttp"}
    | {"urllib3", "websockets", "urllib.request", "http.client"}
)
OUTSIDE_CLIENT_PREFIXES = ("eth_",)  # eth_account, eth_utils, eth_abi, eth_typing ...
# Where else they may be imported, and why.
OUTSIDE_CLIENTS_ALLOWED: dict[str, str] = {
    "backend/connectors/": "the one place that talks to outside systems",
    "backend/sandbox/": "the stand-ins serve and drive the outside systems' wire formats",
    "backend/dev/": "the dev stack starts local processes and waits for them over HTTP",
    "backend/keys/signer.py": "signs with eth_account in the one process that holds keys; "
    "a connector would have to see the private key",
    # The web app's one outside system is our API: its typed client, the pool it holds and
    # the app that opens it (page modules call web/client.py).
    "web/client.py": "the web app's typed client of our API",
    "web/runtime.py": "holds the web app's HTTP pool to our API",
    "web/app.py": "opens that pool (and takes a transport for tests)",
}


def _is_outside_client(module: str) -> bool:
    return (
        module in OUTSIDE_CLIENTS
        or module.split(".")[0] in OUTSIDE_CLIENTS
        or any(module.startswith(prefix) for prefix in OUTSIDE_CLIENT_PREFIXES)
        or any(module.startswith(name + ".") for name in OUTSIDE_CLIENTS)
    )


def outside_client_imports() -> list[Finding]:
    return [
        Finding(path, line, lines[line - 1].strip(), f"imports {module}")
        for path, tree, lines in sources(*PRODUCTION)
        if not any(path.startswith(place) for place in OUTSIDE_CLIENTS_ALLOWED)
        for line, module in imported_modules(path, tree)
        if _is_outside_client(module)
    ]


def test_only_connectors_reach_outside_systems() -> None:
    found = outside_client_imports()
    assert not found, (
        "reach chains and HTTP services through backend/connectors (add the call there):\n"
        + "\n".join(map(str, found))
    )


@pytest.mark.parametrize(
    ("code", "caught"),
    [
        ("import httpx", True),
        ("from tronpy.exceptions import ApiError", True),
        ("from eth_utils.address import to_checksum_address", True),
        ("import urllib.request", True),
        ("from web3 import AsyncWeb3", True),
        ("from urllib.parse import urlsplit", False),
        ("from backend.connectors.tron import TronConnector", False),
        ("import ethics", False),
    ],
)
def test_the_outside_client_rule_catches_imports(code: str, caught: bool) -> None:
    modules = [m for _, m in imported_modules("backend/x.py", ast.parse(code))]
    assert any(_is_outside_client(m) for m in modules) is caught, modules


# -------------------------------------------------------------------------- asserts


def asserts_in(tree: ast.Module) -> list[int]:
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]


def test_no_assert_in_production_code() -> None:
    found = [
        Finding(path, line, lines[line - 1].strip(), "assert")
        for path, tree, lines in sources(*PRODUCTION)
        for line in asserts_in(tree)
    ]
    assert not found, (
        "`python -O` drops asserts: raise one of our errors (backend.errors.InvariantBroken "
        "for what cannot happen) instead:\n" + "\n".join(map(str, found))
    )


@pytest.mark.parametrize(
    ("code", "caught"),
    [
        ("assert x is not None", True),
        ("def f():\n    if x:\n        assert y, 'why'", True),
        ("if x is None:\n    raise InvariantBroken('x')", False),
        ("assertions = 1", False),
    ],
)
def test_the_assert_rule_catches_asserts(code: str, caught: bool) -> None:
    assert bool(asserts_in(ast.parse(code))) is caught


# --------------------------------------------------------------------- suppressions

SUPPRESSION = re.compile(
    r"#\s*(?:noqa\b(?::\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)?"
    r"|type:\s*ignore\b(?:\[[^\]]*\])?|fmt:\s*(?:skip|off)\b)"
)
# After the suppression: a separator (or a second comment) and at least two words.
REASON = re.compile(r"^\s*(?:[-#:(,;]\s*)?[\w`'\"(][^\s]*\s+\S+")


def unexplained_suppressions(text: str) -> list[tuple[int, str]]:
    """(line, comment) of every noqa / type: ignore / fmt: skip / fmt: off without a reason."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type != tokenize.COMMENT:
            continue
        for match in SUPPRESSION.finditer(token.string):
            rest = SUPPRESSION.sub("", token.string[match.end() :])
            if not REASON.match(rest):
                found.append((token.start[0], token.string))
    return found


def test_every_suppression_says_why() -> None:
    found = [
        Finding(path, line, comment, "suppression without a reason")
        for path, _, lines in sources(*PRODUCTION, "migrations")
        for line, comment in unexplained_suppressions("\n".join(lines) + "\n")
    ]
    assert not found, (
        "say why beside it: `# noqa: S105 - not a secret`, "
        "`# type: ignore[misc]  # redis-py: ...`, `# fmt: skip  # a table`:\n"
        + "\n".join(map(str, found))
    )


@pytest.mark.parametrize(
    ("code", "caught"),
    [
        ("x = 1  # noqa\n", True),
        ("x = 1  # noqa: F401\n", True),
        ("x = 1  # noqa: F401  (tables)\n", True),
        ("x = 1  # noqa: S105 - the scheme name, not a secret\n", False),
        ("x = f()  # type: ignore[misc]\n", True),
        ("x = f()  # type: ignore[misc]  # redis-py types it sync or async\n", False),
        ("x = [1,  2]  # fmt: skip\n", True),
        ("x = [1,  2]  # fmt: skip  # a table, aligned\n", False),
        ("x = [1,  2]  # noqa: E231 # fmt: skip\n", True),
        ("# fmt: off\nx = [1,  2]\n# fmt: on\n", True),
        ("x = '# noqa'\n", False),
    ],
)
def test_the_suppression_rule_wants_reasons(code: str, caught: bool) -> None:
    assert bool(unexplained_suppressions(code)) is caught


def test_every_lint_ignore_says_why() -> None:
    """Each rule switched off in pyproject.toml (globally or per file) carries a comment on
    its line or on the comment lines just above it."""
    lines = (ROOT / "pyproject.toml").read_text().splitlines()
    unexplained, section, above = [], "", False
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
        if section == "[tool.ruff.lint.per-file-ignores]" and "=" in stripped:
            entry = not stripped.startswith("#")
        elif section == "[tool.ruff.lint]" and re.match(r'^"[A-Z]+[0-9]*",', stripped):
            entry = True
        else:
            entry = False
        if entry and "#" not in stripped and not above:
            unexplained.append(f"pyproject.toml:{number}: {stripped}")
        above = stripped.startswith("#") or (above and entry)
    assert not unexplained, "say why a rule is off:\n" + "\n".join(unexplained)


# ------------------------------------------------------------------- state machines


def _chain_calls(node: ast.expr) -> Iterator[ast.Call]:
    """The calls of a method chain, outermost first: `update(T).where(...).values(...)`."""
    while isinstance(node, ast.Call):
        yield node
        func = node.func
        node = func.value if isinstance(func, ast.Attribute) else func


def status_updates(tree: ast.Module) -> list[int]:
    """Lines of `update(...)....values(status=...)`: a status written around the machine."""
    found = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "values"
            and any(k.arg == "status" for k in node.keywords)
        ):
            continue
        for call in _chain_calls(node):
            func = call.func
            if (func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")) == "update":
                found.append(node.lineno)
    return found


def test_statuses_change_only_through_the_machine() -> None:
    found = [
        Finding(path, line, lines[line - 1].strip(), "status UPDATE outside backend/machine.py")
        for path, tree, lines in sources("backend", "workers")
        if path != "backend/machine.py" and not path.startswith("backend/sandbox/")
        for line in status_updates(tree)
    ]
    assert not found, (
        "move a status with backend.machine.transition (ALLOWED, compare-and-set):\n"
        + "\n".join(map(str, found))
    )


@pytest.mark.parametrize(
    ("code", "caught"),
    [
        ("update(Withdrawal).where(Withdrawal.id == i).values(status='failed')", True),
        ("sa.update(T).values(status=to)", True),
        ("update(T).where(x).values(confirmations=3)", False),
        ("insert(Payment).values(status=s)", False),
    ],
)
def test_the_machine_rule_catches_status_updates(code: str, caught: bool) -> None:
    assert bool(status_updates(ast.parse(code))) is caught
