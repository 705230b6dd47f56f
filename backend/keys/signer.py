"""The only module that opens the master seed or derives a private key.

Invariants: the mnemonic is in clear only inside these functions, wrapped in `_Mnemonic`
whose repr and str hide it (the one exception: fresh `RecoveryWords` that `init` shows the
operator once, for a paper backup, before they are sealed); a private key is derived per
operation, checked against the address we stored for it, used, and dropped: it is never
returned, logged or put in an exception. Callers get public account keys at `create_seed`
and signed bytes afterwards. What is signed is built here from what the caller means (a
`btc_plan.Plan`, a recipient and an amount), never taken ready-made from a node: the Tron
txID is computed locally, and every Bitcoin input must be a coin of one of our addresses,
its signature checked before return. Nothing is signed that moves no value (a zero or
negative amount or output) or whose largest possible network fee is above SIGNER_MAX_FEE.
Each sealed copy of the seed is bound (AES-GCM associated data) to its version and the
seed's fingerprint, so rows cannot be swapped.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import coincurve
from bip_utils import (
    Bip32Secp256k1,
    Bip39MnemonicGenerator,
    Bip39MnemonicValidator,
    Bip39SeedGenerator,
    Bip39WordsNum,
    Bip44Changes,
)
from bip_utils.bip.bip44_base import Bip44Base
from eth_account import Account
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.connectors.bitcoin.address import output_script
from backend.connectors.ethereum import erc20
from backend.connectors.ethereum.client import EthTxParams
from backend.connectors.tron import transaction as tron_tx
from backend.connectors.tron.address import validate_address as tron_address
from backend.connectors.tron.transaction import TronTxParams
from backend.errors import InvariantBroken
from backend.keys import btc_tx, crypto, derivation, service
from backend.keys.btc_plan import Plan
from backend.keys.errors import (
    FeeAboveCap,
    KeysMisconfigured,
    RefusedToSign,
    SeedExists,
    SeedLocked,
    SeedMissing,
)
from backend.keys.models import AccountKey, ChainAddress, SealedSeed
from backend.logs import get_logger
from backend.settings import Settings
from contract.money import Asset, Money, Network

log = get_logger(__name__)


@dataclass(frozen=True)
class SeedInfo:
    fingerprint: str
    version: int


@dataclass(frozen=True)
class SignedTransaction:
    network: Network
    txid: str
    sender: str
    # What the network's connector `broadcast` takes: 0x-hex (Ethereum), hex (Bitcoin),
    # the broadcasttransaction JSON (Tron).
    raw: str = field(repr=False)


class _Mnemonic:
    """A BIP-39 phrase and its optional passphrase (the "25th word"), that will not print
    themselves. Sealed as the words alone, or the words, a newline and the passphrase: a
    seed created without a passphrase is stored exactly as before there was one."""

    __slots__ = ("_passphrase", "_words")

    def __init__(self, words: str, passphrase: str = "") -> None:
        self._words = words
        self._passphrase = passphrase

    def __repr__(self) -> str:
        return "_Mnemonic(<redacted>)"

    __str__ = __repr__

    @classmethod
    def decoded(cls, plaintext: bytes) -> _Mnemonic:
        words, _, passphrase = plaintext.decode().partition("\n")
        return cls(words, passphrase)

    def encoded(self) -> bytes:
        return (self._words + ("\n" + self._passphrase if self._passphrase else "")).encode()

    def seed(self) -> bytes:
        return bytes(Bip39SeedGenerator(self._words).Generate(self._passphrase))


class RecoveryWords:
    """Fresh recovery words for `init`, for the operator's paper backup: shown once by the
    command, never logged; its repr hides them."""

    __slots__ = ("_words",)

    def __init__(self) -> None:
        generator = Bip39MnemonicGenerator()
        self._words = str(generator.FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))

    def __repr__(self) -> str:
        return "RecoveryWords(<redacted>)"

    __str__ = __repr__

    def reveal(self) -> list[str]:
        return self._words.split()


def _checked(phrase: str, passphrase: str) -> _Mnemonic:
    words = " ".join(phrase.lower().split())
    if not Bip39MnemonicValidator().IsValid(words):
        raise KeysMisconfigured(
            "That is not a valid BIP-39 phrase: a word is misspelt, missing or out of order "
            "(its checksum does not match)."
        )
    if "\n" in passphrase or passphrase != passphrase.strip():
        raise KeysMisconfigured(
            "A passphrase has no line breaks and no leading or trailing spaces."
        )
    return _Mnemonic(words, passphrase)


def _aad(version: int, fingerprint: str) -> bytes:
    return f"qpeapay/keys/seed/v{version}/{fingerprint}".encode()


def _fingerprint(seed: bytes) -> str:
    return bytes(Bip32Secp256k1.FromSeed(seed).FingerPrint().ToBytes()).hex()


def _account(seed: bytes, scheme: derivation.Scheme) -> Bip44Base:
    return scheme.purpose.FromSeed(seed, scheme.coin).Purpose().Coin().Account(0)


def _sealed(row: SealedSeed) -> crypto.Sealed:
    return crypto.Sealed(row.salt, row.nonce, row.ciphertext, row.kdf_iterations)


def _seal_row(mnemonic: _Mnemonic, fingerprint: str, settings: Settings) -> SealedSeed:
    version = settings.keys_secret_version
    sealed = crypto.seal(
        mnemonic.encoded(),
        settings.keys_secret,
        aad=_aad(version, fingerprint),
        iterations=settings.keys_kdf_iterations,
    )
    return SealedSeed(
        version=version,
        fingerprint=fingerprint,
        kdf_iterations=sealed.iterations,
        salt=sealed.salt,
        nonce=sealed.nonce,
        ciphertext=sealed.ciphertext,
    )


async def seed_exists(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(func.count()).select_from(SealedSeed)))


async def create_seed(
    session: AsyncSession,
    settings: Settings,
    *,
    mnemonic: str | RecoveryWords | None = None,
    passphrase: str = "",
) -> SeedInfo:
    """Create (or, given `mnemonic`, restore) the deployment's seed and its account keys.

    `passphrase` is the optional BIP-39 passphrase: it changes every key, so restoring needs
    the words and the passphrase both; it is sealed with the words, so nothing else does."""
    if await seed_exists(session):
        raise SeedExists()
    if mnemonic is None:
        mnemonic = RecoveryWords()
    phrase = " ".join(mnemonic.reveal()) if isinstance(mnemonic, RecoveryWords) else mnemonic
    words = _checked(phrase, passphrase)
    seed = words.seed()
    fingerprint = _fingerprint(seed)
    session.add(_seal_row(words, fingerprint, settings))
    for network in Network:
        scheme = derivation.scheme(network, settings.bitcoin_network)
        xpub = _account(seed, scheme).PublicKey().ToExtended()
        session.add(AccountKey(network=network, coin=scheme.coin_name, path=scheme.path, xpub=xpub))
    try:
        await session.flush()
    except IntegrityError:  # another `init` won the race
        raise SeedExists() from None
    log.info(
        "keys.seed_created",
        fingerprint=fingerprint,
        version=settings.keys_secret_version,
        twenty_fifth_word=bool(passphrase),
    )
    return SeedInfo(fingerprint, settings.keys_secret_version)


async def _row_to_open(
    session: AsyncSession, settings: Settings
) -> tuple[SealedSeed, crypto.Sealed, bool]:
    """The sealed copy this process can open, and whether it is under the previous secret."""
    current = await session.get(SealedSeed, settings.keys_secret_version)
    if current is not None:
        return current, _sealed(current), False
    older = await session.scalar(
        select(SealedSeed)
        .where(SealedSeed.version < settings.keys_secret_version)
        .order_by(SealedSeed.version.desc())
        .limit(1)
    )
    if older is None:
        if await session.scalar(select(func.count()).select_from(SealedSeed)):
            raise SeedLocked(
                "No sealed copy of the seed for "
                f"KEYS_SECRET_VERSION={settings.keys_secret_version}."
            )
        raise SeedMissing()
    if settings.keys_previous_secret is None:
        raise SeedLocked(
            f"The seed is sealed under version {older.version}: set KEYS_PREVIOUS_SECRET "
            "and run `python -m backend.keys rotate`."
        )
    return older, _sealed(older), True


async def _open(session: AsyncSession, settings: Settings) -> tuple[_Mnemonic, SealedSeed]:
    row, sealed, previous = await _row_to_open(session, settings)
    secret = settings.keys_previous_secret if previous else settings.keys_secret
    if secret is None:
        raise InvariantBroken("The seed needs a keys secret that is not configured.")
    try:
        plaintext = crypto.unseal(sealed, secret, aad=_aad(row.version, row.fingerprint))
    except crypto.Unsealable:
        log.warning("keys.seed_locked", version=row.version)
        raise SeedLocked() from None
    return _Mnemonic.decoded(plaintext), row


async def status(session: AsyncSession, settings: Settings) -> SeedInfo:
    """Prove the configured secret opens the seed; what `python -m backend.keys status` shows."""
    _, row = await _open(session, settings)
    return SeedInfo(row.fingerprint, row.version)


async def rotate(session: AsyncSession, settings: Settings) -> SeedInfo:
    """Seal the seed under KEYS_SECRET as KEYS_SECRET_VERSION, keeping the older copy.

    Processes still configured with the old secret keep opening the old copy until they
    restart; `prune` removes it afterwards. Running it again once done changes nothing.
    """
    existing = await session.get(SealedSeed, settings.keys_secret_version)
    if existing is not None:
        await _open(session, settings)  # already rotated: prove the new secret opens it
        return SeedInfo(existing.fingerprint, existing.version)
    if settings.keys_previous_secret is None:
        raise KeysMisconfigured("Rotation needs the old secret in KEYS_PREVIOUS_SECRET.")
    mnemonic, source = await _open(session, settings)
    if _fingerprint(mnemonic.seed()) != source.fingerprint:
        raise SeedLocked("The sealed seed does not match its fingerprint.")
    session.add(_seal_row(mnemonic, source.fingerprint, settings))
    try:
        await session.flush()
    except IntegrityError:
        raise KeysMisconfigured("Another rotation to this version ran at the same time.") from None
    log.info(
        "keys.seed_rotated",
        fingerprint=source.fingerprint,
        from_version=source.version,
        to_version=settings.keys_secret_version,
    )
    return SeedInfo(source.fingerprint, settings.keys_secret_version)


async def prune(session: AsyncSession, settings: Settings) -> list[int]:
    """Delete copies sealed under older secrets, once the current one is proven to open."""
    if await session.get(SealedSeed, settings.keys_secret_version) is None:
        raise KeysMisconfigured("Run `python -m backend.keys rotate` before pruning.")
    _, row = await _open(session, settings)
    removed = list(
        await session.scalars(
            delete(SealedSeed).where(SealedSeed.version < row.version).returning(SealedSeed.version)
        )
    )
    log.info("keys.seed_pruned", fingerprint=row.fingerprint, versions=sorted(removed))
    return sorted(removed)


async def _private_keys(
    session: AsyncSession, settings: Settings, sources: Sequence[ChainAddress]
) -> list[bytes]:
    """The keys of our addresses, after proving each derives to the address we stored."""
    mnemonic, _ = await _open(session, settings)
    seed = mnemonic.seed()
    accounts: dict[Network, Bip44Base] = {}
    keys: list[bytes] = []
    for source in sources:
        network = Network(source.network)
        if network not in accounts:
            scheme = derivation.scheme(network, settings.bitcoin_network)
            accounts[network] = _account(seed, scheme).Change(Bip44Changes.CHAIN_EXT)
        node = accounts[network].AddressIndex(source.derivation_index)
        if node.PublicKey().ToAddress() != source.address:
            raise KeysMisconfigured(
                f"Address {source.id} does not derive from this seed "
                f"at index {source.derivation_index}."
            )
        keys.append(bytes(node.PrivateKey().Raw().ToBytes()))
    return keys


async def _private_key(session: AsyncSession, settings: Settings, source: ChainAddress) -> bytes:
    return (await _private_keys(session, settings, [source]))[0]


def _check_fee(settings: Settings, network: Network, most: Money) -> None:
    """Refuse what could pay the network more than SIGNER_MAX_FEE: the cap bounds the worst
    case (every unit of gas or energy burnt at the highest price), not the likely fee."""
    cap = settings.max_network_fee(network)
    if most > cap:
        fee, limit = (f"{m.amount.normalize():f}" for m in (most, cap))
        raise FeeAboveCap(
            f"This {network} transaction could pay a fee of {fee} {most.asset}, above the "
            f"cap of {limit} {cap.asset} (SIGNER_MAX_FEE).",
            fee=fee,
            cap=limit,
        )


def _check_amount(amount: Money, asset: Asset) -> None:
    if amount.asset is not asset:
        raise ValueError(f"this transfer moves {asset}, not {amount.asset}")
    if amount.minor_units() <= 0:
        raise RefusedToSign("A transfer moves a positive amount.", amount=str(amount.amount))


async def _sign_ethereum(
    session: AsyncSession,
    settings: Settings,
    source: ChainAddress,
    *,
    to: str,
    value_wei: int,
    data: bytes,
    params: EthTxParams,
) -> SignedTransaction:
    if source.network != Network.ethereum:
        raise KeysMisconfigured(f"Address {source.id} is not an Ethereum address.")
    if params.chain_id != settings.ethereum_chain_id:
        raise KeysMisconfigured(
            f"Refusing to sign for chain {params.chain_id}; ETHEREUM_CHAIN_ID is "
            f"{settings.ethereum_chain_id}."
        )
    _check_fee(settings, Network.ethereum, params.max_cost())
    transaction = params.unsigned(to, value_wei, data)
    signed = Account.sign_transaction(transaction, await _private_key(session, settings, source))
    txid = signed.hash.to_0x_hex()
    log.info(
        "keys.signed", network="ethereum", address=source.address, nonce=params.nonce, txid=txid
    )
    return SignedTransaction(
        Network.ethereum, txid, source.address, signed.raw_transaction.to_0x_hex()
    )


async def sign_ether_transfer(
    session: AsyncSession,
    settings: Settings,
    source: ChainAddress,
    *,
    to: str,
    amount: Money,
    params: EthTxParams,
) -> SignedTransaction:
    """A plain ETH payment from one of our addresses (a gas top-up, a withdrawal)."""
    _check_amount(amount, Asset.ETH)
    return await _sign_ethereum(
        session, settings, source, to=to, value_wei=amount.minor_units(), data=b"", params=params
    )


async def sign_erc20_transfer(
    session: AsyncSession,
    settings: Settings,
    source: ChainAddress,
    *,
    token: str,
    to: str,
    amount: Money,
    params: EthTxParams,
) -> SignedTransaction:
    """`token.transfer(to, amount)` from one of our addresses; success is the receipt status."""
    _check_amount(amount, Asset.USDT)  # the only ERC-20 we move
    data = erc20.transfer_calldata(to, amount.minor_units())
    return await _sign_ethereum(
        session, settings, source, to=token, value_wei=0, data=data, params=params
    )


# ---------------------------------------------------------------------------------- bitcoin

# Sat/vB above which a plan is taken for a bug, not a fee (Core's own -maxfeerate is
# 10,000; the dearest blocks so far cleared well under 1,000).
MAX_BTC_FEE_RATE = 2_000


async def _ours(session: AsyncSession, addresses: set[str]) -> dict[str, ChainAddress]:
    rows = await service.by_addresses(session, Network.bitcoin, addresses)
    strangers = sorted(addresses - rows.keys())
    if strangers:
        raise RefusedToSign(
            "Only coins and change of our own addresses are signed.", addresses=strangers
        )
    return rows


def _check_plan(plan: Plan, settings: Settings) -> None:
    if plan.network is not settings.bitcoin_network:
        raise KeysMisconfigured(
            f"Refusing to sign for {plan.network}; BITCOIN_NETWORK is {settings.bitcoin_network}."
        )
    if any(out.sats <= 0 for out in plan.outputs):
        raise RefusedToSign("An output of the plan pays nothing.")
    paid = sum(out.sats for out in plan.outputs)
    fee = sum(coin.sats for coin in plan.coins) - paid
    outpoints = {(coin.txid, coin.vout) for coin in plan.coins}
    if not plan.coins or len(outpoints) != len(plan.coins):
        raise RefusedToSign("The plan spends no coin, or one coin twice.")
    if fee != plan.fee or fee < plan.vsize:  # 1 sat/vB: the relay minimum
        raise RefusedToSign("The plan's amounts do not add up.", fee=plan.fee)
    if fee > MAX_BTC_FEE_RATE * plan.vsize:
        raise RefusedToSign(f"A fee of {fee} sats is absurd for this transaction.", fee=fee)
    _check_fee(settings, Network.bitcoin, Money.from_minor_units(fee, Asset.BTC))
    for out in plan.outputs:
        if out.sats < btc_tx.dust_threshold(output_script(out.address, plan.network)):
            raise RefusedToSign("An output is below the dust threshold.", sats=out.sats)


async def sign_bitcoin(session: AsyncSession, settings: Settings, plan: Plan) -> SignedTransaction:
    """A P2WPKH transaction spending `plan.coins` (each on an address of ours, named by the
    coin) to its payee and change, signalling RBF, fee `plan.fee`. `sender` is the first
    coin's address; `raw` is hex for `sendrawtransaction`."""
    _check_plan(plan, settings)
    rows = await _ours(
        session,
        {coin.address for coin in plan.coins}
        | ({plan.change.address} if plan.change is not None else set()),
    )
    outputs = [btc_tx.TxOut(o.sats, output_script(o.address, plan.network)) for o in plan.outputs]
    if plan.change is not None:
        # Change at a random place, so its position does not tell it from the payment.
        change = outputs.pop()
        outputs.insert(secrets.randbelow(len(outputs) + 1), change)
    unsigned = btc_tx.Transaction(
        tuple(btc_tx.TxIn(coin.txid, coin.vout) for coin in plan.coins), tuple(outputs)
    )
    keys = await _private_keys(session, settings, [rows[coin.address] for coin in plan.coins])
    inputs = []
    for index, (coin, key) in enumerate(zip(plan.coins, keys, strict=True)):
        signing_key = coincurve.PrivateKey(key)
        pubkey = signing_key.public_key.format(compressed=True)
        digest = unsigned.sighash(index, btc_tx.p2wpkh_script_code(pubkey), coin.sats)
        # libsecp256k1 signs with RFC 6979 nonces and always the low S (BIP-146).
        signature = signing_key.sign(digest, hasher=None)
        if not coincurve.PublicKey(pubkey).verify(signature, digest, hasher=None):
            raise KeysMisconfigured("A Bitcoin signature did not verify.")
        witness = (signature + bytes([btc_tx.SIGHASH_ALL]), pubkey)
        inputs.append(btc_tx.TxIn(coin.txid, coin.vout, witness=witness))
    signed = btc_tx.Transaction(tuple(inputs), unsigned.outputs)
    log.info(
        "keys.signed",
        network="bitcoin",
        txid=signed.txid,
        inputs=len(inputs),
        fee_sats=plan.fee,
        vsize=signed.vsize,
    )
    return SignedTransaction(
        Network.bitcoin, signed.txid, plan.coins[0].address, signed.serialize().hex()
    )


