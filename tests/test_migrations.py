"""Migrations form one line, build exactly the schema the models declare, and unwind."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from backend.dev.database import ROOT, ensure_database, migrate, with_database
from backend.settings import Settings
from tests.conftest import NAMESPACE, WORKER


def _config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url
    return config


def test_revisions_form_a_single_line() -> None:
    script = ScriptDirectory.from_config(_config("postgresql+asyncpg://unused/none"))
    assert len(script.get_heads()) == 1
    for revision in script.walk_revisions():
        assert revision.down_revision is None or isinstance(revision.down_revision, str)
        assert not revision.dependencies


def test_models_match_the_migrated_schema_and_downgrade_unwinds_it(settings: Settings) -> None:
    url = with_database(settings.database_url, f"qpeapay_migrations{NAMESPACE}_{WORKER}")
    ensure_database(url, drop=True)
    migrate(url)
    command.check(_config(url))  # raises if the models declare anything not migrated
    command.downgrade(_config(url), "base")
    migrate(url)
    command.check(_config(url))


# network → (an address, its match key: output script or 20-byte account, in hex)
ADDRESSES = {
    "bitcoin": (
        "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
        "0014751e76e8199196d454941c45d1b3a323f1433bd6",
    ),
    "ethereum": (
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "70997970c51812dc3a010c7d01b50e0d17dc79c8",
    ),
    "tron": ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "a614f803b6fd780986a42c78ec9c7f77e6ded13c"),
}


async def _insert_addresses(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for network, (address, _) in ADDRESSES.items():
                values = {"network": network, "address": address, "id": f"adr_{network}"}
                await conn.execute(
                    text(
                        "INSERT INTO key_accounts (network, coin, path, xpub)"
                        " VALUES (:network, 'c', 'm/0', 'x')"
                    ),
                    values,
                )
                await conn.execute(
                    text(
                        "INSERT INTO chain_addresses"
                        " (id, network, derivation_index, address, purpose, owner_id)"
                        " VALUES (:id, :network, 0, :address, 'deposit', 'usr_a')"
                    ),
                    values,
                )
    finally:
        await engine.dispose()


async def _match_keys(url: str) -> dict[str, str | None]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT network, match_key FROM chain_addresses"))
            return {row.network: row.match_key for row in rows}
    finally:
        await engine.dispose()


def test_the_watch_migration_gives_every_existing_address_its_match_key(
    settings: Settings,
) -> None:
    url = with_database(settings.database_url, f"qpeapay_migrations{NAMESPACE}_{WORKER}_keys")
    ensure_database(url, drop=True)
    migrate(url, "0009_accounts")
    asyncio.run(_insert_addresses(url))

    migrate(url)

    assert asyncio.run(_match_keys(url)) == {n: key for n, (_, key) in ADDRESSES.items()}
