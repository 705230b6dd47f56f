"""The sealed master seed: sealing, wrong secrets, init once, rotation and pruning."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from backend.db import unit_of_work
from backend.keys import crypto, signer
from backend.keys.errors import KeysMisconfigured, SeedExists, SeedLocked, SeedMissing
from backend.keys.models import SealedSeed
from backend.runtime import Runtime
from backend.settings import Environment, Settings

ABANDON = "abandon " * 11 + "about"
# The BIP-32 master key fingerprint of the "abandon … about" seed (BIP-84 test vectors).
ABANDON_FINGERPRINT = "73c5da0a"
NEW_SECRET = SecretStr("a-new-keys-secret-with-plenty-of-entropy-0001")


def rotated(settings: Settings) -> Settings:
    """The settings of a deployment mid-rotation: new secret as version 2, old one kept."""
    return settings.model_copy(
        update={
            "keys_secret": NEW_SECRET,
            "keys_secret_version": 2,
            "keys_previous_secret": settings.keys_secret,
        }
    )


def test_seal_round_trips_and_binds_its_associated_data() -> None:
    secret = SecretStr("s" * 40)
    sealed = crypto.seal(b"payload", secret, aad=b"row-1", iterations=crypto.MIN_ITERATIONS)
    assert len(sealed.salt) == 16 and len(sealed.nonce) == 12
    assert b"payload" not in sealed.ciphertext
    hits = crypto._kek.cache_info().hits
    assert crypto.unseal(sealed, secret, aad=b"row-1") == b"payload"
    assert crypto._kek.cache_info().hits == hits + 1  # PBKDF2 ran once, at seal time
    with pytest.raises(crypto.Unsealable):
        crypto.unseal(sealed, secret, aad=b"row-2")
    with pytest.raises(crypto.Unsealable):
        crypto.unseal(sealed, SecretStr("t" * 40), aad=b"row-1")
    again = crypto.seal(b"payload", secret, aad=b"row-1", iterations=crypto.MIN_ITERATIONS)
    assert (again.salt, again.nonce) != (sealed.salt, sealed.nonce)


def test_fewer_than_600k_iterations_are_refused() -> None:
    with pytest.raises(ValueError, match="600000"):
        crypto.seal(b"x", SecretStr("s" * 40), aad=b"", iterations=100_000)
    with pytest.raises(ValidationError):
        Settings(keys_kdf_iterations=100_000)


def test_production_refuses_the_dev_keys_secret_and_test_networks() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(environment=Environment.production, public_api_url="https://pay.example")
    assert "KEYS_SECRET" in str(refused.value)
    assert "BITCOIN_NETWORK" in str(refused.value)


async def test_seed_is_stored_sealed_and_opens(runtime: Runtime, settings: Settings) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        info = await signer.create_seed(session, settings, mnemonic=ABANDON)
    assert info == signer.SeedInfo(ABANDON_FINGERPRINT, 1)
    async with unit_of_work(runtime.sessionmaker) as session:
        row = (await session.scalars(select(SealedSeed))).one()
        assert row.kdf_iterations >= 600_000
        assert b"abandon" not in row.ciphertext
        assert await signer.status(session, settings) == info


async def test_init_runs_once(runtime: Runtime, settings: Settings) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        await signer.create_seed(session, settings)
    with pytest.raises(SeedExists):
        async with unit_of_work(runtime.sessionmaker) as session:
            await signer.create_seed(session, settings)


async def test_an_invalid_phrase_is_refused_without_echoing_it(
    runtime: Runtime, settings: Settings
) -> None:
    with pytest.raises(KeysMisconfigured) as refused:
        async with unit_of_work(runtime.sessionmaker) as session:
            await signer.create_seed(session, settings, mnemonic="abandon " * 12)
    assert "abandon" not in str(refused.value)


async def test_no_seed_yet_says_how_to_create_one(runtime: Runtime, settings: Settings) -> None:
    with pytest.raises(SeedMissing, match=r"backend\.keys init"):
        async with unit_of_work(runtime.sessionmaker) as session:
            await signer.status(session, settings)


async def test_a_wrong_secret_fails_cleanly(runtime: Runtime, settings: Settings) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        await signer.create_seed(session, settings)
    wrong = settings.model_copy(update={"keys_secret": SecretStr("not-the-secret-" * 3)})
    with pytest.raises(SeedLocked) as locked:
        async with unit_of_work(runtime.sessionmaker) as session:
            await signer.status(session, wrong)
    assert locked.value.__cause__ is None and locked.value.__suppress_context__
    assert "not-the-secret" not in str(locked.value)


async def test_rotation_keeps_the_seed_and_the_old_copy_until_pruned(
    runtime: Runtime, settings: Settings
) -> None:
    new = rotated(settings)
    async with unit_of_work(runtime.sessionmaker) as session:
        created = await signer.create_seed(session, settings)
    # Deployed before `rotate` ran: the new config still opens the old copy.
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await signer.status(session, new) == created
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await signer.rotate(session, new) == signer.SeedInfo(created.fingerprint, 2)
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await signer.rotate(session, new) == signer.SeedInfo(created.fingerprint, 2)
        versions = list(await session.scalars(select(SealedSeed.version).order_by("version")))
        assert versions == [1, 2]
        rows = list(await session.scalars(select(SealedSeed).order_by("version")))
        assert rows[0].salt != rows[1].salt and rows[0].ciphertext != rows[1].ciphertext
        # During the rotation both configs open the same seed.
        assert await signer.status(session, settings) == created
        assert await signer.status(session, new) == signer.SeedInfo(created.fingerprint, 2)
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await signer.prune(session, new) == [1]
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await signer.status(session, new) == signer.SeedInfo(created.fingerprint, 2)
        with pytest.raises(SeedLocked):
            await signer.status(session, settings)


async def test_rotation_without_the_old_secret_is_refused(
    runtime: Runtime, settings: Settings
) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        await signer.create_seed(session, settings)
    no_previous = rotated(settings).model_copy(update={"keys_previous_secret": None})
    with pytest.raises(KeysMisconfigured, match="KEYS_PREVIOUS_SECRET"):
        async with unit_of_work(runtime.sessionmaker) as session:
            await signer.rotate(session, no_previous)
    with pytest.raises(KeysMisconfigured, match="rotate"):
        async with unit_of_work(runtime.sessionmaker) as session:
            await signer.prune(session, no_previous)