# ------------------------------------------------------------------------------------- tron

# java-tron refuses a transaction whose expiration is more than a day ahead of its head block.
_TRON_MAX_VALIDITY_MS = 24 * 3600 * 1000


async def _sign_tron(
    session: AsyncSession,
    settings: Settings,
    source: ChainAddress,
    raw_data: dict[str, Any],
    params: TronTxParams,
) -> SignedTransaction:
    now = int(time.time() * 1000)
    if not now < params.expiration <= now + _TRON_MAX_VALIDITY_MS:
        raise RefusedToSign("These Tron parameters have expired: prepare new ones.")
    txid = tron_tx.transaction_id(raw_data)
    key = await _private_key(session, settings, source)
    # 65 bytes r || s || recovery id: java-tron recovers the owner from it.
    signature = coincurve.PrivateKey(key).sign_recoverable(bytes.fromhex(txid), hasher=None)
    document = {
        "visible": False,
        "txID": txid,
        "raw_data": raw_data,
        "raw_data_hex": tron_tx.raw_data_bytes(raw_data).hex(),
        "signature": [signature.hex()],
    }
    log.info("keys.signed", network="tron", address=source.address, txid=txid)
    return SignedTransaction(Network.tron, txid, source.address, json.dumps(document))


def _check_tron(source: ChainAddress, amount: Money, asset: Asset) -> None:
    if source.network != Network.tron:
        raise KeysMisconfigured(f"Address {source.id} is not a Tron address.")
    _check_amount(amount, asset)


