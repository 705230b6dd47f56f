"""Derivation against published vectors, and atomic, never-repeated address allocation."""

from __future__ import annotations

import asyncio

import pytest
from eth_account import Account
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from backend.connectors.ethereum.client import EthTxParams
from backend.db import unit_of_work
from backend.keys import derivation, service, signer
from backend.keys.errors import KeysMisconfigured, SeedMissing
from backend.keys.models import AccountKey, AddressPurpose, ChainAddress
from backend.runtime import Runtime
from backend.settings import BitcoinNetwork, Settings
from contract.money import Asset, Money, Network

ABANDON = "abandon " * 11 + "about"
ANVIL = "test test test test test test test test test test test junk"

# BIP-84's own test vector (m/84'/0'/0'), and the widely published first addresses of the
# same mnemonic on testnet/regtest (m/84'/1'/0'/0/0), Ethereum and Tron (m/44'/c'/0'/0/0).
ABANDON_ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1A"
    "DqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
)
FIRST_ADDRESS = {
    BitcoinNetwork.mainnet: "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
    BitcoinNetwork.testnet: "tb1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl",
    BitcoinNetwork.regtest: "bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk",
}
SECOND_MAINNET_ADDRESS = "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"
ETH_FIRST = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
TRX_FIRST = "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH"
ANVIL_FIRST = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_bip84_vector_from_the_published_account_zpub() -> None:
    scheme = derivation.scheme(Network.bitcoin, BitcoinNetwork.mainnet)
    assert scheme.path == "m/84'/0'/0'"
    assert derivation.address_at(scheme, ABANDON_ZPUB, 0) == FIRST_ADDRESS[BitcoinNetwork.mainnet]
    assert derivation.address_at(scheme, ABANDON_ZPUB, 1) == SECOND_MAINNET_ADDRESS


@pytest.mark.parametrize("bitcoin_network", list(BitcoinNetwork))
async def test_stored_account_keys_derive_the_published_addresses(
    runtime: Runtime, settings: Settings, bitcoin_network: BitcoinNetwork
) -> None:
    configured = settings.model_copy(update={"bitcoin_network": bitcoin_network})
    async with unit_of_work(runtime.sessionmaker) as session:
        await signer.create_seed(session, configured, mnemonic=ABANDON)
    async with unit_of_work(runtime.sessionmaker) as session:
        accounts = {a.network: a for a in await session.scalars(select(AccountKey))}
    expected = {
        Network.bitcoin: FIRST_ADDRESS[bitcoin_network],
        Network.ethereum: ETH_FIRST,
        Network.tron: TRX_FIRST,
    }
    for network, address in expected.items():
        scheme = derivation.scheme(network, bitcoin_network)
        assert accounts[network].path == scheme.path
        assert derivation.address_at(scheme, accounts[network].xpub, 0) == address
    if bitcoin_network is BitcoinNetwork.mainnet:
        assert accounts[Network.bitcoin].xpub == ABANDON_ZPUB


async def test_ethereum_path_matches_an_independent_implementation(
    runtime: Runtime, settings: Settings
) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        await signer.create_seed(session, settings, mnemonic=ANVIL)
        account = await session.get(AccountKey, Network.ethereum)
    assert account is not None
    scheme = derivation.scheme(Network.ethereum, settings.bitcoin_network)
    Account.enable_unaudited_hdwallet_features()
    for index in (0, 1, 7):
        theirs = Account.from_mnemonic(ANVIL, account_path=f"m/44'/60'/0'/0/{index}").address
        assert derivation.address_at(scheme, account.xpub, index) == theirs
    assert derivation.address_at(scheme, account.xpub, 0) == ANVIL_FIRST


async def test_an_allocated_address_is_the_one_the_signer_signs_for(
    runtime: Runtime, settings: Settings, master_seed: signer.SeedInfo
) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        address = await service.allocate(
            session, settings, Network.ethereum, AddressPurpose.deposit, "usr_test"
        )
        account = await session.get(AccountKey, Network.ethereum)
        assert account is not None
        scheme = derivation.scheme(Network.ethereum, settings.bitcoin_network)
        assert address.address == derivation.address_at(
            scheme, account.xpub, address.derivation_index
        )
        params = EthTxParams(settings.ethereum_chain_id, 0, 21_000, 10**9, 10**9)
        signed = await signer.sign_ether_transfer(
            session, settings, address, to=ANVIL_FIRST, amount=Money.of("0.5", Asset.ETH),
            params=params,
        )  # fmt: skip
    assert Account.recover_transaction(signed.raw) == address.address == signed.sender


