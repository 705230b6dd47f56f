"""`python -m backend.keys init|restore|rotate|prune|status`: the master seed's ceremonies.

The backup of a deployment's funds is the database (the sealed seed) together with
KEYS_SECRET. `init` can also show the 24 recovery words once, for a paper backup, and take
an optional BIP-39 passphrase; `restore` re-creates the sealed seed from those words (and
that passphrase) in an empty database. Words and passphrase are shown or read here only:
never logged, never in an error; the commands report the seed's public fingerprint and the
first address of each network, which is how an operator tells a restore is right.

    init    [--show-words [--yes]] [--passphrase]
    restore [--passphrase] [--expect-fingerprint HEX]

Without a terminal, `--show-words` needs `--yes` (the words go to standard output), the
words to restore are the first line of standard input, and `--passphrase` reads it from
the KEYS_PASSPHRASE environment variable.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend import logs
from backend.db import create_engine, create_sessionmaker, unit_of_work
from backend.errors import QpeapayError
from backend.keys import service, signer
from backend.keys.errors import KeysError, KeysMisconfigured, SeedExists
from backend.settings import Settings, get_settings

PASSPHRASE_ENV = "KEYS_PASSPHRASE"  # noqa: S105 - the name of a variable, not its value
QUIZ_WORDS = 3  # how many words, by position, prove the paper backup was written down
_CLEAR_SCREEN = "\033[2J\033[3J\033[H"

Sessions = async_sessionmaker[AsyncSession]
Command = Callable[[Sessions, Settings, argparse.Namespace, "Console"], Awaitable[str]]


class CeremonyAborted(KeysError):
    code = "ceremony_aborted"
    message = "Stopped: nothing was created."


@dataclass
class Console:
    """Where a ceremony talks to the operator; a terminal unless tests or automation say not."""

    interactive: bool
    ask: Callable[[str], str] = input
    secret: Callable[[str], str] = getpass.getpass
    say: Callable[[str], None] = print
    read_line: Callable[[], str] = sys.stdin.readline

    @classmethod
    def terminal(cls) -> Console:
        return cls(interactive=sys.stdin.isatty() and sys.stdout.isatty())


def _passphrase(args: argparse.Namespace, console: Console) -> str:
    """The BIP-39 passphrase asked for with --passphrase: typed twice without echo, or from
    KEYS_PASSPHRASE. One set without the flag is a mistake, not something to guess about."""
    from_env = os.environ.get(PASSPHRASE_ENV)
    if not args.passphrase:
        if from_env:
            raise CeremonyAborted(f"{PASSPHRASE_ENV} is set: add --passphrase to use it.")
        return ""
    if from_env:
        return from_env
    if not console.interactive:
        raise CeremonyAborted(f"--passphrase without a terminal reads {PASSPHRASE_ENV}: set it.")
    first = console.secret("BIP-39 passphrase (not echoed): ")
    if not first:
        raise CeremonyAborted("An empty passphrase: leave out --passphrase instead.")
    if console.secret("The passphrase again: ") != first:
        raise CeremonyAborted("The two passphrases differ.")
    return first


async def _ensure_no_seed(sessions: Sessions) -> None:
    # Checked before any words are shown: words for a seed that is never stored are a trap.
    async with unit_of_work(sessions) as session:
        if await signer.seed_exists(session):
            raise SeedExists()


def _wants_words(args: argparse.Namespace, console: Console) -> bool:
    if args.show_words and args.yes:
        return True
    if not console.interactive:
        if args.show_words:
            raise CeremonyAborted(
                "--show-words prints the recovery words: run it on a terminal, or add --yes "
                "to send them to standard output."
            )
        return False
    answer = console.ask(
        "Show the 24 recovery words now, for a paper backup? They are shown once. Type YES: "
    )
    return answer.strip() == "YES"


def _show(words: list[str], console: Console) -> None:
    rows = [
        "   ".join(f"{i + 1:>2}. {words[i]:<9}" for i in range(row, len(words), 6)).rstrip()
        for row in range(6)
    ]
    console.say(
        "\nRecovery words: write them down in this order, on paper, and keep them apart from "
        "the database backup and KEYS_SECRET. With the passphrase (if any), they open every "
        "address of this deployment.\n\n" + "\n".join(rows) + "\n"
    )


def _quiz(words: list[str], console: Console) -> None:
    """Clear the words from the screen, then ask some back: proof they are on paper."""
    console.ask("Press Enter once all of them are written down; the screen is then cleared.")
    console.say(_CLEAR_SCREEN)
    positions = sorted(secrets.SystemRandom().sample(range(len(words)), QUIZ_WORDS))
    console.say("To check the paper copy, type these words back from it.")
    for position in positions:
        if console.ask(f"Word #{position + 1}: ").strip().lower() != words[position]:
            raise CeremonyAborted(
                f"That is not word #{position + 1}. Nothing was created: run init again and "
                "write the new words down."
            )


async def _report(sessions: Sessions, settings: Settings, info: signer.SeedInfo, verb: str) -> str:
    async with unit_of_work(sessions) as session:
        first = await service.first_addresses(session, settings)
    lines = [
        f"master seed {info.fingerprint} {verb}, sealed under secret version {info.version}",
        *(f"first {network} address: {address}" for network, address in first.items()),
    ]
    return "\n".join(lines)


async def init(
    sessions: Sessions, settings: Settings, args: argparse.Namespace, console: Console
) -> str:
    await _ensure_no_seed(sessions)
    passphrase = _passphrase(args, console)
    words = signer.RecoveryWords()
    shown = _wants_words(args, console)
    if shown:
        _show(words.reveal(), console)
        if console.interactive and not args.yes:
            _quiz(words.reveal(), console)
    async with unit_of_work(sessions) as session:
        info = await signer.create_seed(session, settings, mnemonic=words, passphrase=passphrase)
    report = await _report(sessions, settings, info, "created")
    if shown:
        report += (
            "\nRestore with `python -m backend.keys restore --passphrase`: the words alone "
            "give other addresses."
            if passphrase
            else "\nRestore with `python -m backend.keys restore`."
        )
    return report


async def restore(
    sessions: Sessions, settings: Settings, args: argparse.Namespace, console: Console
) -> str:
    await _ensure_no_seed(sessions)
    if console.interactive:
        phrase = console.secret("Recovery words, in order, separated by spaces (not echoed): ")
    else:
        phrase = console.read_line()
    passphrase = _passphrase(args, console)
    async with unit_of_work(sessions) as session:
        info = await signer.create_seed(session, settings, mnemonic=phrase, passphrase=passphrase)
        expected = args.expect_fingerprint
        if expected and info.fingerprint != expected.lower():
            # Raised inside the transaction: nothing is stored.
            raise KeysMisconfigured(
                f"These words give seed {info.fingerprint}, not {expected.lower()}: check the "
                "words and the passphrase. Nothing was stored."
            )
    return await _report(sessions, settings, info, "restored")


async def _in_one_transaction(
    sessions: Sessions,
    settings: Settings,
    act: Callable[[AsyncSession, Settings], Awaitable[str]],
) -> str:
    async with unit_of_work(sessions) as session:
        return await act(session, settings)


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


def _simple(act: Callable[[AsyncSession, Settings], Awaitable[str]]) -> Command:
    async def command(
        sessions: Sessions, settings: Settings, _: argparse.Namespace, __: Console
    ) -> str:
        return await _in_one_transaction(sessions, settings, act)

    return command


COMMANDS: dict[str, tuple[Command, str]] = {
    "init": (init, "create the deployment's master seed (once); optionally show its words"),
    "restore": (restore, "re-create the master seed from its recovery words, in an empty database"),
    "rotate": (
        _simple(_rotate),
        "re-seal the seed under KEYS_SECRET (old secret: KEYS_PREVIOUS_SECRET)",
    ),
    "prune": (_simple(_prune), "delete copies sealed under older secrets"),
    "status": (_simple(_status), "check that KEYS_SECRET opens the seed"),
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m backend.keys",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", required=True)
    commands = {name: sub.add_parser(name, help=text) for name, (_, text) in COMMANDS.items()}
    for name in ("init", "restore"):
        commands[name].add_argument(
            "--passphrase",
            action="store_true",
            help=f"use a BIP-39 passphrase (asked twice, or from {PASSPHRASE_ENV})",
        )
    commands["init"].add_argument(
        "--show-words", action="store_true", help="show the 24 recovery words once"
    )
    commands["init"].add_argument(
        "--yes",
        action="store_true",
        help="no questions: with --show-words, print the words (also without a terminal)",
    )
    commands["restore"].add_argument(
        "--expect-fingerprint",
        metavar="HEX",
        help="refuse unless the words give this seed fingerprint (from `status` or `init`)",
    )
    return top


async def run(command: str, settings: Settings, args: argparse.Namespace, console: Console) -> str:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        return await COMMANDS[command][0](create_sessionmaker(engine), settings, args, console)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    args = parser().parse_args(argv)
    settings = get_settings()
    logs.configure(settings.log_level, settings.log_json)
    try:
        print(asyncio.run(run(args.command, settings, args, console or Console.terminal())))
    except QpeapayError as error:
        print(f"keys {args.command}: {error.message}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print(f"keys {args.command}: stopped, nothing was changed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
