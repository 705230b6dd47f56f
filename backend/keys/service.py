"""Handing out addresses: atomic index allocation and derivation from stored account xpubs.

Invariants: an index comes from the network's PostgreSQL sequence, so concurrent callers
never share one; (network, address) and (network, index) are unique in the table, so an
address is never handed out twice; no function here can reach the seed or a private key.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.connectors.match import match_key
from backend.errors import InvariantBroken
from backend.keys import derivation
from backend.keys.errors import KeysMisconfigured, SeedMissing
from backend.keys.models import INDEX_SEQUENCES, AccountKey, AddressPurpose, ChainAddress
from backend.logs import get_logger
from backend.settings import Settings
from contract.ids import new_id
from contract.money import Network

log = get_logger(__name__)


async def _account(
    session: AsyncSession, settings: Settings, network: Network
) -> tuple[AccountKey, derivation.Scheme]:
    account = await session.get(AccountKey, network)
    if account is None:
        raise SeedMissing()
    scheme = derivation.scheme(network, settings.bitcoin_network)
    if account.coin != scheme.coin_name:
        # A regtest seed must never produce addresses for a mainnet deployment (or back).
        raise KeysMisconfigured(
            f"The {network} account key is for {account.coin}, but this deployment is "
            f"{scheme.coin_name}."
        )
    return account, scheme


async def _derive_next(
    session: AsyncSession, settings: Settings, network: Network
) -> tuple[int, str]:
    account, scheme = await _account(session, settings, network)
    index = await session.scalar(INDEX_SEQUENCES[network].next_value())
    if index is None:
        raise InvariantBroken(f"The {network} index sequence gave no value.")
    return index, derivation.address_at(scheme, account.xpub, index)


async def allocate(
    session: AsyncSession,
    settings: Settings,
    network: Network,
    purpose: AddressPurpose,
    owner_id: str,
) -> ChainAddress:
    """A fresh address on `network` for `owner_id` (a user, merchant or invoice id)."""
    if purpose is AddressPurpose.hot_wallet:
        raise ValueError("the hot wallet has no owner: use hot_wallet()")
    index, address = await _derive_next(session, settings, network)
    row = ChainAddress(
        id=new_id("adr"),
        network=network,
        derivation_index=index,
        address=address,
        match_key=match_key(network, address),
        purpose=purpose,
        owner_id=owner_id,
    )
    session.add(row)
    await session.flush()
    log.info("keys.address_allocated", network=network, index=index, purpose=purpose, id=row.id)
    return row


async def hot_wallet(session: AsyncSession, settings: Settings, network: Network) -> ChainAddress:
    """The network's hot wallet address, allocated the first time anyone asks."""
    query = select(ChainAddress).where(
        ChainAddress.network == network, ChainAddress.purpose == AddressPurpose.hot_wallet
    )
    found = await session.scalar(query)
    if found is None:
        index, address = await _derive_next(session, settings, network)
        # A concurrent first call may win the partial unique index; then its row is the one.
        await session.execute(
            insert(ChainAddress)
            .values(
                id=new_id("adr"),
                network=network,
                derivation_index=index,
                address=address,
                match_key=match_key(network, address),
                purpose=AddressPurpose.hot_wallet,
                owner_id=None,
            )
            .on_conflict_do_nothing(
                index_elements=["network"],
                # A literal, not a bound parameter: after five runs PostgreSQL plans the
                # statement generically and can no longer match a parameterised predicate
                # to the partial unique index.
                index_where=text("purpose = 'hot_wallet'"),
            )
        )
        found = await session.scalar(query)
    if found is None:
        raise InvariantBroken(f"The {network} hot wallet address is not visible.")
    return found


async def watched(session: AsyncSession, network: Network) -> set[str]:
    """Every address we have handed out on `network`: what a watcher scans for."""
    return set(
        await session.scalars(select(ChainAddress.address).where(ChainAddress.network == network))
    )


async def by_addresses(
    session: AsyncSession, network: Network, addresses: Collection[str]
) -> dict[str, ChainAddress]:
    """Our rows for the given addresses (those that are ours), keyed by address."""
    if not addresses:
        return {}
    rows = await session.scalars(
        select(ChainAddress).where(
            ChainAddress.network == network, ChainAddress.address.in_(list(addresses))
        )
    )
    return {row.address: row for row in rows}


async def owned_by(
    session: AsyncSession,
    owner_id: str,
    network: Network,
    purpose: AddressPurpose | None = None,
) -> list[ChainAddress]:
    """An owner's addresses on a network, oldest first."""
    query = select(ChainAddress).where(
        ChainAddress.owner_id == owner_id, ChainAddress.network == network
    )
    if purpose is not None:
        query = query.where(ChainAddress.purpose == purpose)
    return list(await session.scalars(query.order_by(ChainAddress.derivation_index)))


async def first_addresses(session: AsyncSession, settings: Settings) -> dict[Network, str]:
    """The address at index 0 of every network: public, and what tells an operator that a
    restored seed (words and passphrase) is the one the deployment had."""
    found: dict[Network, str] = {}
    for network in Network:
        account, scheme = await _account(session, settings, network)
        found[network] = derivation.address_at(scheme, account.xpub, 0)
    return found
