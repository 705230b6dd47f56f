"""Key material never leaves the signer: not in logs, command output, errors or reprs."""

from __future__ import annotations

import logging
import re
import time

import pytest
import structlog
from bip_utils import Bip32Secp256k1, Bip39SeedGenerator, Bip44Changes
from pydantic import SecretStr
from sqlalchemy import delete

from backend import logs
from backend.connectors.bitcoin import Utxo
from backend.connectors.ethereum.client import EthTxParams
from backend.connectors.tron import TronTxParams
from backend.db import unit_of_work
from backend.keys import derivation, service, signer
from backend.keys.btc_plan import plan_payment
from backend.keys.errors import SeedLocked
from backend.keys.models import AccountKey, AddressPurpose, SealedSeed
from backend.runtime import Runtime
from backend.settings import Settings
from contract.money import Asset, Money, Network
from tests.backend.keys.conftest import keys_cli

NEW_SECRET = "rotated-keys-secret-that-is-long-enough-42"
PASSPHRASE = "the twenty-fifth word, kept apart"
WRONG_SECRET = "wrong-keys-secret-that-is-long-enough-4242"


def forbidden_strings(
    phrase: str, indexes: dict[Network, list[int]], settings: Settings, passphrase: str = ""
) -> set[str]:
    """Everything that would give the keys away, in the forms a leak would take."""
    words = phrase.split()
    seed = bytes(Bip39SeedGenerator(phrase).Generate(passphrase))
    found = {phrase, seed.hex(), Bip32Secp256k1.FromSeed(seed).PrivateKey().ToExtended()}
    found |= {" ".join(words[i : i + 2]) for i in range(len(words) - 1)}
    found |= {passphrase} - {""}
    found |= {NEW_SECRET, WRONG_SECRET, settings.keys_secret.get_secret_value()}
    for network, numbers in indexes.items():
        scheme = derivation.scheme(network, settings.bitcoin_network)
        account = scheme.purpose.FromSeed(seed, scheme.coin).Purpose().Coin().Account(0)
        found.add(account.PrivateKey().ToExtended())
        for index in numbers:
            key = account.Change(Bip44Changes.CHAIN_EXT).AddressIndex(index).PrivateKey()
            found.add(bytes(key.Raw().ToBytes()).hex())
            if network is Network.bitcoin:
                found.add(key.ToWif())
    return {text.lower() for text in found}


