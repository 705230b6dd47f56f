"""Custodial wallets on the wire: balances, deposit addresses, withdrawals, P2P transfers and
the history that lists them together.

Invariants: a wallet is per asset, and its `available` balance is one pool whatever network
the coins came in on (USDT deposited on Tron can leave on Ethereum); `pending` is broken
down per network because that is where a deposit waits for confirmations. Amounts are
decimal strings at the asset's exponent; a withdrawal's `amount` is what arrives, and
`total` (amount plus fees) is what leaves the balance.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import Field, PlainSerializer, RootModel, field_validator, model_validator

from contract.base import RequestModel, ResponseModel
from contract.money import EXPONENT, Asset, Money, Network, requested_amount
from contract.quotes import FeeLine

# A decimal string in fixed-point notation ("0.00000000", never "0E-8").
Amount = Annotated[Decimal, PlainSerializer(lambda value: format(value, "f"), return_type=str)]

# What a customer wallet holds, and the networks each asset arrives and leaves on. ETH and
# TRX are only gas for our own transactions, never a customer balance.
WALLET_NETWORKS: dict[Asset, tuple[Network, ...]] = {
    Asset.BTC: (Network.bitcoin,),
    Asset.USDT: (Network.ethereum, Network.tron),
}
NETWORK_ASSETS: dict[Network, tuple[Asset, ...]] = {
    network: tuple(a for a, networks in WALLET_NETWORKS.items() if network in networks)
    for network in Network
}
NETWORK_NAMES: dict[Network, str] = {
    Network.bitcoin: "Bitcoin",
    Network.ethereum: "Ethereum (ERC-20)",
    Network.tron: "Tron (TRC-20)",
}


def _exact_amount(value: Decimal, asset: Asset) -> Decimal:
    places = EXPONENT[asset]
    if value <= 0:
        raise ValueError("amount must be positive")
    if value != value.quantize(Decimal(1).scaleb(-places)):
        raise ValueError(f"{asset} has {places} decimals")
    return value


def _carried(asset: Asset, network: Network) -> None:
    if network not in WALLET_NETWORKS.get(asset, ()):
        raise ValueError(f"{asset} is not sent on {network}")


# ------------------------------------------------------------------------------- balances


class NetworkBalance(ResponseModel):
    pending: Amount = Field(description="Deposits seen on this network, not yet confirmed")


class Wallet(ResponseModel):
    asset: Asset
    available: Amount = Field(description="Spendable now, on any of the asset's networks")
    pending: Amount = Field(description="Deposits on their way; spendable once confirmed")
    held: Amount = Field(description="Reserved for withdrawals that are being sent")
    networks: dict[Network, NetworkBalance]


class Wallets(RootModel[dict[Asset, Wallet]]):
    """Every wallet asset, keyed by asset: `{"USDT": {"available": "3.870000", …}}`."""


class DepositAddress(ResponseModel):
    network: Network
    address: str
    assets: list[Asset] = Field(description="What may be sent to this address")
    uri: str | None = Field(
        default=None, description="A payment URI (BIP-21 `bitcoin:`) where the network has one"
    )
    qr_svg: str = Field(description="An SVG QR code of `uri`, or of the address without one")
    created_at: datetime


# ----------------------------------------------------------------------------- withdrawals


class WithdrawalStatus(StrEnum):
    requested = "requested"  # funds held, waiting to be signed
    signed = "signed"  # the transaction exists, not yet sent to the network
    broadcast = "broadcast"  # sent, waiting for confirmations
    confirmed = "confirmed"  # final (an internal withdrawal is confirmed at once)
    failed = "failed"  # did not happen; the held funds went back to available


class _WithdrawalFields(RequestModel):
    asset: Asset
    network: Network
    address: str = Field(min_length=1, max_length=128)
    amount: Decimal = Field(description="What the address receives; fees come on top")

    @field_validator("amount", mode="before")
    @classmethod
    def _decimal(cls, value: Any) -> Decimal:
        return requested_amount(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _carried(self.asset, self.network)
        _exact_amount(self.amount, self.asset)
        return self


class WithdrawalPreviewQuery(RequestModel):
    """What a withdrawal would cost now, refused as the request itself would be (balance,
    limits); nothing is held or sent. Leave `amount` out to preview the most you can send,
    fees included; leave `address` out to price a send to an outside address."""

    asset: Asset
    network: Network
    address: str | None = Field(default=None, min_length=1, max_length=128)
    amount: Decimal | None = Field(
        default=None, description="What the address receives; omit for the most you can send"
    )

    @field_validator("amount", mode="before")
    @classmethod
    def _decimal(cls, value: Any) -> Decimal | None:
        return None if value is None else requested_amount(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _carried(self.asset, self.network)
        if self.amount is not None:
            _exact_amount(self.amount, self.asset)
        return self


class WithdrawalRequest(_WithdrawalFields):
    max_fee: Decimal | None = Field(
        default=None,
        description="Refuse (409 fee_changed) if the fee now exceeds this, e.g. the fee a "
        "preview showed",
    )

    @field_validator("max_fee", mode="before")
    @classmethod
    def _fee_decimal(cls, value: Any) -> Decimal | None:
        return None if value is None else requested_amount(value)


class WithdrawalPreview(ResponseModel):
    asset: Asset
    network: Network
    address: str | None = Field(
        description="The address in canonical form (null when the preview named none)"
    )
    internal: bool = Field(description="A Qpeapay user's address: settles at once, no chain fee")
    amount: Money
    fees: list[FeeLine]
    fee: Money
    total: Money = Field(description="What leaves your available balance")
    available: Money


class Withdrawal(ResponseModel):
    id: str
    object: str = "withdrawal"
    status: WithdrawalStatus
    asset: Asset
    network: Network
    address: str
    internal: bool
    amount: Money
    fees: list[FeeLine]
    fee: Money
    total: Money
    txid: str | None = None
    confirmations: int = 0
    failure_code: str | None = None
    failure_message: str | None = None
    created_at: datetime
    updated_at: datetime


# ------------------------------------------------------------------------------- transfers


class TransferRequest(RequestModel):
    to: str = Field(min_length=3, max_length=254, description="The recipient's email or phone")
    asset: Asset
    amount: Decimal
    note: str | None = Field(default=None, max_length=140)

    @field_validator("amount", mode="before")
    @classmethod
    def _decimal(cls, value: Any) -> Decimal:
        return requested_amount(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.asset not in WALLET_NETWORKS:
            raise ValueError(f"{self.asset} is not held in wallets")
        _exact_amount(self.amount, self.asset)
        return self


class TransferPreviewQuery(RequestModel):
    """Check a transfer before confirming it: the recipient exists and is not you, and the
    amount fits your balance and limits. Nothing moves."""

    to: str = Field(min_length=3, max_length=254, description="The recipient's email or phone")
    asset: Asset
    amount: Decimal

    @field_validator("amount", mode="before")
    @classmethod
    def _decimal(cls, value: Any) -> Decimal:
        return requested_amount(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.asset not in WALLET_NETWORKS:
            raise ValueError(f"{self.asset} is not held in wallets")
        _exact_amount(self.amount, self.asset)
        return self


class TransferPreview(ResponseModel):
    to: str = Field(description="The recipient as you typed it, normalised (email or +254…)")
    asset: Asset
    amount: Money
    fee: Money = Field(description="Always zero: transfers between Qpeapay users are free")
    total: Money = Field(description="What leaves your available balance")
    available: Money


class TransferDirection(StrEnum):
    sent = "sent"
    received = "received"


class Transfer(ResponseModel):
    id: str
    object: str = "transfer"
    direction: TransferDirection
    counterparty: str = Field(description="The other person's email")
    asset: Asset
    amount: Money
    note: str | None = None
    status: str = "completed"
    created_at: datetime


# --------------------------------------------------------------------------------- history


class TransactionKind(StrEnum):
    deposit = "deposit"
    withdrawal = "withdrawal"
    transfer_in = "transfer_in"
    transfer_out = "transfer_out"


class TransactionStatus(StrEnum):
    pending = "pending"
    completed = "completed"
    failed = "failed"


class Transaction(ResponseModel):
    """One line of a wallet's history; `id` is the deposit, withdrawal or transfer's own."""

    id: str
    kind: TransactionKind
    status: TransactionStatus
    state: str = Field(description="The object's own status, e.g. a withdrawal's `broadcast`")
    asset: Asset
    network: Network | None = None
    amount: Money = Field(description="Always positive; `kind` says which way it went")
    fee: Money
    address: str | None = None
    counterparty: str | None = None
    txid: str | None = None
    confirmations: int | None = None
    created_at: datetime


class TransactionQuery(RequestModel):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)
    asset: Asset | None = None
