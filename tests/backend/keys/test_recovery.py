"""The paper backup and the restore drill: `init` shows the 24 words once (on a terminal only
after a YES and a check that they were written down), an optional BIP-39 passphrase, and
`restore` bringing back the very same addresses from the words and passphrase alone."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest
from bip_utils import Bip32Secp256k1, Bip39MnemonicValidator, Bip39SeedGenerator
from bip_utils.bip.bip39 import Bip39Languages
from bip_utils.bip.bip39.bip39_mnemonic_utils import Bip39WordsListGetter
from eth_account import Account
from pydantic import SecretStr
from sqlalchemy import delete, func, select

from backend.connectors.ethereum.client import EthTxParams
from backend.db import unit_of_work
from backend.keys import derivation, service, signer
from backend.keys.__main__ import CeremonyAborted, Console, parser, run
from backend.keys.errors import KeysMisconfigured, SeedExists
from backend.keys.models import AccountKey, AddressPurpose, ChainAddress, SealedSeed
from backend.runtime import Runtime
from backend.settings import Settings
from contract.money import Asset, Money, Network
from tests.backend.keys.conftest import keys_cli

PASSPHRASE = "correct horse battery staple"
WORDS = re.compile(r"\b(\d{1,2})\. ([a-z]+)\b")
FIRST_BTC = re.compile(r"first bitcoin address: (\S+)")
FINGERPRINT = re.compile(r"master seed ([0-9a-f]{8}) ")


def words_shown(text: str) -> list[str]:
    found = dict((int(n), word) for n, word in WORDS.findall(text))
    assert sorted(found) == list(range(1, 25)), text
    return [found[n] for n in range(1, 25)]


def fingerprint_of(phrase: str, passphrase: str = "") -> str:
    seed = bytes(Bip39SeedGenerator(phrase).Generate(passphrase))
    return bytes(Bip32Secp256k1.FromSeed(seed).FingerPrint().ToBytes()).hex()


async def allocate_some(runtime: Runtime, settings: Settings) -> dict[tuple[Network, int], str]:
    """Three deposit addresses per network, as customers would have been given them."""
    given: dict[tuple[Network, int], str] = {}
    async with unit_of_work(runtime.sessionmaker) as session:
        for network in Network:
            for n in range(3):
                row = await service.allocate(
                    session, settings, network, AddressPurpose.deposit, f"usr_{n}"
                )
                given[network, row.derivation_index] = row.address
    return given


async def derive_again(
    runtime: Runtime, settings: Settings, indexes: Iterator[tuple[Network, int]]
) -> dict[tuple[Network, int], str]:
    async with unit_of_work(runtime.sessionmaker) as session:
        accounts = {a.network: a.xpub for a in await session.scalars(select(AccountKey))}
    return {
        (network, index): derivation.address_at(
            derivation.scheme(network, settings.bitcoin_network), accounts[network], index
        )
        for network, index in indexes
    }


async def wipe_keys(runtime: Runtime) -> None:
    """What a scratch database for the drill starts as: no seed, no account keys."""
    async with unit_of_work(runtime.sessionmaker) as session:
        await session.execute(delete(ChainAddress))
        await session.execute(delete(AccountKey))
        await session.execute(delete(SealedSeed))


async def seeds(runtime: Runtime) -> int:
    async with unit_of_work(runtime.sessionmaker) as session:
        return int(await session.scalar(select(func.count()).select_from(SealedSeed)) or 0)


async def test_the_restore_drill_gives_back_the_same_addresses(
    runtime: Runtime, settings: Settings
) -> None:
    init = keys_cli(
        settings, "init", "--show-words", "--yes", "--passphrase", KEYS_PASSPHRASE=PASSPHRASE
    )
    assert init.returncode == 0, init.stderr
    words = words_shown(init.stdout)
    phrase = " ".join(words)
    assert Bip39MnemonicValidator().IsValid(phrase)
    (fingerprint,) = FINGERPRINT.findall(init.stdout)
    assert fingerprint == fingerprint_of(phrase, PASSPHRASE) != fingerprint_of(phrase)
    given = await allocate_some(runtime, settings)
    (first_btc,) = FIRST_BTC.findall(init.stdout)
    given |= await derive_again(runtime, settings, iter([(Network.bitcoin, 0)]))
    assert given[Network.bitcoin, 0] == first_btc

    # A restore never overwrites a seed.
    again = keys_cli(settings, "restore", "--passphrase", stdin=phrase, KEYS_PASSPHRASE=PASSPHRASE)
    assert again.returncode == 1 and "already has a master seed" in again.stderr

    await wipe_keys(runtime)
    restored = keys_cli(
        settings,
        "restore",
        "--passphrase",
        "--expect-fingerprint",
        fingerprint,
        stdin=phrase + "\n",
        KEYS_PASSPHRASE=PASSPHRASE,
    )
    assert restored.returncode == 0, restored.stderr
    assert FIRST_BTC.findall(restored.stdout) == [first_btc]
    assert await derive_again(runtime, settings, iter(given)) == given
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await signer.status(session, settings) == signer.SeedInfo(fingerprint, 1)


async def test_a_wrong_word_or_checksum_is_refused(runtime: Runtime, settings: Settings) -> None:
    words = signer.RecoveryWords().reveal()
    wordlist = Bip39WordsListGetter().GetByLanguage(Bip39Languages.ENGLISH)
    # Another real word in the last place: the checksum (in that word's bits) no longer fits.
    swapped = next(
        " ".join([*words[:-1], candidate])
        for candidate in (wordlist.GetWordAtIdx(i) for i in range(2048))
        if not Bip39MnemonicValidator().IsValid(" ".join([*words[:-1], candidate]))
    )
    misspelt = " ".join(["abandonn", *words[1:]])
    for phrase in (swapped, misspelt, " ".join(words[:-1])):
        refused = keys_cli(settings, "restore", stdin=phrase)
        assert refused.returncode == 1
        assert "not a valid BIP-39 phrase" in refused.stderr
        assert phrase not in refused.stdout + refused.stderr
    assert await seeds(runtime) == 0


async def test_a_wrong_passphrase_gives_other_addresses(
    runtime: Runtime, settings: Settings
) -> None:
    init = keys_cli(
        settings, "init", "--show-words", "--yes", "--passphrase", KEYS_PASSPHRASE=PASSPHRASE
    )
    phrase = " ".join(words_shown(init.stdout))
    (fingerprint,) = FINGERPRINT.findall(init.stdout)
    (first_btc,) = FIRST_BTC.findall(init.stdout)
    await wipe_keys(runtime)

    wrong = keys_cli(
        settings, "restore", "--passphrase", stdin=phrase, KEYS_PASSPHRASE=PASSPHRASE + "!"
    )
    assert wrong.returncode == 0, wrong.stderr
    assert FIRST_BTC.findall(wrong.stdout) != [first_btc]  # what tells the operator
    assert FINGERPRINT.findall(wrong.stdout) != [fingerprint]
    await wipe_keys(runtime)
    # The words alone are another seed too, and an expected fingerprint stops it being stored.
    forgotten = keys_cli(settings, "restore", "--expect-fingerprint", fingerprint, stdin=phrase)
    assert forgotten.returncode == 1 and f"not {fingerprint}" in forgotten.stderr
    assert await seeds(runtime) == 0
    # A passphrase in the environment without --passphrase is a mistake, not a guess.
    unasked = keys_cli(settings, "restore", stdin=phrase, KEYS_PASSPHRASE=PASSPHRASE)
    assert unasked.returncode == 1 and "--passphrase" in unasked.stderr
    assert await seeds(runtime) == 0


# ----------------------------------------------------------------------- on a terminal


class Operator:
    """A scripted operator at a terminal: what the ceremony asks, and what they type."""

    def __init__(
        self, *, show: str = "YES", passphrases: tuple[str, ...] = (), wrong_on: int = 0
    ) -> None:
        self.show, self.passphrases = show, list(passphrases)
        self.wrong_on = wrong_on  # which word asked back (1, 2, 3) is mistyped; 0: none
        self.screen: list[str] = []
        self.prompts: list[str] = []

    def console(self) -> Console:
        return Console(interactive=True, ask=self.ask, secret=self.secret, say=self.screen.append)

    def secret(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.passphrases.pop(0)

    def ask(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if prompt.startswith("Show the 24 recovery words"):
            return self.show
        if prompt.startswith("Press Enter"):
            return ""
        position = int(re.findall(r"Word #(\d+)", prompt)[0])
        word = words_shown("\n".join(self.screen))[position - 1]
        if sum(p.startswith("Word #") for p in self.prompts) == self.wrong_on:
            return "zoo" if word != "zoo" else "zone"
        return word.upper() + " "  # case and spaces do not matter


def args_of(*argv: str) -> argparse.Namespace:
    return parser().parse_args(list(argv))


@pytest.fixture(autouse=True)
def _no_passphrase_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEYS_PASSPHRASE", raising=False)


async def test_init_on_a_terminal_shows_the_words_after_yes_and_checks_them(
    runtime: Runtime, settings: Settings
) -> None:
    operator = Operator(passphrases=(PASSPHRASE, PASSPHRASE))
    report = await run("init", settings, args_of("init", "--passphrase"), operator.console())

    words = words_shown("\n".join(operator.screen))
    quizzed = [p for p in operator.prompts if p.startswith("Word #")]
    assert len(quizzed) == 3 and len(set(quizzed)) == 3
    # The words leave the screen before any is asked back.
    cleared = next(i for i, text in enumerate(operator.screen) if text.startswith("\033[2J"))
    assert words_shown("\n".join(operator.screen[:cleared])) == words
    first_quiz = next(i for i, p in enumerate(operator.prompts) if p.startswith("Word #"))
    assert operator.prompts[first_quiz - 1].startswith("Press Enter")
    fingerprint = fingerprint_of(" ".join(words), PASSPHRASE)
    assert f"master seed {fingerprint} created" in report
    assert "--passphrase" in report
    assert " ".join(words) not in report
    with pytest.raises(SeedExists):
        await run("init", settings, args_of("init"), Operator().console())


async def test_a_wrong_word_back_creates_nothing(runtime: Runtime, settings: Settings) -> None:
    operator = Operator(wrong_on=3)
    with pytest.raises(CeremonyAborted, match="Nothing was created"):
        await run("init", settings, args_of("init"), operator.console())
    assert len([p for p in operator.prompts if p.startswith("Word #")]) == 3
    assert await seeds(runtime) == 0


async def test_declining_the_words_or_mistyping_the_passphrase(
    runtime: Runtime, settings: Settings
) -> None:
    mistyped = Operator(passphrases=(PASSPHRASE, PASSPHRASE + " "))
    with pytest.raises(CeremonyAborted, match="differ"):
        await run("init", settings, args_of("init", "--passphrase"), mistyped.console())
    assert await seeds(runtime) == 0

    declined = Operator(show="no")
    report = await run("init", settings, args_of("init"), declined.console())
    assert declined.screen == [] and "created" in report
    assert not [p for p in declined.prompts if p.startswith("Word #")]


async def test_show_words_without_a_terminal_needs_yes(
    runtime: Runtime, settings: Settings
) -> None:
    printed: list[str] = []
    headless = Console(interactive=False, say=printed.append)
    with pytest.raises(CeremonyAborted, match="--yes"):
        await run("init", settings, args_of("init", "--show-words"), headless)
    assert printed == [] and await seeds(runtime) == 0
    # Without the flag, a headless init shows nothing, as before.
    await run("init", settings, args_of("init"), headless)
    assert printed == [] and await seeds(runtime) == 1


async def test_a_seed_without_passphrase_is_stored_as_before(
    runtime: Runtime, settings: Settings
) -> None:
    """Deployments created before passphrases existed open and sign unchanged: the sealed
    plaintext of a seed without one is the bare phrase."""
    words = signer.RecoveryWords()
    async with unit_of_work(runtime.sessionmaker) as session:
        info = await signer.create_seed(session, settings, mnemonic=words)
        mnemonic, _ = await signer._open(session, settings)
    assert mnemonic.encoded() == " ".join(words.reveal()).encode()
    assert info.fingerprint == fingerprint_of(" ".join(words.reveal()))
    assert "<redacted>" in repr(words) and words.reveal()[0] not in repr(words)


async def test_a_seed_with_a_passphrase_rotates_and_signs(
    runtime: Runtime, settings: Settings
) -> None:
    words = signer.RecoveryWords()
    async with unit_of_work(runtime.sessionmaker) as session:
        info = await signer.create_seed(session, settings, mnemonic=words, passphrase=PASSPHRASE)
        source = await service.allocate(
            session, settings, Network.ethereum, AddressPurpose.deposit, "usr_p"
        )
    assert info.fingerprint == fingerprint_of(" ".join(words.reveal()), PASSPHRASE)
    rotated = settings.model_copy(
        update={
            "keys_secret": SecretStr("another-keys-secret-with-plenty-of-entropy-7"),
            "keys_secret_version": 2,
            "keys_previous_secret": settings.keys_secret,
        }
    )
    async with unit_of_work(runtime.sessionmaker) as session:
        # Rotation re-derives the seed and checks it against the stored fingerprint.
        assert await signer.rotate(session, rotated) == signer.SeedInfo(info.fingerprint, 2)
    async with unit_of_work(runtime.sessionmaker) as session:
        signed = await signer.sign_ether_transfer(
            session,
            rotated,
            source,
            to=source.address,
            amount=Money.of("0.1", Asset.ETH),
            params=EthTxParams(settings.ethereum_chain_id, 0, 21_000, 10**9, 10**9),
        )
    assert Account.recover_transaction(signed.raw) == source.address


async def test_a_passphrase_with_a_line_break_is_refused(
    runtime: Runtime, settings: Settings
) -> None:
    with pytest.raises(KeysMisconfigured, match="line breaks"):
        async with unit_of_work(runtime.sessionmaker) as session:
            await signer.create_seed(session, settings, passphrase="two\nlines")
    assert await seeds(runtime) == 0
