"""KYC tiers: what a user has proven about themselves; limits are set per tier."""

from __future__ import annotations

from enum import StrEnum


class KycTier(StrEnum):
    # Registered, nothing verified yet: may look around, may not move money.
    tier_0 = "tier_0"
    # Email and phone verified: everyday limits.
    tier_1 = "tier_1"
    # Identity documents checked by an admin: higher limits.
    tier_2 = "tier_2"