async def test_key_operations_leak_nothing(
    runtime: Runtime,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    transcript: list[str] = []
    caplog.set_level(logging.DEBUG)
    # Our real log pipeline (redaction, JSON) at DEBUG, printing into capsys's stdout.
    configured = structlog.get_config()
    logs.configure("DEBUG", json=True)
    try:
        # init and rotate as an operator runs them, in their own processes.
        init = keys_cli(settings, "init")
        assert init.returncode == 0, init.stderr
        transcript += [init.stdout, init.stderr]

        indexes: dict[Network, list[int]] = {network: [] for network in Network}
        async with unit_of_work(runtime.sessionmaker) as session:
            for network in Network:
                row = await service.allocate(
                    session, settings, network, AddressPurpose.deposit, "usr_leak"
                )
                indexes[network].append(row.derivation_index)
                transcript.append(repr(row))
            source = (await service.owned_by(session, "usr_leak", Network.ethereum))[0]
            signed = await signer.sign_erc20_transfer(
                session,
                settings,
                source,
                token="0xdAC17F958D2ee523a2206206994597C13D831ec7",
                to=source.address,
                amount=Money.of("1.5", Asset.USDT),
                params=EthTxParams(settings.ethereum_chain_id, 0, 65_000, 10**9, 10**9),
            )
            transcript += [repr(signed), repr(await session.get(SealedSeed, 1)), repr(settings)]
            # Bitcoin and Tron signing too; neither needs a node to sign.
            btc_source = (await service.owned_by(session, "usr_leak", Network.bitcoin))[0]
            coin = Utxo("ab" * 32, 1, 2_000_000, btc_source.address, 101)
            plan = plan_payment(
                [coin],
                to=btc_source.address,
                sats=1_000_000,
                change_address=btc_source.address,
                fee_rate=5,
                network=settings.bitcoin_network,
            )
            transcript += [repr(plan), repr(await signer.sign_bitcoin(session, settings, plan))]
            tron_source = (await service.owned_by(session, "usr_leak", Network.tron))[0]
            now = int(time.time() * 1000)
            tron_params = TronTxParams("0001", "00" * 8, now, now + 60_000, 30_000_000)
            transcript.append(
                repr(
                    await signer.sign_trc20_transfer(
                        session,
                        settings,
                        tron_source,
                        token="TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
                        to="TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
                        amount=Money.of("2", Asset.USDT),
                        params=tron_params,
                    )
                )
            )
            # The test reads the phrase back only to know what to look for.
            mnemonic, _ = await signer._open(session, settings)
            phrase = mnemonic._words
            transcript += [repr(mnemonic), str(mnemonic)]

        rotate = keys_cli(
            settings,
            "rotate",
            KEYS_SECRET=NEW_SECRET,
            KEYS_SECRET_VERSION="2",
            KEYS_PREVIOUS_SECRET=settings.keys_secret.get_secret_value(),
        )
        assert rotate.returncode == 0, rotate.stderr
        locked = keys_cli(settings, "status", KEYS_SECRET=WRONG_SECRET, KEYS_SECRET_VERSION="2")
        assert locked.returncode == 1 and "cannot be opened" in locked.stderr
        transcript += [rotate.stdout, rotate.stderr, locked.stdout, locked.stderr]

        wrong = settings.model_copy(update={"keys_secret": SecretStr(WRONG_SECRET)})
        with pytest.raises(SeedLocked) as error:
            async with unit_of_work(runtime.sessionmaker) as session:
                await signer.status(session, wrong)
        transcript += [str(error.value), repr(error.value), error.value.body().model_dump_json()]
        transcript.append(repr(error.getrepr()))
    finally:
        structlog.configure(**configured)

    captured = capsys.readouterr()
    transcript += [captured.out, captured.err, caplog.text]
    text = "\n".join(transcript).lower()
    # The logs were captured, signing on every network included.
    assert "keys.seed_created" in text
    signed = [line for line in text.splitlines() if "keys.signed" in line]
    assert all(any(f'"network": "{n}"' in line for line in signed) for n in Network)
    leaked = [secret for secret in forbidden_strings(phrase, indexes, settings) if secret in text]
    assert leaked == []


async def test_the_paper_backup_shows_the_words_once_and_nowhere_else(
    runtime: Runtime, settings: Settings
) -> None:
    init = keys_cli(
        settings, "init", "--show-words", "--yes", "--passphrase", KEYS_PASSPHRASE=PASSPHRASE
    )
    assert init.returncode == 0, init.stderr
    # The words are shown in one block, numbered, and only there.
    block = [line for line in init.stdout.splitlines() if re.match(r"^\s*1?\d\. [a-z]+", line)]
    assert len(block) == 6
    numbered = dict(re.findall(r"(\d+)\. ([a-z]+)", "\n".join(block)))
    phrase = " ".join(numbered[str(n)] for n in range(1, 25))
    elsewhere = [line for line in init.stdout.splitlines() if line not in block]
    assert any("keys.seed_created" in line for line in elsewhere)  # the logs are in it

    async with unit_of_work(runtime.sessionmaker) as session:
        await session.execute(delete(AccountKey))
        await session.execute(delete(SealedSeed))
    restore = keys_cli(
        settings, "restore", "--passphrase", stdin=phrase, KEYS_PASSPHRASE=PASSPHRASE
    )
    assert restore.returncode == 0, restore.stderr
    assert "keys.seed_created" in restore.stdout
    wrong = keys_cli(settings, "restore", stdin=phrase.replace(" ", "  ", 1) + " extra")
    assert wrong.returncode == 1

    text = "\n".join(
        [*elsewhere, init.stderr, restore.stdout, restore.stderr, wrong.stdout, wrong.stderr]
    ).lower()
    leaked = [s for s in forbidden_strings(phrase, {}, settings, PASSPHRASE) if s in text]
    assert leaked == []