async def test_fifty_concurrent_allocations_get_fifty_distinct_addresses(
    runtime: Runtime, settings: Settings, master_seed: signer.SeedInfo
) -> None:
    async def one(n: int) -> ChainAddress:
        async with unit_of_work(runtime.sessionmaker) as session:
            return await service.allocate(
                session, settings, Network.tron, AddressPurpose.invoice, f"inv_{n}"
            )

    rows = await asyncio.gather(*(one(n) for n in range(50)))
    assert len({row.derivation_index for row in rows}) == 50
    assert len({row.address for row in rows}) == 50
    async with unit_of_work(runtime.sessionmaker) as session:
        stored = await session.scalar(
            select(func.count(func.distinct(ChainAddress.address))).where(
                ChainAddress.network == Network.tron
            )
        )
        assert stored == 50
        assert await service.watched(session, Network.tron) == {row.address for row in rows}


async def test_the_database_refuses_an_address_or_index_twice(
    runtime: Runtime, settings: Settings, master_seed: signer.SeedInfo
) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        first = await service.allocate(
            session, settings, Network.bitcoin, AddressPurpose.deposit, "usr_a"
        )
    for clash in (
        {"derivation_index": first.derivation_index, "address": "bcrt1qnotthesameaddress"},
        {"derivation_index": first.derivation_index + 10_000, "address": first.address},
    ):
        with pytest.raises(IntegrityError):
            async with unit_of_work(runtime.sessionmaker) as session:
                session.add(
                    ChainAddress(
                        id=f"adr_clash{clash['derivation_index']}",
                        network=Network.bitcoin,
                        purpose=AddressPurpose.deposit,
                        owner_id="usr_b",
                        **clash,
                    )
                )


async def test_one_hot_wallet_per_network_even_when_asked_at_once(
    runtime: Runtime, settings: Settings, master_seed: signer.SeedInfo
) -> None:
    async def ask() -> ChainAddress:
        async with unit_of_work(runtime.sessionmaker) as session:
            return await service.hot_wallet(session, settings, Network.ethereum)

    wallets = await asyncio.gather(*(ask() for _ in range(5)))
    assert len({wallet.id for wallet in wallets}) == 1
    assert wallets[0].owner_id is None
    assert (await ask()).id == wallets[0].id


async def test_creating_a_hot_wallet_works_past_the_prepared_statement_threshold(
    runtime: Runtime, settings: Settings, master_seed: signer.SeedInfo
) -> None:
    # asyncpg prepares statements per connection and PostgreSQL switches to a generic plan
    # after five runs; the ON CONFLICT clause must still find the partial unique index.
    async with unit_of_work(runtime.sessionmaker) as session:
        for _ in range(8):
            for network in Network:
                await service.hot_wallet(session, settings, network)
            await session.execute(
                delete(ChainAddress).where(ChainAddress.purpose == AddressPurpose.hot_wallet)
            )


async def test_lookups_by_address_and_owner(
    runtime: Runtime, settings: Settings, master_seed: signer.SeedInfo
) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        mine = await service.allocate(
            session, settings, Network.ethereum, AddressPurpose.deposit, "usr_me"
        )
        invoice = await service.allocate(
            session, settings, Network.ethereum, AddressPurpose.invoice, "usr_me"
        )
        found = await service.by_addresses(session, Network.ethereum, [mine.address, ANVIL_FIRST])
        assert found == {mine.address: mine}
        assert await service.owned_by(session, "usr_me", Network.ethereum) == [mine, invoice]
        assert await service.owned_by(
            session, "usr_me", Network.ethereum, AddressPurpose.invoice
        ) == [invoice]


async def test_allocation_refuses_a_seed_made_for_another_bitcoin_network(
    runtime: Runtime, settings: Settings, master_seed: signer.SeedInfo
) -> None:
    mainnet = settings.model_copy(update={"bitcoin_network": BitcoinNetwork.mainnet})
    with pytest.raises(KeysMisconfigured, match="BITCOIN_REGTEST"):
        async with unit_of_work(runtime.sessionmaker) as session:
            await service.allocate(session, mainnet, Network.bitcoin, AddressPurpose.deposit, "u")


async def test_allocation_without_a_seed_says_so(runtime: Runtime, settings: Settings) -> None:
    with pytest.raises(SeedMissing):
        async with unit_of_work(runtime.sessionmaker) as session:
            await service.allocate(session, settings, Network.tron, AddressPurpose.deposit, "u")
