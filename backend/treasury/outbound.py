"""Transactions we send: sign once, record, broadcast the recorded bytes, track to final.

    sign(session, runtime, kind, reference_id, source, to, amount)   → OutboundTx (signed)
    broadcast(session, runtime, tx)                                 signed → broadcast | failed
    track(session, runtime, tx)                                     broadcast → confirmed | failed

Invariants: the signed bytes and txid are committed before anything is broadcast, and only
those bytes are ever sent (again, when unsure: a node answers a repeat with the same txid),
so a job that dies anywhere can never send a second, different transaction for one step;
one business step (kind, reference) signs at most once; a sender signs its next transaction
only when none of its transactions is signed-but-unsent, under a per-sender lock, so nonces
follow one another without gaps. A transaction is final once its block is
`confirmations_required` deep: confirmed if it succeeded, failed if it reverted; the fee
it paid (Bitcoin's fixed when signing, Ethereum's and Tron's read from the receipt) is then
posted hot wallet → network fees, once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend import machine
from backend.connectors.chain import BroadcastRejected, ChainError
from backend.connectors.ethereum import erc20
from backend.errors import Conflict
from backend.events import service as events
from backend.keys import btc_plan, signer
from backend.keys.errors import NotEnoughCoins
from backend.keys.models import ChainAddress
from backend.ledger import service as ledger
from backend.ledger.models import Purpose
from backend.logs import get_logger
from backend.runtime import Runtime
from backend.treasury.models import OUTBOUND_ALLOWED, OutboundKind, OutboundStatus, OutboundTx
from contract.ids import new_id
from contract.money import Asset, Money, Network

log = get_logger(__name__)

# What a TRX payment must leave behind for its bandwidth (burnt when no free bandwidth is
# left; 270 bytes at 1,000 sun, rounded up).
TRX_SEND_RESERVE = Money.of("0.3", Asset.TRX)


class SenderBusy(Conflict):
    code = "sender_busy"
    message = "Another transaction from this address is waiting to be sent."


class CannotSendYet(Conflict):
    """The sending address cannot pay for this now (coins or gas short, or the node says it
    would fail): a treasury matter that a sweep or a top-up resolves; try again later."""

    code = "cannot_send_yet"
    message = "The sending address cannot pay for this transaction yet."


@dataclass(frozen=True)
class Signed:
    txid: str
    raw: str
    amount: Money  # what arrives (a Bitcoin sweep's is what its fee leaves)
    nonce: int | None = None
    fee: Money | None = None  # known when signing (Bitcoin); else from the receipt


async def find(session: AsyncSession, kind: OutboundKind, reference_id: str) -> OutboundTx | None:
    return await session.scalar(
        select(OutboundTx).where(OutboundTx.kind == kind, OutboundTx.reference_id == reference_id)
    )


async def get(session: AsyncSession, outbound_id: str) -> OutboundTx:
    row = await session.get(OutboundTx, outbound_id, populate_existing=True)
    if row is None:
        raise LookupError(f"no outbound transaction {outbound_id}")
    return row


# ------------------------------------------------------------------------------- signing


async def _next_nonce(session: AsyncSession, network: Network, sender: str, chain: int) -> int:
    """The node's count of the sender's transactions, or past our own live ones if higher
    (a transaction we signed may not have reached this node yet)."""
    ours = await session.scalar(
        select(func.max(OutboundTx.nonce)).where(
            OutboundTx.network == network,
            OutboundTx.sender == sender,
            OutboundTx.status != OutboundStatus.failed,
        )
    )
    return chain if ours is None else max(chain, ours + 1)


async def _sign_ethereum(
    session: AsyncSession, runtime: Runtime, source: ChainAddress, to: str, amount: Money
) -> Signed:
    node = runtime.chains.require_ethereum()
    settings = runtime.settings
    try:
        if amount.asset is Asset.USDT:
            data = erc20.transfer_calldata(to, amount.minor_units())
            params = await node.prepare(source.address, node.usdt, data=data)
        else:
            params = await node.prepare(source.address, to, value_wei=amount.minor_units())
    except BroadcastRejected as exc:  # estimating gas says it would revert
        raise CannotSendYet(reason=exc.extra.get("reason")) from None
    nonce = await _next_nonce(session, Network.ethereum, source.address, params.nonce)
    params = replace(params, nonce=nonce)
    if amount.asset is Asset.USDT:
        signed = await signer.sign_erc20_transfer(
            session, settings, source, token=node.usdt, to=to, amount=amount, params=params
        )
    else:
        signed = await signer.sign_ether_transfer(
            session, settings, source, to=to, amount=amount, params=params
        )
    return Signed(signed.txid, signed.raw, amount, nonce=nonce)


async def _sign_bitcoin(
    session: AsyncSession,
    runtime: Runtime,
    source: ChainAddress,
    to: str,
    amount: Money,
    everything: bool,
) -> Signed:
    node = runtime.chains.require_bitcoin()
    settings = runtime.settings
    coins = await node.unspent([source.address])
    fee_rate = (await node.estimate_fee()).unit_price
    try:
        if everything:
            plan = btc_plan.plan_sweep(
                coins, to=to, fee_rate=fee_rate, network=settings.bitcoin_network
            )
        else:
            # Change goes back to the sending address: the hot wallet keeps one address.
            plan = btc_plan.plan_payment(
                coins,
                to=to,
                sats=amount.minor_units(),
                change_address=source.address,
                fee_rate=fee_rate,
                network=settings.bitcoin_network,
            )
    except NotEnoughCoins as exc:
        raise CannotSendYet(**exc.extra) from None
    signed = await signer.sign_bitcoin(session, settings, plan)
    return Signed(
        signed.txid,
        signed.raw,
        Money.from_minor_units(plan.payee.sats, Asset.BTC),
        fee=Money.from_minor_units(plan.fee, Asset.BTC),
    )


async def _sign_tron(
    session: AsyncSession, runtime: Runtime, source: ChainAddress, to: str, amount: Money
) -> Signed:
    node = runtime.chains.require_tron()
    settings = runtime.settings
    params = await node.prepare()
    # A transfer the sender cannot cover still lands in a block (REVERT, OUT_OF_ENERGY) and
    # burns TRX, so check before signing rather than learn it from the receipt.
    trx = await node.balance(source.address, Asset.TRX)
    if amount.asset is Asset.USDT:
        held = await node.balance(source.address, Asset.USDT)
        if held < amount or trx < params.max_fee():
            raise CannotSendYet(usdt=str(held), trx=str(trx))
        signed = await signer.sign_trc20_transfer(
            session, settings, source, token=node.usdt, to=to, amount=amount, params=params
        )
    else:
        if trx < amount + TRX_SEND_RESERVE:
            raise CannotSendYet(trx=str(trx))
        signed = await signer.sign_trx_transfer(
            session, settings, source, to=to, amount=amount, params=params
        )
    return Signed(signed.txid, signed.raw, amount)


async def sign(
    session: AsyncSession,
    runtime: Runtime,
    *,
    kind: OutboundKind,
    reference_id: str,
    source: ChainAddress,
    to: str,
    amount: Money,
) -> OutboundTx:
    """Sign `amount` from `source` to `to` for one business step, once; a repeat returns the
    first. A Bitcoin sweep moves every coin of `source` (its fee taken from them).

    SenderBusy while another transaction of `source` waits to be broadcast; CannotSendYet
    when `source` cannot pay for it now; RefusedToSign (FeeAboveCap: its fee could exceed
    SIGNER_MAX_FEE) when the signer will not sign it, which is final for this step."""
    existing = await find(session, kind, reference_id)
    if existing is not None:
        return existing
    network = Network(source.network)
    # Held to commit: the next signer of this sender sees this one (and its nonce).
    await session.execute(
        select(
            func.pg_advisory_xact_lock(
                func.hashtextextended(f"outbound:{network}:{source.address}", 0)
            )
        )
    )
    waiting = await session.scalar(
        select(OutboundTx.id)
        .where(
            OutboundTx.network == network,
            OutboundTx.sender == source.address,
            OutboundTx.status == OutboundStatus.signed,
        )
        .limit(1)
    )
    if waiting is not None:
        raise SenderBusy(waiting_for=waiting)
    if network is Network.ethereum:
        signed = await _sign_ethereum(session, runtime, source, to, amount)
    elif network is Network.bitcoin:
        everything = kind is OutboundKind.sweep
        signed = await _sign_bitcoin(session, runtime, source, to, amount, everything)
    else:
        signed = await _sign_tron(session, runtime, source, to, amount)
    row = OutboundTx(
        id=new_id("otx"),
        network=network,
        kind=kind,
        reference_id=reference_id,
        sender=source.address,
        recipient=to,
        asset=signed.amount.asset,
        amount=signed.amount.amount,
        nonce=signed.nonce,
        txid=signed.txid,
        raw=signed.raw,
        status=OutboundStatus.signed,
        fee=signed.fee.amount if signed.fee else None,
        fee_asset=signed.fee.asset if signed.fee else None,
    )
    session.add(row)
    await session.flush()
    await events.emit(
        session,
        "outbound_transaction.signed",
        row.id,
        {"id": row.id, "kind": kind, "reference_id": reference_id, "txid": row.txid},
    )
    log.info(
        "outbound.signed",
        outbound_id=row.id,
        network=network,
        kind=kind,
        reference_id=reference_id,
        txid=row.txid,
        nonce=row.nonce,
    )
    return row


# ---------------------------------------------------------------------------- broadcasting


async def transition(
    session: AsyncSession, tx: OutboundTx, to: OutboundStatus, **values: object
) -> OutboundTx:
    return await machine.transition(
        session,
        OutboundTx,
        tx.id,
        OUTBOUND_ALLOWED,
        to,
        event=f"outbound_transaction.{to}",
        values=values,
        data={"kind": tx.kind, "reference_id": tx.reference_id, "txid": tx.txid},
    )


async def _remember_trouble(session: AsyncSession, tx: OutboundTx, error: ChainError) -> None:
    reason = str(error.extra.get("reason") or error.message)
    await session.execute(
        update(OutboundTx).where(OutboundTx.id == tx.id).values(last_error=reason[:500])
    )
    log.warning("outbound.node_trouble", outbound_id=tx.id, txid=tx.txid, error=error.code)


async def broadcast(session: AsyncSession, runtime: Runtime, tx: OutboundTx) -> OutboundTx:
    """Send the recorded bytes. A refusal is final (`failed`, no fee); a node that cannot be
    reached, or answers something else, leaves it `signed` for the next try."""
    if tx.status != OutboundStatus.signed:
        return tx
    node = runtime.chains.require(Network(tx.network))
    try:
        txid = await node.broadcast(tx.raw)
    except BroadcastRejected as exc:
        reason = str(exc.extra.get("reason") or exc.message)
        log.warning("outbound.rejected", outbound_id=tx.id, txid=tx.txid, reason=reason)
        # Refused: never in a block, so no fee was paid (a Bitcoin plan's fee included).
        return await transition(
            session,
            tx,
            OutboundStatus.failed,
            last_error=reason[:500],
            final_at=func.now(),
            fee=None,
            fee_asset=None,
        )
    except ChainError as exc:
        await _remember_trouble(session, tx, exc)
        return tx
    if txid.lower() != tx.txid.lower():
        log.error("outbound.txid_mismatch", outbound_id=tx.id, ours=tx.txid, node=txid)
    log.info("outbound.broadcast", outbound_id=tx.id, txid=tx.txid)
    return await transition(
        session, tx, OutboundStatus.broadcast, broadcast_at=func.now(), last_error=None
    )


# -------------------------------------------------------------------------------- tracking


@dataclass(frozen=True)
class Seen:
    """Where a broadcast transaction is now: `depth` 0 while not in the current chain."""

    depth: int
    block_height: int | None
    succeeded: bool
    fee: Money | None


async def _where_ethereum(runtime: Runtime, tx: OutboundTx) -> Seen:
    node = runtime.chains.require_ethereum()
    receipt = await node.receipt(tx.txid)
    if receipt is None:
        return Seen(0, None, True, None)
    tip = await node.tip()
    return Seen(
        depth=max(0, tip.height - receipt.block.height + 1),
        block_height=receipt.block.height,
        succeeded=receipt.succeeded,
        fee=receipt.fee(),
    )


async def _where_bitcoin(runtime: Runtime, tx: OutboundTx) -> Seen:
    # A Bitcoin transaction cannot fail once mined, and its fee was fixed when signed.
    depth = await runtime.chains.require_bitcoin().confirmations(tx.txid)
    return Seen(depth, None, True, fee_paid(tx))


async def _where_tron(runtime: Runtime, tx: OutboundTx) -> Seen:
    node = runtime.chains.require_tron()
    depth = await node.confirmations(tx.txid)
    if depth == 0:
        return Seen(0, None, True, None)
    receipt = await node.receipt(tx.txid)
    if receipt is None:  # in a block a moment ago, so the node should have its receipt
        raise ChainError("The Tron node has no receipt for this transaction.")
    return Seen(depth, receipt.block_height, receipt.succeeded, receipt.fee)


WHERE = {
    Network.ethereum: _where_ethereum,
    Network.bitcoin: _where_bitcoin,
    Network.tron: _where_tron,
}


async def _post_fee(session: AsyncSession, tx: OutboundTx, fee: Money) -> None:
    if fee.is_zero():
        return
    network = Network(tx.network)
    hot = await ledger.system_account(session, Purpose.hot_wallet, fee.asset, network)
    spent = await ledger.system_account(session, Purpose.network_fees, fee.asset)
    await ledger.post(
        session,
        f"outbound:{tx.id}:fee",
        ledger.transfer(spent.id, hot.id, fee),
        memo=f"{network} fee of {tx.kind} {tx.txid}",
        reference=tx.reference_id,
    )


async def track(session: AsyncSession, runtime: Runtime, tx: OutboundTx) -> OutboundTx:
    """Count the confirmations of a broadcast transaction and settle it once deep enough.

    Not in the chain (still in a mempool, dropped, or its block reorged away): the same
    bytes go out again, which a node that has them answers with their txid."""
    if tx.status != OutboundStatus.broadcast:
        return tx
    network = Network(tx.network)
    try:
        seen = await WHERE[network](runtime, tx)
        if seen.depth == 0:
            await runtime.chains.require(network).broadcast(tx.raw)
    except ChainError as exc:
        await _remember_trouble(session, tx, exc)
        return tx
    required = runtime.settings.confirmations_required(network)
    if seen.depth < required or seen.fee is None:
        await session.execute(
            update(OutboundTx)
            .where(OutboundTx.id == tx.id)
            .values(confirmations=seen.depth, block_height=seen.block_height)
        )
        tx.confirmations, tx.block_height = seen.depth, seen.block_height
        return tx
    to = OutboundStatus.confirmed if seen.succeeded else OutboundStatus.failed
    moved = await transition(
        session,
        tx,
        to,
        confirmations=seen.depth,
        block_height=seen.block_height,
        fee=seen.fee.amount,
        fee_asset=seen.fee.asset,
        final_at=func.now(),
        last_error=None if seen.succeeded else "reverted in its block",
    )
    await _post_fee(session, moved, seen.fee)
    log.info("outbound.final", outbound_id=tx.id, txid=tx.txid, status=to, fee=str(seen.fee))
    return moved


def fee_paid(tx: OutboundTx) -> Money | None:
    if tx.fee is None or tx.fee_asset is None:
        return None
    return Money(amount=Decimal(tx.fee), asset=Asset(tx.fee_asset))
