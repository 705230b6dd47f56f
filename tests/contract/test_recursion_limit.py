"""Every process runs at the interpreter's default recursion limit, whatever its imports
would set: at a raised limit deeply nested input overflows the C stack (SIGSEGV) instead of
raising RecursionError."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def recursion_limit_after(*statements: str) -> int:
    code = "; ".join([*statements, "import sys", "print(sys.getrecursionlimit())"])
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return int(done.stdout.split()[-1])


@pytest.fixture(scope="module")
def interpreter_default() -> int:
    return recursion_limit_after()


def test_a_dependency_raises_the_limit_on_import(interpreter_default: int) -> None:
    """What the guard is for: if this stops being true the guard may go."""
    assert recursion_limit_after("import py_ecc") > interpreter_default


# Every runtime dependency (pyproject.toml), by the module name it is imported as.
DEPENDENCIES = (
    "starlette", "uvicorn", "sqlalchemy", "asyncpg", "alembic", "pydantic", "pydantic_settings",
    "arq", "redis", "jinja2", "sse_starlette", "authlib", "joserfc", "argon2", "cryptography",
    "bip_utils", "bitcoinrpc", "web3", "eth_account", "tronpy", "httpx", "orjson", "segno",
    "phonenumbers", "structlog", "prometheus_client", "pyotp", "limits", "multipart",
)  # fmt: skip


def test_no_dependency_imported_after_contract_moves_the_limit(interpreter_default: int
                                                               ) -> None:  # fmt: skip
    """A dependency that starts raising the limit shows up here: add it to RAISES_THE_LIMIT."""
    imports = [f"import {name}" for name in DEPENDENCIES]
    assert recursion_limit_after("import contract", *imports) == interpreter_default


@pytest.mark.parametrize(
    "imports",
    [
        "import backend.app",
        "import web.app",
        "import workers.main",
        # The order does not matter: the guard undoes an import that came before it, and
        # one that comes after finds py_ecc already loaded.
        "import web3, eth_account, py_ecc, contract",
        "import contract, web3, eth_account, py_ecc",
    ],
)
def test_every_process_runs_at_the_interpreter_default(imports: str, interpreter_default: int
                                                       ) -> None:  # fmt: skip
    assert recursion_limit_after(imports) == interpreter_default
