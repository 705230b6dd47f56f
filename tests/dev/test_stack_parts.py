"""The stack's building blocks: Procfile commands, port choice, public URLs, the stand-in
registry's rules (so a bad entry fails here, not in someone's `make run`)."""

from __future__ import annotations

import asyncio
import importlib
import io
import socket
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from backend.dev import processes, stack
from backend.dev.database import ensure_database, normalise, with_database
from backend.sandbox.registry import STAND_INS, StandIn
from tests.conftest import NAMESPACE, WORKER


def test_procfile_names_the_three_processes() -> None:
    commands = stack.procfile()
    assert set(stack.APP_PROCESSES) <= commands.keys()
    assert "backend.app:create_app" in commands["api"]
    assert "web.app:create_app" in commands["web"]


def test_busy_preferred_port_falls_back_to_a_free_one() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        chosen = processes.pick_port(taken)
    assert chosen != taken
    assert processes.pick_port(chosen) == chosen


def test_loopback_public_urls_follow_the_chosen_port_but_tunnels_stay() -> None:
    local = "http://127.0.0.1:50123"
    assert stack._public(None, local) == local
    assert stack._public("http://127.0.0.1:8000", local) == local
    assert stack._public("https://pay.example.ngrok.app", local) == "https://pay.example.ngrok.app"


def test_stand_in_urls_and_environment_derive_from_its_base_url() -> None:
    entry = StandIn(
        name="bitcoin",
        app="backend.sandbox.bitcoin:create_app",
        urls={"rpc": "/", "sim": "/_sim"},
        env={"BITCOIN_RPC_URL": "rpc"},
    )
    assert entry.resolve("http://127.0.0.1:9000") == {
        "rpc": "http://127.0.0.1:9000/",
        "sim": "http://127.0.0.1:9000/_sim",
    }
    assert entry.environment("http://127.0.0.1:9000") == {
        "BITCOIN_RPC_URL": "http://127.0.0.1:9000/"
    }


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"name": "Bitcoin"}, "lower_snake_case"),
        ({"app": "backend.sandbox.bitcoin"}, "module:function"),
        ({"env": {"bitcoin_url": "api"}}, "env var name"),
        ({"env": {"BITCOIN_URL": "rpc"}}, "unknown url"),
        ({"urls": {"api": "_sim"}}, "must start with '/'"),
    ],
)
def test_malformed_stand_in_entries_are_refused(fields: dict, complaint: str) -> None:
    base = {"name": "bitcoin", "app": "backend.sandbox.bitcoin:create_app"}
    with pytest.raises(ValueError, match=complaint):
        StandIn(**(base | fields))


def test_registered_stand_ins_fit_together_and_import() -> None:
    reserved = {"api", "web", "logins", "anvil", "postgres", "redis", "stack"}
    names = [entry.name for entry in STAND_INS]
    variables = [variable for entry in STAND_INS for variable in entry.env]
    assert len(names) == len(set(names)), "two stand-ins share a name"
    assert not reserved & set(names), "a stand-in name collides with a stack.json key"
    assert len(variables) == len(set(variables)), "two stand-ins set the same variable"
    for entry in STAND_INS:
        module, _, function = entry.app.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), entry.app


async def _stamp(url: str, revisions: list[str]) -> None:
    engine = create_async_engine(normalise(url))
    async with engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        )
        for revision in revisions:
            await conn.execute(text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})
    await engine.dispose()


def test_a_database_from_other_migrations_stops_the_stack_with_a_way_out(
    tmp_path: Path, service_urls: tuple[str, str]
) -> None:
    # var/dev from before the migrations were chained had one head per area; make run
    # died on alembic's "overlaps with other requested revisions" and nothing more.
    url = with_database(service_urls[0], f"qpeapay_stale{NAMESPACE}_{WORKER}")
    ensure_database(url, drop=True)
    asyncio.run(_stamp(url, ["0002", "0003"]))
    dev = stack.Stack(tmp_path, processes.Console(io.StringIO()), env={"DATABASE_URL": url})
    with pytest.raises(stack.StackError, match=r"do not fit this checkout's.*DATABASE_URL"):
        asyncio.run(dev.start_database())
