"""Signing BTC: BIP-143's published vector, then real withdrawals through the Core stand-in and
the real connector: broadcast, mined, change back to us, double spends refused, RBF bumps."""

from __future__ import annotations

import hashlib

import coincurve
import ecdsa
import pytest
from ecdsa.util import sigdecode_der

from backend.connectors.bitcoin import BitcoinConnector, Utxo
from backend.connectors.bitcoin.address import output_script
from backend.connectors.chain import BroadcastRejected
from backend.db import unit_of_work
from backend.keys import btc_tx, service, signer
from backend.keys.btc_plan import Plan, bump, plan_payment, plan_sweep
from backend.keys.errors import RefusedToSign
from backend.keys.models import AddressPurpose, ChainAddress
from backend.runtime import Runtime
from backend.sandbox.bitcoin_wire import parse_tx
from backend.settings import BitcoinNetwork, Settings
from contract.money import Network
from tests.backend.connectors.bitcoin.conftest import Bitcoind, new_address

REGTEST = BitcoinNetwork.regtest
BTC = 100_000_000

# BIP-143, "Native P2WPKH": a version-1 transaction whose second input spends 6 BTC of the
# P2WPKH key below; its sighash and signature (RFC 6979 nonce) are published.
BIP143_UNSIGNED = (
    "0100000002fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f0000000000eeffff"
    "ffef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202c"
    "b206000000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143b"
    "de42dbee7e4dbe6a21b2d50ce2f0167faa815988ac11000000"
)
BIP143_KEY = "619c335025c7f4012e556c2a58b2506e30b8511b53ade95ea316fd8c3286feb9"
BIP143_PUBKEY = "025476c2e83188368da1ff3e292e7acafcdb3566bb0ad253f62fc70f07aeee6357"
BIP143_SIGHASH = "c37af31116d1b27caf68aae9e3ac82f1477929014d5b917657d0eb49478cb670"
BIP143_SIGNATURE = (
    "304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a0220573a954c45183315"
    "61406f90300e8f3358f51928d43c212a8caed02de67eebee"
)
# The first input's P2PK scriptSig, as the BIP gives it (not ours to sign: it is legacy).
BIP143_INPUT0_SCRIPT_SIG = (
    "4830450221008b9d1dc26ba6a9cb62127b02742fa9d754cd3bebf337f7a55d114c8e5cdd30be022040529b194b"
    "a3f9281a99f2b1c0a19c0489bc22ede944ccf4ecbab4cc618ef3ed01"
)
BIP143_SIGNED = (
    "01000000000102fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f000000004948"
    "30450221008b9d1dc26ba6a9cb62127b02742fa9d754cd3bebf337f7a55d114c8e5cdd30be022040529b194ba3"
    "f9281a99f2b1c0a19c0489bc22ede944ccf4ecbab4cc618ef3ed01eeffffffef51e1b804cc89d182d279655c3a"
    "a89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb206000000001976a9148280b37df3"
    "78db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42dbee7e4dbe6a21b2d50ce2f016"
    "7faa815988ac000247304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a"
    "0220573a954c4518331561406f90300e8f3358f51928d43c212a8caed02de67eebee0121025476c2e83188368d"
    "a1ff3e292e7acafcdb3566bb0ad253f62fc70f07aeee635711000000"
)
SECP256K1_HALF_ORDER = ecdsa.SECP256k1.order // 2


def bip143_transaction() -> btc_tx.Transaction:
    parsed = parse_tx(bytes.fromhex(BIP143_UNSIGNED))  # the stand-in's own parser
    return btc_tx.Transaction(
        tuple(btc_tx.TxIn(i.prev_txid, i.prev_vout, i.sequence) for i in parsed.inputs),
        tuple(btc_tx.TxOut(o.value, o.script) for o in parsed.outputs),
        version=parsed.version,
        locktime=parsed.locktime,
    )


def test_bip143_native_p2wpkh_vector() -> None:
    tx = bip143_transaction()
    assert tx.serialize().hex() == BIP143_UNSIGNED
    pubkey = bytes.fromhex(BIP143_PUBKEY)
    digest = tx.sighash(1, btc_tx.p2wpkh_script_code(pubkey), 6 * BTC)
    assert digest.hex() == BIP143_SIGHASH

    # The signing primitive the signer uses (libsecp256k1, RFC 6979) gives the BIP's bytes.
    signature = coincurve.PrivateKey(bytes.fromhex(BIP143_KEY)).sign(digest, hasher=None)
    assert signature.hex() == BIP143_SIGNATURE
    witness = (signature + bytes([btc_tx.SIGHASH_ALL]), pubkey)
    signed = btc_tx.Transaction(
        (
            btc_tx.TxIn(tx.inputs[0].txid, 0, 0xFFFFFFEE, bytes.fromhex(BIP143_INPUT0_SCRIPT_SIG)),
            btc_tx.TxIn(tx.inputs[1].txid, 1, 0xFFFFFFFF, witness=witness),
        ),
        tx.outputs,
        version=1,
        locktime=17,
    )
    assert signed.serialize().hex() == BIP143_SIGNED
    # The witness changes the wtxid, never the txid.
    bare = btc_tx.Transaction(
        (signed.inputs[0], btc_tx.TxIn(tx.inputs[1].txid, 1, 0xFFFFFFFF)), tx.outputs, 1, 17
    )
    assert signed.txid == bare.txid == bare.wtxid != signed.wtxid


