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
