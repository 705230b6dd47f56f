"""Planning a Bitcoin payment from our coins: which to spend, the fee, the change, RBF bumps.

Pure and keyless: a `Plan` is what the signer signs and what the caller records (its fee is
the network fee to post to the ledger). Coins are P2WPKH outputs of our own addresses.

Invariants: a plan's inputs pay exactly its outputs plus `fee`; `fee` is at least
`fee_rate` times the signed transaction's virtual size (estimated from the longest possible
signatures); every output is above the dust threshold; change below what it would cost to
create and later spend (or below dust) is left to the fee instead; a bump keeps every coin
of the plan it replaces (so the two can never both confirm) and pays what BIP-125 asks of
a replacement: a higher rate and at least the old fee plus the incremental relay fee.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backend.connectors.bitcoin.address import output_script
from backend.connectors.bitcoin.client import Utxo
from backend.keys.btc_tx import (
    P2WPKH_INPUT_VBYTES,
    P2WPKH_OUTPUT_VBYTES,
    dust_threshold,
    estimate_vsize,
)
from backend.keys.errors import NotEnoughCoins
from backend.settings import BitcoinNetwork

# Core's -incrementalrelayfee (sat/vB): what a replacement must add per vbyte of its own.
INCREMENTAL_RELAY_FEE = 1
# Caps on how many combinations branch and bound tries before falling back to largest-first.
_BNB_TRIES = 20_000


@dataclass(frozen=True)
class Output:
    address: str
    sats: int


@dataclass(frozen=True)
class Plan:
    network: BitcoinNetwork
    coins: tuple[Utxo, ...]
    payee: Output
    change: Output | None
    # The address change goes to (ours), kept when this plan has none so a bump can add it.
    change_address: str | None
    fee_rate: int  # sat/vB asked for; the plan pays at least this
    fee: int  # satoshis: inputs minus outputs

    @property
    def outputs(self) -> tuple[Output, ...]:
        return (self.payee,) if self.change is None else (self.payee, self.change)

    @property
    def vsize(self) -> int:
        """Virtual size once signed (an upper bound, off by at most a byte per input)."""
        return estimate_vsize(len(self.coins), [self._script(o.address) for o in self.outputs])

    @property
    def sweep(self) -> bool:
        """The payee takes whatever the fee leaves (a sweep), rather than a fixed amount."""
        return self.change_address is None

    def _script(self, address: str) -> bytes:
        return output_script(address, self.network)


def _min_change(change_script: bytes, fee_rate: int) -> int:
    # Worth keeping only if it beats dust and what it costs: its output now, its input later.
    return max(
        dust_threshold(change_script), fee_rate * (P2WPKH_OUTPUT_VBYTES + P2WPKH_INPUT_VBYTES)
    )


def _settle(
    network: BitcoinNetwork,
    coins: Sequence[Utxo],
    payee: Output,
    change_address: str | None,
    fee_rate: int,
    replaced_fee: int | None = None,
) -> Plan | None:
    """The plan spending exactly `coins`, or None if they cannot pay `payee` and the fee."""
    total = sum(coin.sats for coin in coins)
    payee_script = output_script(payee.address, network)

    def fee_for(scripts: list[bytes]) -> int:
        vsize = estimate_vsize(len(coins), scripts)
        fee = vsize * fee_rate
        if replaced_fee is not None:
            fee = max(fee, replaced_fee + vsize * INCREMENTAL_RELAY_FEE)
        return fee

    def plan(paid: Output, change: Output | None, fee: int) -> Plan:
        return Plan(network, tuple(coins), paid, change, change_address, fee_rate, fee)

    if change_address is None:  # a sweep: the payee gets the rest
        fee = fee_for([payee_script])
        rest = total - fee
        return (
            plan(Output(payee.address, rest), None, fee)
            if rest >= dust_threshold(payee_script)
            else None
        )
    change_script = output_script(change_address, network)
    fee = fee_for([payee_script, change_script])
    change = total - payee.sats - fee
    if change >= _min_change(change_script, fee_rate):
        return plan(payee, Output(change_address, change), fee)
    if total - payee.sats >= fee_for([payee_script]):
        return plan(payee, None, total - payee.sats)  # the small remainder goes to the fee
    return None


def _branch_and_bound(
    coins: Sequence[Utxo], target: int, tolerance: int, fee_rate: int
) -> list[Utxo] | None:
    """Coins whose value after their own input fee lands in [target, target + tolerance]:
    a payment without change. Depth-first over coins, largest first, bounded in tries."""
    ranked = sorted(coins, key=lambda c: c.sats, reverse=True)
    effective = [c.sats - fee_rate * P2WPKH_INPUT_VBYTES for c in ranked]
    remaining = [sum(effective[i:]) for i in range(len(effective))] + [0]
    best: tuple[int, list[int]] | None = None
    tries = 0
    stack: list[tuple[int, int, list[int]]] = [(0, 0, [])]
    while stack and tries < _BNB_TRIES:
        tries += 1
        index, value, chosen = stack.pop()
        if value > target + tolerance or value + remaining[index] < target:
            continue
        if value >= target:
            if best is None or value < best[0]:
                best = (value, chosen)
            continue
        if index == len(ranked):
            continue
        stack.append((index + 1, value, chosen))  # explored second: without this coin
        stack.append((index + 1, value + effective[index], [*chosen, index]))
    return None if best is None else [ranked[i] for i in best[1]]


def plan_payment(
    coins: Sequence[Utxo],
    *,
    to: str,
    sats: int,
    change_address: str,
    fee_rate: int,
    network: BitcoinNetwork,
) -> Plan:
    """Pay `sats` to `to` from some of `coins`, change to `change_address`, at `fee_rate`
    sat/vB. A set of coins that needs no change is preferred; otherwise the largest coins
    first. NotEnoughCoins if even all of them cannot pay it."""
    if fee_rate < 1:
        raise ValueError("fee_rate is at least 1 sat/vB")
    payee = Output(to, sats)
    payee_script = output_script(to, network)
    if sats < dust_threshold(payee_script):
        raise ValueError(f"{sats} sats is below the dust threshold of {to}")
    # A coin worth less than its own input fee only makes the payment dearer.
    useful = [c for c in coins if c.sats > fee_rate * P2WPKH_INPUT_VBYTES]
    change_script = output_script(change_address, network)
    base_fee = estimate_vsize(0, [payee_script]) * fee_rate
    exact = _branch_and_bound(
        useful, sats + base_fee, _min_change(change_script, fee_rate) - 1, fee_rate
    )
    if exact is not None:
        found = _settle(network, exact, payee, change_address, fee_rate)
        if found is not None:
            return found
    chosen: list[Utxo] = []
    for coin in sorted(useful, key=lambda c: c.sats, reverse=True):
        chosen.append(coin)
        found = _settle(network, chosen, payee, change_address, fee_rate)
        if found is not None:
            return found
    raise NotEnoughCoins(needed_sats=sats + base_fee, available_sats=sum(c.sats for c in useful))


def plan_sweep(coins: Sequence[Utxo], *, to: str, fee_rate: int, network: BitcoinNetwork) -> Plan:
    """Move every one of `coins` to `to` in one output, the fee taken from it."""
    if fee_rate < 1:
        raise ValueError("fee_rate is at least 1 sat/vB")
    if not coins:
        raise NotEnoughCoins(needed_sats=0, available_sats=0)
    found = _settle(network, coins, Output(to, 0), None, fee_rate)
    if found is None:
        raise NotEnoughCoins(available_sats=sum(c.sats for c in coins))
    return found


def bump(plan: Plan, fee_rate: int, extra: Sequence[Utxo] = ()) -> Plan:
    """The replacement (RBF) of `plan` at `fee_rate` or more: the same coins, a higher fee
    from the change (a sweep's payee), then from `extra` coins, largest first, if need be."""
    rate = max(fee_rate, plan.fee_rate + 1)
    if plan.sweep:
        found = _settle(plan.network, plan.coins, plan.payee, None, rate, plan.fee)
        if found is None:
            raise NotEnoughCoins(available_sats=sum(c.sats for c in plan.coins))
        return found
    coins = list(plan.coins)
    spare = sorted((c for c in extra if c not in plan.coins), key=lambda c: c.sats, reverse=True)
    while True:
        found = _settle(plan.network, coins, plan.payee, plan.change_address, rate, plan.fee)
        if found is not None:
            return found
        if not spare:
            raise NotEnoughCoins(available_sats=sum(c.sats for c in coins))
        coins.append(spare.pop(0))