# ------------------------------------------------------------------------- through the stand-in


async def allocate(runtime: Runtime, settings: Settings, *owners: str) -> list[ChainAddress]:
    async with unit_of_work(runtime.sessionmaker) as session:
        rows = [
            await service.allocate(session, settings, Network.bitcoin, AddressPurpose.deposit, o)
            for o in owners
        ]
        rows.append(await service.hot_wallet(session, settings, Network.bitcoin))
    return rows


async def sign(runtime: Runtime, settings: Settings, plan: Plan) -> signer.SignedTransaction:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await signer.sign_bitcoin(session, settings, plan)


def assert_signed_by_the_coins_keys(raw: str, plan: Plan) -> None:
    """Checked apart from the signer: ecdsa (not libsecp256k1) verifies each input's low-S
    signature over its BIP-143 digest, by the key whose hash the spent coin's script holds."""
    parsed = parse_tx(bytes.fromhex(raw))
    unsigned = btc_tx.Transaction(
        tuple(btc_tx.TxIn(i.prev_txid, i.prev_vout, i.sequence) for i in parsed.inputs),
        tuple(btc_tx.TxOut(o.value, o.script) for o in parsed.outputs),
        version=parsed.version,
        locktime=parsed.locktime,
    )
    for index, (txin, coin) in enumerate(zip(parsed.inputs, plan.coins, strict=True)):
        assert (txin.prev_txid, txin.prev_vout) == (coin.txid, coin.vout)
        assert txin.sequence == btc_tx.SEQUENCE_RBF  # replaceable: a stuck one can be bumped
        signature, pubkey = txin.witness
        assert signature[-1] == btc_tx.SIGHASH_ALL and len(pubkey) == 33
        assert btc_tx.p2wpkh_script(pubkey) == output_script(coin.address, REGTEST)
        digest = unsigned.sighash(index, btc_tx.p2wpkh_script_code(pubkey), coin.sats)
        key = ecdsa.VerifyingKey.from_string(pubkey, curve=ecdsa.SECP256k1)
        assert key.verify_digest(signature[:-1], digest, sigdecode=sigdecode_der)
        _, s = sigdecode_der(signature[:-1], ecdsa.SECP256k1.order)
        assert s <= SECP256K1_HALF_ORDER


