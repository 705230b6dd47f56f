"""`/v1/wallets`, `/v1/wallets/{network}/address` and `/v1/transactions`: a signed-in
customer's (or merchant's) balances, deposit addresses and history."""

from __future__ import annotations

from backend.api import Call, Endpoint
from backend.chains import deposits
from backend.errors import NotFound
from backend.users.access import signed_in
from backend.wallets import history, service
from contract.money import Money, Network, quantum
from contract.pagination import Page
from contract.users import Role
from contract.wallets import (
    NETWORK_ASSETS,
    NETWORK_NAMES,
    WALLET_NETWORKS,
    DepositAddress,
    NetworkBalance,
    Transaction,
    TransactionQuery,
    Wallet,
    Wallets,
)

WALLET_HOLDERS = signed_in(Role.customer, Role.merchant)


async def list_wallets(call: Call) -> Wallets:
    user_id = call.user().user_id
    balances = await service.balances(call.session, user_id)
    pending = await deposits.pending_totals(call.session, user_id)
    wallets = {}
    for asset, balance in balances.items():
        on_the_way = {
            network: pending.get((asset, network), Money.zero(asset)).amount
            for network in WALLET_NETWORKS[asset]
        }
        wallets[asset] = Wallet(
            asset=asset,
            available=balance.available,
            pending=sum(on_the_way.values(), balance.pending).quantize(quantum(asset)),
            held=balance.held,
            networks={
                network: NetworkBalance(pending=amount.quantize(quantum(asset)))
                for network, amount in on_the_way.items()
            },
        )
    return Wallets(wallets)


def _network(call: Call) -> Network:
    try:
        return Network(call.path["network"])
    except ValueError:
        raise NotFound(
            f"Deposit addresses exist for {', '.join(Network)}.", param="network"
        ) from None


async def deposit_address(call: Call) -> DepositAddress:
    network = _network(call)
    row = await service.deposit_address(
        call.session, call.runtime.settings, call.user().user_id, network
    )
    uri = service.payment_uri(network, row.address)
    return DepositAddress(
        network=network,
        address=row.address,
        assets=list(NETWORK_ASSETS[network]),
        uri=uri,
        qr_svg=service.qr_svg(uri or row.address, f"{NETWORK_NAMES[network]} deposit address"),
        created_at=row.created_at,
    )


async def list_transactions(call: Call) -> Page[Transaction]:
    query: TransactionQuery = call.query
    return await history.page(call.session, call.user().user_id, query)


ENDPOINTS = [
    Endpoint("GET", "/v1/wallets", list_wallets, WALLET_HOLDERS,
             "Your balances per asset: available, pending (per network) and held",
             response=Wallets, tags=("wallets",)),
    Endpoint("GET", "/v1/wallets/{network}/address", deposit_address, WALLET_HOLDERS,
             "Your deposit address on a network, the same on every call, with a QR code",
             response=DepositAddress, errors=(404, 503), tags=("wallets",)),
    Endpoint("GET", "/v1/transactions", list_transactions, WALLET_HOLDERS,
             "Your deposits, withdrawals and transfers, newest first",
             query=TransactionQuery, response=Page[Transaction], errors=(400,),
             tags=("wallets",)),
]  # fmt: skip  # one endpoint per entry, its fields grouped by hand
