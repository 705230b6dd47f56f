"""One network's watcher: follow the chain, record payments to our addresses, confirm them.

Each tick: check that the cursor's block is still in the chain (else walk back through the
checkpoints to a block that is, and mark payments in the orphaned blocks `reorged`), scan
forward to the tip in bounded batches, look at the mempool, recount confirmations and
confirm what is deep (and final) enough. Invariants: the cursor advances only over blocks
actually scanned, in the same transaction that records their payments, so a node outage
or a crash never skips a block; a batch is kept only if the chain did not move under the
scan (its first block still follows the cursor and its last block kept its hash); a
payment is confirmed only after its block hash is checked against the node once more.
Only the leader (backend.chains.leader) ticks, and all its writes go through the lock's
connection.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend import queue
from backend.chains import service
from backend.chains.leader import Leadership
from backend.chains.models import IN_BLOCK, ChainCheckpoint, ChainCursor, Payment
from backend.chains.watched import WatchedAddresses
from backend.connectors.chain import BlockNotFound, BlockRef, ChainConnector, ChainError, Transfer
from backend.keys import service as keys
from backend.logs import get_logger
from backend.runtime import Runtime
from contract.deposits import PaymentStatus

log = get_logger(__name__)

STANDBY_RETRY_S = 5.0  # how often a process that is not the leader tries the lock
CONFIRM_BATCH = 500  # payments confirmed per tick at most; the rest wait one tick
BEAT_S = 5.0  # how often an uneventful tick tells /readyz it is alive (well inside stale)


@runtime_checkable
class Solidifying(Protocol):
    """A network with explicit finality (Tron): blocks at or below this height are final."""

    async def solidified_height(self) -> int: ...


@dataclass
class Tick:
    """What one tick did (for the loop's pacing, logs and tests)."""

    leading: bool
    tip: int | None = None
    height: int | None = None  # the cursor afterwards
    recorded: int = 0  # payments recorded or changed by a sighting
    reorged: int = 0
    replaced: int = 0
    confirmed: int = 0
    error: str | None = None  # the ChainError that ended the tick (the node's trouble)


class Watcher:
    def __init__(
        self,
        runtime: Runtime,
        connector: ChainConnector,
        *,
        confirmations: int,
        poll_interval_s: float = 1.0,
        batch_blocks: int = 100,
        reorg_window: int = 256,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.runtime = runtime
        self.connector = connector
        self.network = connector.network
        self.confirmations = confirmations
        self.poll_interval_s = poll_interval_s
        self.batch_blocks = batch_blocks
        self.reorg_window = reorg_window
        self.backoff_max_s = backoff_max_s
        self.leadership = Leadership(runtime.engine, self.network)
        self.watched = WatchedAddresses(self.network, runtime.sessionmaker)
        self._failing = False
        self._confirmed_through = -1  # the cursor height of the last complete confirm pass
        self._last_beat = -math.inf  # monotonic time the last good tick was written

    @classmethod
    def from_settings(cls, runtime: Runtime, connector: ChainConnector) -> Watcher:
        settings = runtime.settings
        return cls(
            runtime,
            connector,
            confirmations=settings.confirmations_required(connector.network),
            poll_interval_s=settings.chain_poll_interval_s,
            batch_blocks=settings.chain_scan_batch_blocks,
            reorg_window=settings.chain_reorg_window_blocks,
            backoff_max_s=settings.chain_backoff_max_s,
        )

    # ------------------------------------------------------------------------- loop

    async def run(self) -> None:
        """Tick until cancelled: every poll interval while leading and healthy, backing off
        while the node fails, every STANDBY_RETRY_S while another process leads."""
        failures = 0
        try:
            while True:
                started = time.monotonic()
                try:
                    tick = await self.tick()
                except Exception:
                    log.exception("chains.tick_failed", network=self.network)
                    tick = Tick(leading=True, error="exception")
                if not tick.leading:
                    delay = STANDBY_RETRY_S
                elif tick.error is not None:
                    failures += 1
                    delay = min(self.poll_interval_s * 2**failures, self.backoff_max_s)
                else:
                    failures = 0
                    delay = self.poll_interval_s - (time.monotonic() - started)
                await asyncio.sleep(max(0.0, delay))
        finally:
            await asyncio.shield(self.leadership.release())

    async def tick(self) -> Tick:
        """One pass, if this process leads the network (else `Tick(leading=False)`)."""
        was_leading = self.leadership.held
        if not await self.leadership.acquire():
            return Tick(leading=False)
        if not was_leading:
            # Another process may have led meanwhile: trust nothing remembered from before.
            self._confirmed_through, self._last_beat = -1, -math.inf
        try:
            return await self._tick()
        except ChainError as exc:
            await self._record_failure(exc)
            return Tick(leading=True, error=type(exc).__name__)
        except BaseException:
            # The database may have dropped our connection, and the lock with it: start over.
            await self.leadership.release()
            raise

    @asynccontextmanager
    async def _unit(self) -> AsyncIterator[AsyncSession]:
        async with self.leadership.unit_of_work() as session:
            queue.bind(session, self.runtime.queue)  # claims may enqueue after commit
            yield session

    async def _tick(self) -> Tick:
        tip = await self.connector.tip()
        result = Tick(leading=True, tip=tip.height)
        # Every address lookup of the scans below comes after reading the tip: any address a
        # payment in those blocks went to is committed by now (shown only after its commit).
        async with self._unit() as session:
            cursor = await session.get(ChainCursor, self.network, populate_existing=True)
            if cursor is None:
                # First run on this deployment: follow from the tip on.
                await self._advance(session, tip)
                height, block_hash = tip.height, tip.hash
            else:
                height, block_hash = cursor.height, cursor.hash
            waiting = await self._in_mempool(session)
        # Blocks known to be in the node's chain during this tick, by height.
        verified = {tip.height: tip.hash}
        if (height, block_hash) != (tip.height, tip.hash) and not await self._in_chain(
            height, block_hash
        ):
            height, block_hash, result.reorged = await self._unwind(height, tip)
        while height < tip.height:
            end = min(height + self.batch_blocks, tip.height)
            scanned = await self._scan(height, block_hash, end, tip, verified)
            if scanned is None:
                break  # the chain moved under the scan: the next tick walks back first
            (height, block_hash), recorded = scanned
            result.recorded += recorded
        result.height = height
        recorded, result.replaced = await self._mempool(waiting)
        result.recorded += recorded
        changed = result.recorded or result.reorged or result.replaced
        if changed or height != self._confirmed_through:
            result.confirmed = await self._confirm(height, verified)
            if result.confirmed < CONFIRM_BATCH:
                self._confirmed_through = height
        await self._record_success(tip)
        return result

    # ------------------------------------------------------------------------- blocks

    async def _in_chain(self, height: int, block_hash: str) -> bool:
        try:
            return (await self.connector.block_at(height)).hash == block_hash
        except BlockNotFound:
            return False  # the chain got shorter than our cursor

    async def _advance(self, session: AsyncSession, block: BlockRef) -> None:
        """Move the cursor to `block` (and keep it as a checkpoint), in the caller's txn."""
        values = {"height": block.height, "hash": block.hash}
        await session.execute(
            insert(ChainCursor)
            .values(network=self.network, tip_height=block.height, **values)
            .on_conflict_do_update(
                index_elements=["network"],
                set_={
                    **values,
                    "tip_height": func.greatest(ChainCursor.tip_height, block.height),
                    "ticked_at": func.now(),
                    "failing_since": None,
                    "last_error": None,
                },
            )
        )
        await session.execute(
            insert(ChainCheckpoint)
            .values(network=self.network, **values)
            .on_conflict_do_update(index_elements=["network", "height"], set_=values)
        )
        await session.execute(
            delete(ChainCheckpoint).where(
                ChainCheckpoint.network == self.network,
                ChainCheckpoint.height <= block.height - self.reorg_window,
            )
        )

    async def _scan(
        self, height: int, block_hash: str, end: int, tip: BlockRef, verified: dict[int, str]
    ) -> tuple[tuple[int, str], int] | None:
        """Record the payments in blocks height+1..end; None if the chain moved meanwhile."""
        try:
            last = tip if end == tip.height else await self.connector.block_at(end)
            transfers = await self.connector.scan(height + 1, end, self.watched)
            first = last if end == height + 1 else await self.connector.block_at(height + 1)
            still = await self.connector.block_at(end)
        except BlockNotFound:
            return None
        if first.parent_hash != block_hash or still.hash != last.hash:
            log.info("chains.moved_during_scan", network=self.network, start=height + 1, end=end)
            return None
        # The batch's last block kept its hash and its first follows the cursor: every
        # block the scan read lies on the chain through `last`.
        verified.update((t.block.height, t.block.hash) for t in transfers if t.block is not None)
        verified[last.height] = last.hash
        async with self._unit() as session:
            recorded = await self._record(session, transfers)
            await self._advance(session, last)
        return (last.height, last.hash), recorded

    async def _record(self, session: AsyncSession, transfers: Iterable[Transfer]) -> int:
        transfers = list(transfers)
        ours = await keys.by_addresses(session, self.network, {t.to_address for t in transfers})
        changed = 0
        for transfer in transfers:
            address = ours.get(transfer.to_address)
            if address is None:
                continue  # the node matched an address we do not know (another letter case)
            if await service.record(session, transfer, address, self.confirmations) is not None:
                changed += 1
        return changed

    async def _unwind(self, height: int, tip: BlockRef) -> tuple[int, str, int]:
        """Walk back to the newest checkpoint still in the chain; rewind to it."""
        async with self._unit() as session:
            checkpoints = (
                await session.execute(
                    select(ChainCheckpoint.height, ChainCheckpoint.hash)
                    .where(ChainCheckpoint.network == self.network)
                    .order_by(ChainCheckpoint.height.desc())
                )
            ).all()
        fork: BlockRef | None = None
        for checkpoint in checkpoints:
            if await self._in_chain(checkpoint.height, checkpoint.hash):
                fork = await self.connector.block_at(checkpoint.height)
                break
        if fork is None:
            # Deeper than every checkpoint (or a node with another chain): rescan from below
            # the oldest one; each payment up there is still checked against the node.
            lowest = min((c.height for c in checkpoints), default=height) - 1
            fork = await self.connector.block_at(max(0, min(lowest, tip.height)))
            log.error("chains.reorg_beyond_window", network=self.network, height=fork.height)
        orphaned = await self._rewind(fork)
        log.warning(
            "chains.reorg",
            network=self.network,
            depth=height - fork.height,
            fork=fork.height,
            orphaned=orphaned,
        )
        return fork.height, fork.hash, orphaned

    async def _rewind(self, fork: BlockRef) -> int:
        """Put the cursor back on `fork` (a block of the node's chain) so the blocks above it
        are scanned again; payments recorded above it in blocks the chain no longer has
        become `reorged`. Returns how many."""
        async with self._unit() as session:
            above = (
                await session.execute(
                    select(Payment.id, Payment.block_height, Payment.block_hash).where(
                        Payment.network == self.network,
                        Payment.block_height > fork.height,
                        Payment.status.in_(list(IN_BLOCK)),
                    )
                )
            ).all()
        hashes: dict[int, str | None] = {}
        orphaned = []
        for row in above:
            if row.block_height not in hashes:
                try:
                    hashes[row.block_height] = (
                        await self.connector.block_at(row.block_height)
                    ).hash
                except BlockNotFound:
                    hashes[row.block_height] = None
            if hashes[row.block_height] != row.block_hash:
                orphaned.append(row.id)
        async with self._unit() as session:
            for payment in await self._payments(session, orphaned):
                await service.orphan(session, payment)
            await session.execute(
                delete(ChainCheckpoint).where(
                    ChainCheckpoint.network == self.network, ChainCheckpoint.height > fork.height
                )
            )
            await self._advance(session, fork)
        return len(orphaned)

    async def _payments(self, session: AsyncSession, ids: list[str]) -> list[Payment]:
        if not ids:
            return []
        rows = await session.scalars(
            select(Payment)
            .where(Payment.id.in_(ids))
            .order_by(Payment.block_height, Payment.id)
            .execution_options(populate_existing=True)
        )
        return list(rows)

    # ------------------------------------------------------------------------- mempool

    async def _in_mempool(self, session: AsyncSession) -> list[tuple[str, str]]:
        """(id, txid) of the payments seen in the mempool and not yet in a block."""
        rows = await session.execute(
            select(Payment.id, Payment.txid).where(
                Payment.network == self.network,
                Payment.status == PaymentStatus.seen,
                Payment.block_hash.is_(None),
            )
        )
        return [(row.id, row.txid) for row in rows]

    async def _mempool(self, waiting: list[tuple[str, str]]) -> tuple[int, int]:
        """Record pool transfers as seen; a seen one that left the pool unmined is replaced.

        `waiting` are the pool payments known before this tick's scan. Returns (recorded,
        replaced).
        """
        pending = await self.connector.pending(self.watched)
        if not pending and not waiting:
            return 0, 0
        in_pool = {transfer.txid for transfer in pending}
        gone = []
        for payment_id, txid in waiting:
            # Not in the pool: mined since we read the tip (it has confirmations, and the
            # next scan records its block) or replaced / double-spent (it has none).
            if txid not in in_pool and await self.connector.confirmations(txid) == 0:
                gone.append(payment_id)
        async with self._unit() as session:
            recorded = await self._record(session, pending)
            replaced = 0
            for payment in await self._payments(session, gone):
                if payment.state is PaymentStatus.seen and payment.block_hash is None:
                    await service.transition(session, payment, PaymentStatus.replaced)
                    replaced += 1
        return recorded, replaced

    # ------------------------------------------------------------------------- confirming

    async def _confirm(self, height: int, verified: dict[int, str]) -> int:
        """Recount confirmations up to `height` (scanned and checked); confirm the deep ones
        whose block is still the chain's (`verified` spares asking the node again)."""
        deep_enough = Payment.block_height + Payment.required_confirmations - 1 <= height
        async with self._unit() as session:
            open_in_block = (
                Payment.network == self.network,
                Payment.status == PaymentStatus.seen,
                Payment.block_height.is_not(None),
            )
            await session.execute(
                update(Payment)
                .where(*open_in_block)
                .values(confirmations=func.greatest(height - Payment.block_height + 1, 0))
            )
            candidates = (
                await session.execute(
                    select(Payment.id, Payment.block_height, Payment.block_hash)
                    .where(*open_in_block, deep_enough)
                    .order_by(Payment.block_height, Payment.id)
                    .limit(CONFIRM_BATCH)
                )
            ).all()
        if not candidates:
            return 0
        final_height = height
        if isinstance(self.connector, Solidifying):
            final_height = min(height, await self.connector.solidified_height())
        ready: list[tuple[int, str]] = []
        for row in candidates:
            if row.block_height > final_height:
                continue
            if row.block_height not in verified:
                verified[row.block_height] = (await self.connector.block_at(row.block_height)).hash
            if verified[row.block_height] != row.block_hash:
                # Recorded from a block the chain does not have, though the cursor's block is
                # still there (a reorg raced a scan): rescan from just below it.
                log.warning("chains.stale_block", network=self.network, height=row.block_height)
                await self._rewind(await self.connector.block_at(row.block_height - 1))
                ready = [(h, i) for h, i in ready if h < row.block_height]
                break
            ready.append((row.block_height, row.id))
        async with self._unit() as session:
            for payment in await self._payments(session, [i for _, i in ready]):
                if payment.state is PaymentStatus.seen:
                    await service.transition(
                        session, payment, PaymentStatus.confirmed, confirmed_at=func.now()
                    )
        return len(ready)

    # ------------------------------------------------------------------------- health

    async def _record_success(self, tip: BlockRef) -> None:
        if not self._failing and time.monotonic() - self._last_beat < BEAT_S:
            return
        async with self._unit() as session:
            await session.execute(
                update(ChainCursor)
                .where(ChainCursor.network == self.network)
                .values(
                    tip_height=tip.height, ticked_at=func.now(), failing_since=None, last_error=None
                )
            )
        self._last_beat = time.monotonic()
        if self._failing:
            log.info("chains.node_back", network=self.network)
            self._failing = False

    async def _record_failure(self, exc: ChainError) -> None:
        if not self._failing:
            # Once per outage, not once per try.
            log.warning(
                "chains.node_failing",
                network=self.network,
                error=type(exc).__name__,
                reason=exc.extra.get("reason"),
            )
            self._failing = True
        async with self._unit() as session:
            await session.execute(
                update(ChainCursor)
                .where(ChainCursor.network == self.network)
                .values(
                    failing_since=func.coalesce(ChainCursor.failing_since, func.now()),
                    last_error=type(exc).__name__,
                )
            )
