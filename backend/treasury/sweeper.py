"""The sweeper: moves what customers deposited from their deposit addresses to the network's
hot wallet, sending native coin ahead where a token transfer needs gas.

    plan(session, runtime) -> list[str]           sweeps opened (addresses over threshold)
    advance(session, runtime, sweep_id) -> bool   one step; True when it moved

A sweep is `topping_up` (ETH for an ERC-20 sweep, TRX for a TRC-20 one, sent from the hot
wallet) then `sending` (the deposit address's coins to the hot wallet), then `confirmed`,
or `failed` (the next plan starts afresh). Each step signs once per sweep and kind
(outbound.sign), records before broadcasting, and is taken by one worker at a time (the
row is locked, a busy row skipped), so a step run twice changes nothing.

The ledger: a network's hot-wallet account mirrors every address we hold on that network,
the deposit addresses and the hot wallet alike (a confirmed deposit moved value from it to
the customer), so coins moving between our own addresses change no balance. What the
moves cost does: each transaction's fee is posted hot wallet → network fees, once, when it
is final (outbound.track), with the sweep as its reference; the sweep and outbound rows
record every amount moved.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend import machine, queue
from backend.chains.models import Payment
from backend.connectors.chain import ChainError
from backend.connectors.ethereum.client import ERC20_TRANSFER_GAS
from backend.errors import InvariantBroken
from backend.keys import service as keys
from backend.keys.errors import RefusedToSign
from backend.keys.models import AddressPurpose, ChainAddress
from backend.logs import get_logger
from backend.runtime import Runtime
from backend.treasury import outbound
from backend.treasury.models import (
    SWEEP_ALLOWED,
    SWEEP_OPEN,
    OutboundKind,
    OutboundStatus,
    OutboundTx,
    Sweep,
    SweepStatus,
)
from contract.deposits import PaymentStatus
from contract.ids import new_id
from contract.money import Asset, Money, Network, Rounding
from contract.wallets import WALLET_NETWORKS

log = get_logger(__name__)

ADVANCE_JOB = "treasury.advance_sweep"
# Gas sent ahead is this much more than the fee asked now: fees move between the top-up
# and the sweep, and a sweep short of gas would need a second top-up.
GAS_HEADROOM = Decimal("1.25")
# Gas limit of a USDT transfer as the connector signs it: the node's estimate plus 20%.
SWEEP_GAS = ERC20_TRANSFER_GAS * 6 // 5
# How many deposit addresses one plan looks at per asset (the most recently paid first).
PLAN_BATCH = 100


def thresholds(runtime: Runtime) -> dict[tuple[Asset, Network], Money]:
    """What a deposit address must hold before it is swept, per wallet asset and network."""
    settings = runtime.settings
    return {
        (asset, network): Money.of(settings.sweep_threshold(asset, network), asset)
        for asset, networks in WALLET_NETWORKS.items()
        for network in networks
    }


async def _candidates(session: AsyncSession, network: Network, asset: Asset) -> list[ChainAddress]:
    """Deposit addresses with a deposit confirmed since their last sweep began, and no sweep
    open now: the only ones whose balance can have grown."""
    last_sweep = (
        select(func.max(Sweep.created_at))
        .where(
            Sweep.address_id == Payment.address_id,
            Sweep.asset == asset,
            Sweep.status != SweepStatus.failed,
        )
        .scalar_subquery()
    )
    open_sweep = (
        select(Sweep.id)
        .where(
            Sweep.address_id == Payment.address_id,
            Sweep.asset == asset,
            Sweep.status.in_(list(SWEEP_OPEN)),
        )
        .exists()
    )
    paid = (
        select(Payment.address_id)
        .where(
            Payment.network == network,
            Payment.asset == asset,
            Payment.purpose == AddressPurpose.deposit,
            Payment.status == PaymentStatus.confirmed,
            ~open_sweep,
        )
        .group_by(Payment.address_id)
        .having(
            func.max(Payment.confirmed_at)
            > func.coalesce(func.max(last_sweep), func.to_timestamp(0))
        )
        .order_by(func.max(Payment.confirmed_at).desc())
        .limit(PLAN_BATCH)
    )
    ids = list(await session.scalars(paid))
    if not ids:
        return []
    return list(await session.scalars(select(ChainAddress).where(ChainAddress.id.in_(ids))))


async def _gas_to_send(runtime: Runtime, address: ChainAddress) -> Money | None:
    """Native coin the deposit address lacks to pay its sweep's fee, with headroom; None
    when it needs none (Bitcoin pays from the coins swept, or enough is there already)."""
    network = Network(address.network)
    if network is Network.ethereum:
        node = runtime.chains.require_ethereum()
        price = (await node.estimate_fee()).unit_price
        # The signed transfer may cost at most its gas limit (the node's estimate plus 20%)
        # times its max fee (twice the base fee plus the tip, below twice today's price).
        needed = Money.from_minor_units(SWEEP_GAS * 2 * price, Asset.ETH)
        have = await node.balance(address.address, Asset.ETH)
    elif network is Network.tron:
        tron = runtime.chains.require_tron()
        needed = (await tron.prepare()).max_fee()  # the energy a transfer may burn
        have = await tron.balance(address.address, Asset.TRX)
    else:
        return None
    wanted = Money.rounded(needed.amount * GAS_HEADROOM, needed.asset, Rounding.customer_pays)
    return None if have >= wanted else wanted - have


async def plan(session: AsyncSession, runtime: Runtime) -> list[str]:
    """Open a sweep for every deposit address holding at least its asset's threshold on a
    network this process can send on; the new sweeps are enqueued after the commit."""
    opened: list[str] = []
    for (asset, network), minimum in thresholds(runtime).items():
        node = runtime.chains.get(network)
        if node is None:
            continue
        for address in await _candidates(session, network, asset):
            try:
                balance = await node.balance(address.address, asset)
                if balance < minimum:
                    continue
                gas = await _gas_to_send(runtime, address)
            except ChainError as exc:
                log.warning("sweeps.node_trouble", network=network, error=exc.code)
                break
            sweep = Sweep(
                id=new_id("swp"),
                network=network,
                asset=asset,
                address_id=address.id,
                address=address.address,
                amount=balance.amount,
                gas_amount=gas.amount if gas else None,
                gas_asset=gas.asset if gas else None,
                status=SweepStatus.topping_up if gas else SweepStatus.sending,
            )
            session.add(sweep)
            await session.flush()
            log.info(
                "sweeps.planned",
                sweep_id=sweep.id,
                network=network,
                address=address.address,
                amount=str(balance),
                gas=str(gas) if gas else None,
            )
            queue.enqueue_after_commit(session, ADVANCE_JOB, sweep.id)
            opened.append(sweep.id)
    return opened


async def open_ids(session: AsyncSession, limit: int = 200) -> list[str]:
    rows = await session.scalars(
        select(Sweep.id)
        .where(Sweep.status.in_(list(SWEEP_OPEN)))
        .order_by(Sweep.updated_at)
        .limit(limit)
    )
    return list(rows)


# ---------------------------------------------------------------------------------- steps


async def transition(session: AsyncSession, row: Sweep, to: SweepStatus, **values: object) -> None:
    await machine.transition(
        session,
        Sweep,
        row.id,
        SWEEP_ALLOWED,
        to,
        event=f"sweep.{to}",
        values=values,
        data={"network": row.network, "asset": row.asset, "address": row.address},
    )


async def _send(session: AsyncSession, runtime: Runtime, tx: OutboundTx) -> OutboundTx:
    """Broadcast a signed transaction, or track a broadcast one."""
    if tx.status == OutboundStatus.signed:
        return await outbound.broadcast(session, runtime, tx)
    return await outbound.track(session, runtime, tx)


async def _step(
    session: AsyncSession,
    runtime: Runtime,
    row: Sweep,
    kind: OutboundKind,
    source: ChainAddress,
    to: str,
    amount: Money,
) -> OutboundStatus | None:
    """Sign this step's transaction, or take it one step on; its status when it moved,
    None when nothing changed (busy sender, coins short, node trouble, still waiting)."""
    tx = await outbound.find(session, kind, row.id)
    if tx is None:
        try:
            tx = await outbound.sign(
                session,
                runtime,
                kind=kind,
                reference_id=row.id,
                source=source,
                to=to,
                amount=amount,
            )
        except outbound.SenderBusy:
            return None
        except outbound.CannotSendYet as exc:
            log.warning("sweeps.cannot_send", sweep_id=row.id, kind=kind, **exc.extra)
            return None
        except ChainError as exc:
            log.warning("sweeps.node_trouble", sweep_id=row.id, error=exc.code)
            return None
        return OutboundStatus.signed
    before = tx.status
    after = (await _send(session, runtime, tx)).status
    return OutboundStatus(after) if after != before else None


async def advance(session: AsyncSession, runtime: Runtime, sweep_id: str) -> bool:
    """Take one sweep one step further; the next step is enqueued after the commit."""
    row: Sweep | None = await session.scalar(
        select(Sweep)
        .where(Sweep.id == sweep_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if row is None or row.status not in SWEEP_OPEN:
        return False
    network = Network(row.network)
    hot = await keys.hot_wallet(session, runtime.settings, network)
    try:
        moved = await _take_step(session, runtime, row, hot)
    except RefusedToSign as exc:
        # Signing it again would be refused again (a fee above SIGNER_MAX_FEE): this sweep
        # ends, and the next plan opens a new one once fees allow.
        log.warning("sweeps.refused_to_sign", sweep_id=row.id, reason=exc.message)
        await transition(
            session, row, SweepStatus.failed, failure=f"refused to sign: {exc.message}"
        )
        return True
    if moved is not None and row.status in SWEEP_OPEN:
        queue.enqueue_after_commit(session, ADVANCE_JOB, row.id)
    return moved is not None


async def _take_step(
    session: AsyncSession, runtime: Runtime, row: Sweep, hot: ChainAddress
) -> OutboundStatus | None:
    if row.status == SweepStatus.topping_up:
        if row.gas_amount is None or row.gas_asset is None:
            raise InvariantBroken(f"Sweep {row.id} is topping up without a gas amount.")
        gas = Money(amount=row.gas_amount, asset=Asset(row.gas_asset))
        moved = await _step(session, runtime, row, OutboundKind.gas_topup, hot, row.address, gas)
        if moved is OutboundStatus.confirmed:
            await transition(session, row, SweepStatus.sending)
        elif moved is OutboundStatus.failed:
            await transition(session, row, SweepStatus.failed, failure="the gas top-up failed")
    else:
        deposit = await session.get(ChainAddress, row.address_id)
        if deposit is None:
            raise InvariantBroken(f"Sweep {row.id} names no known address.")
        coins = Money(amount=row.amount, asset=Asset(row.asset))
        moved = await _step(session, runtime, row, OutboundKind.sweep, deposit, hot.address, coins)
        if moved is OutboundStatus.confirmed:
            await transition(session, row, SweepStatus.confirmed)
        elif moved is OutboundStatus.failed:
            await transition(
                session, row, SweepStatus.failed, failure="the sweep transaction failed"
            )
    return moved
