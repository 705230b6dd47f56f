"""`python -m backend.keys init|restore|rotate|prune|status`: the master seed's ceremonies.

Nothing here prints or logs key material: `init` reports the seed's public fingerprint
only. The backup of a deployment's funds is the database (the sealed seed) together with
KEYS_SECRET; `restore` re-creates the seed from a BIP-39 phrase read from stdin.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from backend import logs
from backend.db import create_engine, create_sessionmaker, unit_of_work
from backend.errors import QpeapayError
from backend.keys import signer
from backend.settings import Settings, get_settings

Command = Callable[[AsyncSession, Settings], Awaitable[str]]


async def _init(session: AsyncSession, settings: Settings) -> str:
    info = await signer.create_seed(session, settings)
    return f"master seed {info.fingerprint} created, sealed under secret version {info.version}"


async def _restore(session: AsyncSession, settings: Settings) -> str:
    if sys.stdin.isatty():
        phrase = getpass.getpass("BIP-39 phrase (not echoed): ")
    else:
        phrase = sys.stdin.readline()
    info = await signer.create_seed(session, settings, mnemonic=phrase)
    return f"master seed {info.fingerprint} restored, sealed under secret version {info.version}"


async def _rotate(session: AsyncSession, settings: Settings) -> str:
    info = await signer.rotate(session, settings)
    return (
        f"master seed {info.fingerprint} sealed under secret version {info.version}; "
        "restart every process with the new KEYS_SECRET, then run `prune`"
    )


async def _prune(session: AsyncSession, settings: Settings) -> str:
    removed = await signer.prune(session, settings)
    versions = ", ".join(map(str, removed)) or "none"
    return f"removed copies sealed under secret versions: {versions}"


async def _status(session: AsyncSession, settings: Settings) -> str:
    info = await signer.status(session, settings)
    return f"master seed {info.fingerprint} opens with secret version {info.version}"


COMMANDS: dict[str, tuple[Command, str]] = {
    "init": (_init, "create the deployment's master seed (once)"),
    "restore": (_restore, "create the master seed from a BIP-39 phrase on stdin"),
    "rotate": (_rotate, "re-seal the seed under KEYS_SECRET (old secret: KEYS_PREVIOUS_SECRET)"),
    "prune": (_prune, "delete copies sealed under older secrets"),
    "status": (_status, "check that KEYS_SECRET opens the seed"),
}


async def run(command: str, settings: Settings) -> str:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            return await COMMANDS[command][0](session, settings)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.keys", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text)
    args = parser.parse_args(argv)
    settings = get_settings()
    logs.configure(settings.log_level, settings.log_json)
    try:
        print(asyncio.run(run(args.command, settings)))
    except QpeapayError as error:
        print(f"keys {args.command}: {error.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
