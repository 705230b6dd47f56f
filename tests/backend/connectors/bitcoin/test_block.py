"""Known answers for the raw block parser: real transactions and blocks with the txids,
hashes and outputs Bitcoin Core prints for them, and the stand-in's blocks read both ways."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backend.connectors.bitcoin import BitcoinConnector
from backend.connectors.bitcoin.block import parse_block, parse_transaction
from tests.backend.connectors.bitcoin.conftest import Bitcoind, new_address

# Mainnet's genesis block, as `getblock 000000000019d6…e26f 0` prints it.
GENESIS = (
    "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b2"
    "7ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c0101000000010000"
    "000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d01044554"
    "68652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f6620"
    "7365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0"
    "fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de"
    "5c384df7ba0b8d578a4c702b6bf11d5fac00000000"
)
GENESIS_COINBASE_SCRIPT = bytes.fromhex(
    "4104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f355"
    "04e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac"
)
# A segwit transaction (two P2SH-P2WSH multisig inputs, eleven outputs), with the txid and
# hash Core's decoderawtransaction prints for it (a public test vector of rust-bitcoin).
SEGWIT_TX = (
    "01000000000102ff34f95a672bb6a4f6ff4a7e90fa8c7b3be7e70ffc39bc99be3bda67942e836c0000000023"
    "220020cde476664d3fa347b8d54ef3aee33dcb686a65ced2b5207cbf4ec5eda6b9b46e4f414d4c934ad81d33"
    "0314e888888e3bd22c7dde8aac2ca9227b30d7c40093248af7812201000000232200200af6f6a071a69d5417"
    "e592ed99d256ddfd8b3b2238ac73f5da1b06fc0b2e79d54f414d4c0ba0c8f505000000001976a914dcb5898d"
    "9036afad9209e6ff0086772795b1441088ac033c0f000000000017a914889f8c10ff2bd4bb9dabb68c5c0d70"
    "0a46925e6c87033c0f000000000017a914889f8c10ff2bd4bb9dabb68c5c0d700a46925e6c87033c0f000000"
    "000017a914889f8c10ff2bd4bb9dabb68c5c0d700a46925e6c87033c0f000000000017a914889f8c10ff2bd4"
    "bb9dabb68c5c0d700a46925e6c87033c0f000000000017a914889f8c10ff2bd4bb9dabb68c5c0d700a46925e"
    "6c87033c0f000000000017a914889f8c10ff2bd4bb9dabb68c5c0d700a46925e6c87033c0f000000000017a9"
    "14889f8c10ff2bd4bb9dabb68c5c0d700a46925e6c87033c0f000000000017a914889f8c10ff2bd4bb9dabb6"
    "8c5c0d700a46925e6c87033c0f000000000017a914889f8c10ff2bd4bb9dabb68c5c0d700a46925e6c87033c"
    "0f000000000017a914889f8c10ff2bd4bb9dabb68c5c0d700a46925e6c87050047304402200380b8663e727d"
    "7e8d773530ef85d5f82c0b067c97ae927800a0876a1f01d8e2022021ee611ef6507dfd217add2cd60a8aea3c"
    "bcfec034da0bebf3312d19577b8c290147304402207bd9943ce1c2c5547b120683fd05d78d23d73be1a5b5a2"
    "074ff586b9c853ed4202202881dcf435088d663c9af7b23efb3c03b9dbc0c899b247aa94a74d9b4b3c84f501"
    "483045022100ba12bba745af3f18f6e56be70f8382ca8e107d1ed5ceaa3e8c360d5ecf78886f022069b38eba"
    "ac8fe6a6b97b497cbbb115f3176f7213540bef08f9292e5a72de52de01695321023c9cd9c6950ffee24772be"
    "948a45dc5ef1986271e46b686cb52007bac214395a2102756e27cb004af05a6e9faed81fd68ff69959e3c64a"
    "c8c9f6cd0e08fd0ad0e75d2103fa40da236bd82202a985a9104e851080b5940812685769202a3b43e4a8b13e"
    "6a53ae050048304502210098b9687b81d725a7970d1eee91ff6b89bc9832c2e0e3fb0d10eec143930b006f02"
    "206f77ce19dc58ecbfef9221f81daad90bb4f468df391212abc4f084fe2cc9bdef01483045022100e5479f81"
    "a3ad564103da5e2ec8e12f61f3ac8d312ab68763c1ddd7bae94c20610220789b81b7220b27b681b1b2e87198"
    "897376ba9d033bc387f084c8b8310c8539c201483045022100aa1cc48a2d256c0e556616444cc08ae4959d46"
    "4e5ffff2ae09e3550bdab6ce9f02207192d5e3329a56ba7b1ead724634d104f1c3f8749fe6081e6233aee3e8"
    "55817a016953210260de9cc68658c61af984e3ab0281d17cfca1cc035966d335f474932d5e6c5422210355fb"
    "b768ce3ce39360277345dbb5f376e706459e5a2b5e0e09a535e61690647021023222ceec58b94bd25925dd97"
    "43dae6b928737491bd940fc5dd7c6f5d5f2adc1e53ae00000000"
)
# A legacy mainnet transaction: one P2PKH payment and an OP_RETURN.
LEGACY_TX = (
    "01000000010c7196428403d8b0c88fcb3ee8d64f56f55c8973c9ab7dd106bb4f3527f5888d000000006a4730"
    "440220503a696f55f2c00eee2ac5e65b17767cd88ed04866b5637d3c1d5d996a70656d02202c9aff698f343a"
    "bb6d176704beda63fcdec503133ea4f6a5216b7f925fa9910c0121024d89b5a13d6521388969209df27a8469"
    "bd565aff10e8d42cef931fad5121bfb8ffffffff02b825b404000000001976a914ef79e7ee9fff98bcfd0847"
    "3d2b76b02a48f8c69088ac0000000000000000296a2732363030393438363937313732333132373633313032"
    "313332353630353838373931323132373000000000"
)


def test_the_genesis_block_has_its_published_hash_txid_and_50_btc_output() -> None:
    block = parse_block(bytes.fromhex(GENESIS))

    assert block.hash == "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    assert block.parent_hash == "0" * 64
    (coinbase,) = block.transactions
    assert coinbase.txid == "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
    assert [(o.sats, o.script) for o in coinbase.outputs] == [
        (5_000_000_000, GENESIS_COINBASE_SCRIPT)
    ]


def test_a_segwit_txid_leaves_the_witness_out() -> None:
    tx = parse_transaction(bytes.fromhex(SEGWIT_TX))

    # d6ac4a5e…a1b4 is its wtxid (the hash with the witness): never the id we record.
    assert tx.txid == "9652aa62b0e748caeec40c4cb7bc17c6792435cc3dfe447dd1ca24f912a1c6ec"
    p2sh = bytes.fromhex("a914889f8c10ff2bd4bb9dabb68c5c0d700a46925e6c87")
    assert [(o.sats, o.script) for o in tx.outputs] == [
        (99_993_760, bytes.fromhex("76a914dcb5898d9036afad9209e6ff0086772795b1441088ac"))
    ] + [(998_403, p2sh)] * 10


def test_a_legacy_txid_and_an_op_return_output() -> None:
    tx = parse_transaction(bytes.fromhex(LEGACY_TX))

    assert tx.txid == "971ed48a62c143bbd9c87f4bafa2ef213cfa106c6e140f111931d0be307468dd"
    assert [o.sats for o in tx.outputs] == [78_915_000, 0]
    assert tx.outputs[1].script.startswith(b"\x6a")  # OP_RETURN: pays nobody


@pytest.mark.parametrize(
    "raw",
    [
        bytes.fromhex(GENESIS)[:-1],  # truncated
        bytes.fromhex(GENESIS) + b"\x00",  # trailing bytes
        bytes.fromhex(GENESIS)[:79],  # not even a header
    ],
)
def test_bytes_that_are_not_exactly_one_block_are_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_block(raw)


def test_bytes_that_are_not_exactly_one_transaction_are_refused() -> None:
    raw = bytes.fromhex(SEGWIT_TX)
    for broken in (raw[:-3], raw + b"\x00", raw[:4] + b"\x00\x02" + raw[6:]):
        with pytest.raises(ValueError):
            parse_transaction(broken)


async def test_the_stand_ins_raw_blocks_read_as_its_verbose_ones(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    bitcoind.pay(new_address(), "0.0015")
    bitcoind.pay_many([(new_address(), "0.01"), (new_address(), "0.00000547")])
    bitcoind.mine(1)
    bitcoind.mine(1)  # a block with only its coinbase

    for height in (0, 1, 2):
        block_hash = await bitcoin.rpc.call("getblockhash", height)
        raw = parse_block(bytes.fromhex(await bitcoin.rpc.call("getblock", block_hash, 0)))
        verbose = await bitcoin.rpc.call("getblock", block_hash, 2)

        assert raw.hash == verbose["hash"]
        assert raw.parent_hash == verbose.get("previousblockhash", "0" * 64)
        assert [tx.txid for tx in raw.transactions] == [tx["txid"] for tx in verbose["tx"]]
        for tx, described in zip(raw.transactions, verbose["tx"], strict=True):
            assert [(o.sats, o.script.hex()) for o in tx.outputs] == [
                (int(out["value"] * Decimal(100_000_000)), out["scriptPubKey"]["hex"])
                for out in described["vout"]
            ]
