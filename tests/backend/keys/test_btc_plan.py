"""Planning BTC payments: coin choice, fees at the asked rate, change or none, dust, RBF bumps."""

from __future__ import annotations

import os

import pytest
from bip_utils import SegwitBech32Encoder

from backend.connectors.bitcoin import Utxo
from backend.keys import btc_plan
from backend.keys.btc_plan import INCREMENTAL_RELAY_FEE, Plan, bump, plan_payment, plan_sweep
from backend.keys.btc_tx import dust_threshold, estimate_vsize
from backend.keys.errors import NotEnoughCoins
from backend.settings import BitcoinNetwork

REGTEST = BitcoinNetwork.regtest


def address(program_bytes: int = 20, version: int = 0) -> str:
    return str(SegwitBech32Encoder.Encode("bcrt", version, os.urandom(program_bytes)))


OURS = address()
CHANGE = address()
PAYEE = address()


P2WPKH = b"\x00\x14" + bytes(20)
P2TR = b"\x51\x20" + bytes(32)


def coin(sats: int) -> Utxo:
    return Utxo(os.urandom(32).hex(), 0, sats, OURS, 101)


def balanced(plan: Plan) -> bool:
    return sum(c.sats for c in plan.coins) == sum(o.sats for o in plan.outputs) + plan.fee


def test_largest_coins_first_with_change_at_the_asked_rate() -> None:
    coins = [coin(10_000), coin(500_000), coin(200_000)]
    plan = plan_payment(
        coins, to=PAYEE, sats=600_000, change_address=CHANGE, fee_rate=10, network=REGTEST
    )
    assert [c.sats for c in plan.coins] == [500_000, 200_000]
    assert plan.payee == btc_plan.Output(PAYEE, 600_000)
    assert plan.change is not None and plan.change.address == CHANGE
    assert plan.vsize == estimate_vsize(2, [P2WPKH, P2WPKH]) == 209
    assert plan.fee == 10 * plan.vsize and balanced(plan)


def test_a_set_of_coins_that_needs_no_change_is_preferred() -> None:
    # 40,000 + 60,200 pay 100,000 and a 178 vB fee at 1 sat/vB, leaving 22 sats: no change.
    coins = [coin(150_000), coin(40_000), coin(60_200)]
    plan = plan_payment(
        coins, to=PAYEE, sats=100_000, change_address=CHANGE, fee_rate=1, network=REGTEST
    )
    assert sorted(c.sats for c in plan.coins) == [40_000, 60_200]
    assert plan.change is None and balanced(plan)
    assert plan.vsize <= plan.fee < plan.vsize + 294  # the rest goes to the fee, and it is small


def test_change_worth_less_than_spending_it_goes_to_the_fee() -> None:
    fee_with_change = 10 * estimate_vsize(1, [P2WPKH, P2WPKH])
    plan = plan_payment(
        [coin(100_000 + fee_with_change + 500)],
        to=PAYEE,
        sats=100_000,
        change_address=CHANGE,
        fee_rate=10,
        network=REGTEST,
    )
    # 500 sats of change would cost 990 to create and spend at 10 sat/vB.
    assert plan.change is None and plan.fee == fee_with_change + 500


def test_coins_worth_less_than_their_input_fee_are_left_alone() -> None:
    with pytest.raises(NotEnoughCoins):
        plan_payment(
            [coin(600)] * 50,
            to=PAYEE,
            sats=1_000,
            change_address=CHANGE,
            fee_rate=10,
            network=REGTEST,
        )


def test_not_enough_coins_and_dust_payments_are_refused() -> None:
    with pytest.raises(NotEnoughCoins) as short:
        plan_payment(
            [coin(50_000)],
            to=PAYEE,
            sats=50_000,
            change_address=CHANGE,
            fee_rate=1,
            network=REGTEST,
        )
    assert short.value.extra["available_sats"] == 50_000
    with pytest.raises(ValueError, match="dust"):
        plan_payment(
            [coin(50_000)], to=PAYEE, sats=293, change_address=CHANGE, fee_rate=1, network=REGTEST
        )


def test_any_standard_destination_is_paid_with_its_own_size_and_dust() -> None:
    taproot = address(32, 1)
    plan = plan_payment(
        [coin(100_000)], to=taproot, sats=330, change_address=CHANGE, fee_rate=2, network=REGTEST
    )
    assert plan.vsize == estimate_vsize(1, [P2TR, P2WPKH]) and balanced(plan)
    assert dust_threshold(P2TR) == 330 and dust_threshold(P2WPKH) == 294
    assert dust_threshold(bytes.fromhex("76a914" + "00" * 20 + "88ac")) == 546


def test_a_sweep_moves_every_coin_into_one_output() -> None:
    coins = [coin(30_000), coin(20_000), coin(5_000)]
    plan = plan_sweep(coins, to=PAYEE, fee_rate=5, network=REGTEST)
    assert plan.coins == tuple(coins) and plan.change is None and plan.sweep
    assert plan.fee == 5 * estimate_vsize(3, [P2WPKH])
    assert plan.payee.sats == 55_000 - plan.fee
    with pytest.raises(NotEnoughCoins):
        plan_sweep([coin(700)], to=PAYEE, fee_rate=5, network=REGTEST)


def test_a_bump_keeps_the_coins_and_pays_what_bip125_asks() -> None:
    coins = [coin(1_000_000)]
    plan = plan_payment(
        coins, to=PAYEE, sats=400_000, change_address=CHANGE, fee_rate=5, network=REGTEST
    )
    bumped = bump(plan, 6)
    assert bumped.coins == plan.coins and bumped.payee == plan.payee
    assert bumped.fee_rate == 6 and balanced(bumped)
    assert bumped.fee >= plan.fee + INCREMENTAL_RELAY_FEE * bumped.vsize
    assert bumped.fee / bumped.vsize > plan.fee / plan.vsize
    assert bump(plan, 1).fee_rate == 6  # never lower than the original's rate + 1


def test_a_bump_without_change_takes_another_coin() -> None:
    exact = [coin(100_000 + 110)]  # pays 100,000 at 1 sat/vB with no change
    plan = plan_payment(
        exact, to=PAYEE, sats=100_000, change_address=CHANGE, fee_rate=1, network=REGTEST
    )
    assert plan.change is None
    with pytest.raises(NotEnoughCoins):
        bump(plan, 20)
    extra = coin(50_000)
    bumped = bump(plan, 20, [extra])
    assert bumped.coins == (*plan.coins, extra) and bumped.change is not None
    assert bumped.fee >= 20 * bumped.vsize and balanced(bumped)


def test_a_sweep_bump_comes_out_of_the_payee() -> None:
    plan = plan_sweep([coin(80_000)], to=PAYEE, fee_rate=2, network=REGTEST)
    bumped = bump(plan, 10)
    assert bumped.payee.sats == 80_000 - bumped.fee and bumped.fee == 10 * bumped.vsize