async def sign_trc20_transfer(
    session: AsyncSession,
    settings: Settings,
    source: ChainAddress,
    *,
    token: str,
    to: str,
    amount: Money,
    params: TronTxParams,
) -> SignedTransaction:
    """`token.transfer(to, amount)` from one of our Tron addresses, burning at most
    `params.fee_limit` on energy; success is the receipt (REVERT and OUT_OF_ENERGY land in a
    block as failures). `raw` is the JSON `broadcasttransaction` takes."""
    _check_tron(source, amount, Asset.USDT)  # the only TRC-20 we move
    _check_fee(settings, Network.tron, params.max_fee())
    raw_data = tron_tx.trc20_transfer(
        source.address,
        tron_address(token),
        tron_address(to),
        amount.minor_units(),
        params,
    )
    return await _sign_tron(session, settings, source, raw_data, params)


async def sign_trx_transfer(
    session: AsyncSession,
    settings: Settings,
    source: ChainAddress,
    *,
    to: str,
    amount: Money,
    params: TronTxParams,
) -> SignedTransaction:
    """A plain TRX payment from one of our Tron addresses (an energy and bandwidth top-up,
    a withdrawal); the first TRX an address receives also activates it. A transfer carries
    no fee limit: it burns at most its bandwidth and, for a new account, the 1 TRX creation
    fee, far below any sensible SIGNER_MAX_FEE."""
    _check_tron(source, amount, Asset.TRX)
    recipient = tron_address(to)
    if recipient == source.address:
        raise ValueError("java-tron refuses TRX sent to its own sender")
    raw_data = tron_tx.trx_transfer(source.address, recipient, amount.minor_units(), params)
    return await _sign_tron(session, settings, source, raw_data, params)