async def test_a_withdrawal_with_change_is_signed_broadcast_and_mined(
    seeded: Runtime, settings: Settings, bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    deposit, hot = await allocate(seeded, settings, "usr_btc")
    bitcoind.pay(deposit.address, "0.5")
    bitcoind.pay(hot.address, "0.2")
    bitcoind.mine(1)
    coins = await bitcoin.unspent({deposit.address, hot.address})
    assert sorted(c.sats for c in coins) == [20_000_000, 50_000_000]
    outside = new_address()

    plan = plan_payment(
        coins, to=outside, sats=30_000_000, change_address=hot.address, fee_rate=12, network=REGTEST
    )
    signed = await sign(seeded, settings, plan)

    assert signed.network is Network.bitcoin and signed.sender == plan.coins[0].address
    assert_signed_by_the_coins_keys(signed.raw, plan)
    assert await bitcoin.broadcast(signed.raw) == signed.txid
    assert await bitcoin.broadcast(signed.raw) == signed.txid  # a retried job sends it again
    assert await bitcoin.unspent({deposit.address, hot.address}) == [
        c for c in coins if c not in plan.coins
    ]  # coins a pending withdrawal spends are not offered again
    entry = await bitcoin.rpc.call("getmempoolentry", signed.txid)
    # The estimate is an upper bound, off by at most a byte per signature.
    assert entry["vsize"] <= plan.vsize <= entry["vsize"] + len(plan.coins)
    assert entry["fees"]["base"] * BTC == plan.fee and entry["bip125-replaceable"] is True

    bitcoind.mine(1)
    assert await bitcoin.confirmations(signed.txid) >= 1
    tip = await bitcoin.tip()
    paid = await bitcoin.scan(tip.height, tip.height, {outside, hot.address})
    amounts = {t.to_address: t.amount.minor_units() for t in paid}
    assert plan.change is not None
    assert amounts == {outside: 30_000_000, hot.address: plan.change.sats}
    left = {(c.txid, c.sats) for c in await bitcoin.unspent({deposit.address, hot.address})}
    unused = {(c.txid, c.sats) for c in coins if c not in plan.coins}
    assert left == unused | {(signed.txid, plan.change.sats)}


async def test_a_double_spend_of_the_same_coin_is_refused(
    seeded: Runtime, settings: Settings, bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    deposit, hot = await allocate(seeded, settings, "usr_btc")
    bitcoind.pay(deposit.address, "0.1")
    bitcoind.mine(1)
    coins = await bitcoin.unspent({deposit.address})

    def pay(to: str, fee_rate: int) -> Plan:
        return plan_payment(
            coins,
            to=to,
            sats=5_000_000,
            change_address=hot.address,
            fee_rate=fee_rate,
            network=REGTEST,
        )

    first = await sign(seeded, settings, pay(new_address(), 5))
    await bitcoin.broadcast(first.raw)
    rival = await sign(seeded, settings, pay(new_address(), 5))  # same coin, no higher fee
    with pytest.raises(BroadcastRejected):
        await bitcoin.broadcast(rival.raw)

    bitcoind.mine(1)
    late = await sign(seeded, settings, pay(new_address(), 50))  # the coin is spent for good
    with pytest.raises(BroadcastRejected) as spent:
        await bitcoin.broadcast(late.raw)
    assert "missingorspent" in str(spent.value.extra["reason"])
    assert await bitcoin.confirmations(first.txid) == 1


async def test_a_stuck_withdrawal_is_replaced_by_its_bump(
    seeded: Runtime, settings: Settings, bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    deposit, hot = await allocate(seeded, settings, "usr_btc")
    bitcoind.pay(deposit.address, "0.1")
    bitcoind.mine(1)
    outside = new_address()
    plan = plan_payment(
        await bitcoin.unspent({deposit.address}),
        to=outside,
        sats=4_000_000,
        change_address=hot.address,
        fee_rate=2,
        network=REGTEST,
    )
    stuck = await sign(seeded, settings, plan)
    await bitcoin.broadcast(stuck.raw)

    faster = bump(plan, 25)
    replacement = await sign(seeded, settings, faster)
    assert await bitcoin.broadcast(replacement.raw) == replacement.txid
    assert stuck.txid not in await bitcoin.rpc.call("getrawmempool")

    bitcoind.mine(1)
    assert await bitcoin.confirmations(replacement.txid) == 1
    assert await bitcoin.confirmations(stuck.txid) == 0
    tip = await bitcoin.tip()
    (paid,) = await bitcoin.scan(tip.height, tip.height, {outside})
    assert (paid.txid, paid.amount.minor_units()) == (replacement.txid, 4_000_000)


async def test_a_sweep_moves_deposits_to_the_hot_wallet(
    seeded: Runtime, settings: Settings, bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    first, second, hot = await allocate(seeded, settings, "usr_a", "usr_b")
    bitcoind.pay(first.address, "0.01")
    bitcoind.pay(second.address, "0.02")
    bitcoind.pay(second.address, "0.03")
    bitcoind.mine(1)
    plan = plan_sweep(
        await bitcoin.unspent({first.address, second.address}),
        to=hot.address,
        fee_rate=3,
        network=REGTEST,
    )
    signed = await sign(seeded, settings, plan)
    assert_signed_by_the_coins_keys(signed.raw, plan)
    await bitcoin.broadcast(signed.raw)
    bitcoind.mine(1)
    (swept,) = await bitcoin.unspent({first.address, second.address, hot.address})
    assert swept.address == hot.address and swept.sats == 6_000_000 - plan.fee


async def test_the_signer_refuses_what_is_not_ours_to_sign(
    seeded: Runtime, settings: Settings
) -> None:
    deposit, hot = await allocate(seeded, settings, "usr_btc")
    ours = Utxo(hashlib.sha256(b"coin").hexdigest(), 0, 1_000_000, deposit.address, 1)
    stranger = Utxo(hashlib.sha256(b"theirs").hexdigest(), 1, 1_000_000, new_address(), 1)

    def pay(coins: list[Utxo], change: str) -> Plan:
        return plan_payment(
            coins,
            to=new_address(),
            sats=500_000,
            change_address=change,
            fee_rate=5,
            network=REGTEST,
        )

    for plan in (pay([stranger], hot.address), pay([ours], new_address())):
        with pytest.raises(RefusedToSign) as refused:
            await sign(seeded, settings, plan)
        assert refused.value.status == 422
    greedy = pay([ours], hot.address)
    assert greedy.change is not None
    absurd = Plan(
        greedy.network,
        greedy.coins,
        greedy.payee,
        None,
        greedy.change_address,
        greedy.fee_rate,
        greedy.fee + greedy.change.sats,  # 490,000 sats on ~110 vB
    )
    with pytest.raises(RefusedToSign, match="absurd"):
        await sign(seeded, settings, absurd)
    lying = Plan(greedy.network, greedy.coins, greedy.payee, greedy.change, hot.address, 5, 1)
    with pytest.raises(RefusedToSign, match="add up"):
        await sign(seeded, settings, lying)
    twice = Plan(
        greedy.network, (ours, ours), greedy.payee, greedy.change, hot.address, 5, greedy.fee
    )
    with pytest.raises(RefusedToSign, match="twice"):
        await sign(seeded, settings, twice)
