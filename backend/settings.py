"""All configuration, from the environment and `.env`; production refuses dev defaults."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Self

import limits
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from backend.connectors.rates import RATE_PROVIDERS
from backend.fees.config import (
    DEFAULT_B2C_TARIFF,
    DEFAULT_C2B_TARIFF,
    DEFAULT_NETWORK_FEES,
    DEFAULT_PLATFORM_FEES,
    DEFAULT_TRANSFER_COSTS,
    Flow,
    NetworkFeeDefault,
    PlatformFee,
    TariffBand,
    TransferCost,
    check_tariff,
)
from backend.limits.config import DEFAULT_LIMITS, LimitSet, check_limits
from contract.forwarding import proxies_setting
from contract.kyc import KycTier
from contract.limits import LimitAction
from contract.money import Asset, Money, Network, Rounding

DEV_SECRET = "dev-insecure-change-me"  # noqa: S105 - the value production refuses to run with
DEV_JWT_KEY = "dev-insecure-jwt-signing-key-change-me"  # refused in production
DEV_KEYS_SECRET = "dev-insecure-keys-secret-change-me"  # noqa: S105 - refused in production
# The most one transaction may pay the network, per fee asset, whatever the node asks: a
# BTC payment or sweep at a few hundred sat/vB, an ERC-20 transfer at several hundred gwei,
# a TRC-20 transfer to a new holder at twice today's energy price all fit well under these.
DEFAULT_SIGNER_MAX_FEE = {
    Asset.BTC: Decimal("0.001"),
    Asset.ETH: Decimal("0.05"),
    Asset.TRX: Decimal(100),
}
FEE_ASSETS = {Network.bitcoin: Asset.BTC, Network.ethereum: Asset.ETH, Network.tron: Asset.TRX}


class Environment(StrEnum):
    dev = "dev"
    test = "test"
    production = "production"


class BitcoinNetwork(StrEnum):
    """Which Bitcoin chain addresses are for: `bc1…` mainnet, `tb1…` testnet, `bcrt1…` regtest."""

    mainnet = "mainnet"
    testnet = "testnet"
    regtest = "regtest"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Environment = Environment.dev
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/qpeapay"
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_pool_size: int = Field(default=10, ge=1)
    # How long a request waits for a pooled connection before it is answered 503 `busy`.
    database_pool_timeout_s: float = Field(default=10.0, gt=0, le=60)

    # Public base URL of the API (callbacks, hosted checkout links) and of the web app.
    public_api_url: str = "http://127.0.0.1:8000"
    public_web_url: str = "http://127.0.0.1:8001"

    secret_key: SecretStr = SecretStr(DEV_SECRET)
    # Proxies (CIDRs, comma-separated) whose X-Forwarded-For names the client; anyone else's
    # is ignored. Empty: no proxy is believed. The web app vouches for browsers with a
    # header signed with a key derived from SECRET_KEY, so it needs no entry here.
    trusted_proxies: Annotated[list[str], NoDecode] = []

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies_are_networks(cls, value: object) -> object:
        return proxies_setting(value)

    # Identity. Access tokens are HS256 JWTs signed with jwt_keys[jwt_active_kid]; every key
    # in jwt_keys verifies, so a new key is added first and made active later (rotation).
    jwt_keys: dict[str, SecretStr] = {"dev-1": SecretStr(DEV_JWT_KEY)}
    jwt_active_kid: str = "dev-1"
    access_token_ttl_s: int = Field(default=600, ge=60, le=900)
    refresh_token_ttl_s: int = Field(default=14 * 24 * 3600, ge=3600)
    session_max_age_s: int = Field(default=30 * 24 * 3600, ge=3600)
    # Rate limits in the `limits` notation ("N/minute", "N/15minutes"); "" switches one off.
    # Kenyan mobile carriers put many customers behind one address (carrier NAT), so limits
    # per address are ceilings a busy carrier address stays under, and the tight limits are
    # per device (the web app's device cookie; a direct caller's device is its address) and
    # per account. README "Rate limits" explains the numbers.
    rate_limit_login_ip: str = "300/minute"  # sign-in attempts per address
    rate_limit_login_device: str = "20/minute"  # sign-in attempts per device
    rate_limit_login_account_ip: str = "10/15minutes"  # wrong passwords per account+address
    # Wrong passwords per account from anywhere; past it only password + 2FA code sign in.
    rate_limit_login_account: str = "50/hour"
    rate_limit_otp: str = "5/5minutes"  # 2FA codes checked, per account
    rate_limit_code_check: str = "5/5minutes"  # email/phone codes checked, per account
    rate_limit_code_send: str = "3/10minutes"
    rate_limit_register_ip: str = "100/hour"  # registrations per address
    rate_limit_register_device: str = "5/hour"  # registrations per device
    rate_limit_register_account: str = "3/hour"  # registrations naming one email or phone
    rate_limit_api: str = "600/minute"
    # Transfer previews per user: each one says whether an email or phone is a customer's.
    rate_limit_recipient_lookup: str = "30/hour"

    # Password reset by emailed code: requests per email and per client IP, and code
    # checks per email (each code also dies after a few wrong guesses).
    rate_limit_reset_code_send: str = "3/hour"
    rate_limit_reset_code_send_ip: str = "10/hour"
    rate_limit_reset_code_check: str = "10/hour"

    @field_validator(
        "rate_limit_login_ip", "rate_limit_login_device", "rate_limit_login_account_ip",
        "rate_limit_login_account", "rate_limit_otp", "rate_limit_code_check",
        "rate_limit_code_send", "rate_limit_register_ip", "rate_limit_register_device",
        "rate_limit_register_account", "rate_limit_api", "rate_limit_recipient_lookup",
        "rate_limit_reset_code_send", "rate_limit_reset_code_send_ip",
        "rate_limit_reset_code_check",
    )  # fmt: skip  # the setting names several a line
    @classmethod
    def _rate_limit_parses(cls, value: str) -> str:
        # A typo must stop the process at start, not fail the first login.
        if value:
            limits.parse(value)
        return value

    # /metrics: with METRICS_TOKEN set, scrapers send `Authorization: Bearer <token>`; unset,
    # it is open in dev and test and absent (404) in production.
    metrics_token: SecretStr | None = None
    # /v1/dev/outbox (the messages "sent" to you, codes included) answers only when this is
    # on AND ENVIRONMENT is dev or test; `make run` turns it on, production refuses it.
    dev_outbox_enabled: bool = False

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_token_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    max_body_bytes: int = 1_000_000
    worker_heartbeat_max_age_s: int = 30
    log_level: str = "INFO"
    log_json: bool = True

    # Keys. The master seed is sealed (AES-256-GCM) under a key derived by PBKDF2-HMAC-SHA256
    # from KEYS_SECRET; KEYS_SECRET_VERSION names the sealed copy it opens. Rotating: set
    # KEYS_PREVIOUS_SECRET to the old secret, KEYS_SECRET to the new one, raise the version,
    # run `python -m backend.keys rotate`, restart everything, then `... keys prune`.
    keys_secret: SecretStr = SecretStr(DEV_KEYS_SECRET)
    keys_secret_version: int = Field(default=1, ge=1)
    keys_previous_secret: SecretStr | None = None
    keys_kdf_iterations: int = Field(default=600_000, ge=600_000)
    bitcoin_network: BitcoinNetwork = BitcoinNetwork.regtest
    # The signer refuses a transaction whose largest possible network fee (BTC: inputs minus
    # outputs; ETH: gas limit x max fee per gas; Tron: the fee limit of a contract call)
    # exceeds this, per fee asset; assets left out keep their default.
    signer_max_fee: dict[Asset, Decimal] = DEFAULT_SIGNER_MAX_FEE

    @field_validator("signer_max_fee")
    @classmethod
    def _fee_caps(cls, table: dict[Asset, Decimal]) -> dict[Asset, Decimal]:
        strangers = sorted(set(table) - set(FEE_ASSETS.values()))
        if strangers:
            raise ValueError(
                "SIGNER_MAX_FEE is per fee asset (BTC, ETH, TRX), not " + ", ".join(strangers)
            )
        if any(cap <= 0 for cap in table.values()):
            raise ValueError("SIGNER_MAX_FEE caps are positive")
        return {**DEFAULT_SIGNER_MAX_FEE, **table}

    def max_network_fee(self, network: Network) -> Money:
        """The most the signer lets one transaction on `network` pay in fees."""
        asset = FEE_ASSETS[network]
        return Money.rounded(self.signer_max_fee[asset], asset, Rounding.we_pay)

    # Ethereum: a JSON-RPC node, the chain id we sign for, the USDT contract (mainnet:
    # 0xdAC17F958D2ee523a2206206994597C13D831ec7) and the block span of one eth_getLogs call.
    ethereum_rpc_url: str = "http://127.0.0.1:8545"
    ethereum_chain_id: int = 31337
    ethereum_usdt_contract: str = ""
    ethereum_log_chunk_blocks: int = Field(default=1000, ge=1)

    # Bitcoin Core JSON-RPC (needs -txindex=1): URL without credentials, and the rpcuser /
    # rpcpassword (or rpcauth) pair. The dev defaults match the stand-in's.
    bitcoin_rpc_url: str = "http://127.0.0.1:18443/"
    bitcoin_rpc_user: str = "qpeapay"
    bitcoin_rpc_password: SecretStr = SecretStr("qpeapay")

    # Tron: a TronGrid / java-tron HTTP API, its key (TronGrid only) and the USDT TRC-20
    # contract (mainnet TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t; the stand-in uses the same).
    tron_api_url: str = "http://127.0.0.1:8090/"
    tron_api_key: SecretStr = SecretStr("")
    tron_usdt_contract: str = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"

    # Chain watchers (backend/chains, run by the worker): which networks to follow, how
    # often to poll the node, how many blocks one scan covers, how many recent block hashes
    # are kept to find a fork point, the longest wait between tries while a node is down,
    # and when /readyz calls a watcher stale. CHAIN_CONFIRMATIONS overrides the blocks a
    # payment needs per network (production: bitcoin 2, ethereum 12, tron 19 — Tron also
    # waits for the solidified block; dev and test: 1).
    chain_watchers: list[Network] = list(Network)
    chain_poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    chain_scan_batch_blocks: int = Field(default=100, ge=1, le=10_000)
    chain_reorg_window_blocks: int = Field(default=256, ge=8)
    chain_backoff_max_s: float = Field(default=30.0, gt=0)
    chain_watcher_stale_after_s: float = Field(default=30.0, gt=0)
    chain_confirmations: dict[Network, int] = {}

    @field_validator("chain_confirmations")
    @classmethod
    def _confirmations_positive(cls, table: dict[Network, int]) -> dict[Network, int]:
        if any(blocks < 1 for blocks in table.values()):
            raise ValueError("CHAIN_CONFIRMATIONS are at least 1 block")
        return table

    def sweep_threshold(self, asset: Asset, network: Network) -> Decimal:
        """The least a deposit address must hold of `asset` on `network` to be swept."""
        key = f"{asset}:{network}"
        if key in self.sweep_thresholds:
            return self.sweep_thresholds[key]
        if self.environment is Environment.production:
            table = {"BTC:bitcoin": "0.001", "USDT:ethereum": "100", "USDT:tron": "20"}
        else:
            table = {"BTC:bitcoin": "0.0001", "USDT:ethereum": "1", "USDT:tron": "1"}
        return Decimal(table[key])

    def confirmations_required(self, network: Network) -> int:
        """Blocks (counting its own) a payment on `network` needs before it is credited."""
        if network in self.chain_confirmations:
            return self.chain_confirmations[network]
        production = {Network.bitcoin: 2, Network.ethereum: 12, Network.tron: 19}
        return production[network] if self.environment is Environment.production else 1

    # Exchange rates (backend/rates): base URLs of the public rate APIs (`make run` points
    # them at the rate-feed stand-in), which of them to ask, and how far to trust them.
    rates_coingecko_url: str = "https://api.coingecko.com"
    rates_binance_url: str = "https://api.binance.com"
    rates_kraken_url: str = "https://api.kraken.com"
    rates_coinbase_url: str = "https://api.coinbase.com"
    rates_open_er_api_url: str = "https://open.er-api.com"
    rates_providers: list[str] = list(RATE_PROVIDERS)
    rates_timeout_s: float = Field(default=3.0, gt=0, le=30)
    rates_cache_ttl_s: int = Field(default=30, ge=1)
    rates_max_age_s: int = Field(default=300, ge=1)
    rates_fx_source_max_age_s: int = Field(default=26 * 3600, ge=60)
    rates_frozen_after_s: int = Field(default=300, ge=1)
    rates_max_spread_percent: Decimal = Field(default=Decimal(2), gt=0, lt=100)
    rates_min_sources: int = Field(default=2, ge=1)
    rates_fx_min_sources: int = Field(default=1, ge=1)
    rates_breaker_failures: int = Field(default=3, ge=1)
    rates_breaker_cooldown_s: int = Field(default=60, ge=1)
    rates_refresh_every_s: int = Field(default=15, ge=1, le=60)

    # Quotes, fees and limits (backend/quotes, backend/fees, backend/limits). Tables are JSON.
    quote_lock_s: int = Field(default=90, ge=60, le=120)
    fee_platform: dict[Flow, PlatformFee] = DEFAULT_PLATFORM_FEES
    mpesa_c2b_tariff: list[TariffBand] = DEFAULT_C2B_TARIFF
    mpesa_b2c_tariff: list[TariffBand] = DEFAULT_B2C_TARIFF
    fee_network_defaults: dict[Network, NetworkFeeDefault] = DEFAULT_NETWORK_FEES
    fee_transfer_costs: dict[str, TransferCost] = DEFAULT_TRANSFER_COSTS
    limits: dict[KycTier, dict[LimitAction, LimitSet]] = DEFAULT_LIMITS
    limits_timezone: str = "Africa/Nairobi"

    # Custodial wallets (backend/withdrawals, backend/treasury): how long a withdrawal may
    # wait to be signed (the hot wallet short of coins or gas) before it fails and its funds
    # return; SWEEP_THRESHOLDS overrides the balance a deposit address must reach before the
    # sweeper moves it to the hot wallet, per "ASSET:network" (each sweep pays network fees,
    # so dust stays put; production: BTC:bitcoin 0.001, USDT:ethereum 100, USDT:tron 20;
    # dev and test: BTC 0.0001, USDT 1, so a small test deposit reaches the hot wallet).
    withdrawal_send_within_s: int = Field(default=6 * 3600, ge=60)
    sweep_thresholds: dict[str, Decimal] = {}

    @field_validator("mpesa_c2b_tariff", "mpesa_b2c_tariff")
    @classmethod
    def _tariff(cls, bands: list[TariffBand]) -> list[TariffBand]:
        return check_tariff(bands)

    @field_validator("limits")
    @classmethod
    def _limits(
        cls, table: dict[KycTier, dict[LimitAction, LimitSet]]
    ) -> dict[KycTier, dict[LimitAction, LimitSet]]:
        return check_limits(table)

    @field_validator("rates_providers")
    @classmethod
    def _known_providers(cls, names: list[str]) -> list[str]:
        unknown = sorted(set(names) - set(RATE_PROVIDERS))
        if unknown:
            raise ValueError("unknown rate providers: " + ", ".join(unknown))
        return names

    @field_validator("fee_platform")
    @classmethod
    def _every_flow(cls, fees: dict[Flow, PlatformFee]) -> dict[Flow, PlatformFee]:
        missing = [flow for flow in Flow if flow not in fees]
        if missing:
            raise ValueError("FEE_PLATFORM misses " + ", ".join(missing))
        return fees

    @model_validator(mode="after")
    def _production_is_configured(self) -> Self:
        if self.jwt_active_kid not in self.jwt_keys:
            raise ValueError("JWT_ACTIVE_KID must name one of JWT_KEYS")
        if self.environment is not Environment.production:
            return self
        problems = [
            name
            for name, value in (("SECRET_KEY", self.secret_key),)
            if value.get_secret_value() in ("", DEV_SECRET)
        ]
        if "127.0.0.1" in self.public_api_url:
            problems.append("PUBLIC_API_URL")
        keys_secret = self.keys_secret.get_secret_value()
        if "dev-insecure" in keys_secret or len(keys_secret) < 32:
            problems.append("KEYS_SECRET (at least 32 random characters)")
        if self.bitcoin_network is not BitcoinNetwork.mainnet:
            problems.append("BITCOIN_NETWORK (mainnet)")
        if any(
            "dev-insecure" in key.get_secret_value() or len(key.get_secret_value()) < 32
            for key in self.jwt_keys.values()
        ):
            problems.append("JWT_KEYS (each at least 32 random characters)")
        if self.metrics_token is not None and len(self.metrics_token.get_secret_value()) < 32:
            problems.append("METRICS_TOKEN (at least 32 random characters, or unset)")
        if self.dev_outbox_enabled:
            problems.append("DEV_OUTBOX_ENABLED (off: it shows one-time codes)")
        if problems:
            raise ValueError("production needs real values for: " + ", ".join(problems))
        return self

    @property
    def is_dev(self) -> bool:
        return self.environment is not Environment.production

    @property
    def dev_outbox(self) -> bool:
        """Whether /v1/dev/outbox answers: explicitly on, and never outside dev and test."""
        return self.dev_outbox_enabled and self.environment in (Environment.dev, Environment.test)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
