"""Errors of the keys domain; their messages name what is wrong, never key material."""

from __future__ import annotations

from backend.errors import Conflict, QpeapayError


class KeysError(QpeapayError):
    status, type, code = 503, "api_error", "keys_unavailable"
    message = "Signing keys are not available."


class SeedMissing(KeysError):
    code = "seed_missing"
    message = "No master seed exists yet: run `python -m backend.keys init`."


class SeedExists(Conflict):
    code = "seed_exists"
    message = "This deployment already has a master seed."


class SeedLocked(KeysError):
    """The sealed seed does not open: wrong KEYS_SECRET, wrong version, or tampered data."""

    code = "seed_locked"
    message = "The master seed cannot be opened with the configured KEYS_SECRET."


class KeysMisconfigured(KeysError):
    code = "keys_misconfigured"


class NotEnoughCoins(Conflict):
    """Our coins on the chain cannot pay this (the hot wallet needs a sweep or a top-up)."""

    code = "not_enough_coins"
    message = "The wallet's coins on the chain cannot pay this transaction and its fee."


class RefusedToSign(KeysError):
    """What we were asked to sign is not what we sign: a stranger's coin, an absurd fee."""

    status, type, code = 422, "invalid_request_error", "refused_to_sign"
    message = "The signer refused this transaction."


class FeeAboveCap(RefusedToSign):
    """The most this transaction could pay the network is above SIGNER_MAX_FEE: a fee spike
    or a bug, never something to sign unattended."""

    code = "fee_above_cap"
    message = "The network fee of this transaction is above the signer's cap."
