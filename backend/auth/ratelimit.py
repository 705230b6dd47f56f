"""Rate limits kept in Redis with the `limits` library (moving window).

Rules come from settings in the `limits` notation; an empty rule switches that limit off.
A refused request raises RateLimited (429) carrying Retry-After in whole seconds.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache
from typing import TYPE_CHECKING

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from backend.errors import RateLimited

if TYPE_CHECKING:  # the runtime builds the process's Limiter
    from backend.runtime import Runtime


@lru_cache(maxsize=64)
def _rule(text: str) -> RateLimitItem:
    return parse(text)


class Limiter:
    def __init__(self, redis_url: str) -> None:
        storage = RedisStorage(
            "async+" + redis_url, implementation="redispy", key_prefix="qp:ratelimit"
        )
        self._strategy = MovingWindowRateLimiter(storage)

    async def hit(self, rule: str, *key: str) -> None:
        """Count one request against `rule` for `key`; refuse once the window is full."""
        if not rule:
            return
        item = _rule(rule)
        if not await self._strategy.hit(item, *key):
            await self._refuse(item, key)

    async def check(self, rule: str, *key: str) -> None:
        """Refuse if `key` has no room left under `rule`, without counting this request.

        For limits that count only failures (wrong passwords), so a person who gets it
        right is never slowed by the count."""
        if rule and not await self._strategy.test(_rule(rule), *key):
            await self._refuse(_rule(rule), key)

    async def count(self, rule: str, *key: str) -> None:
        """Count one event (a wrong password) against `rule`, refusing nothing: the request
        already has its answer, and a full window simply stays full."""
        if rule:
            await self._strategy.hit(_rule(rule), *key)

    async def has_room(self, rule: str, *key: str) -> bool:
        """Whether `key` could make one more request under `rule` (without counting one)."""
        return not rule or await self._strategy.test(_rule(rule), *key)

    async def clear(self, rule: str, *key: str) -> None:
        if rule:
            await self._strategy.clear(_rule(rule), *key)

    async def _refuse(self, item: RateLimitItem, key: tuple[str, ...]) -> None:
        stats = await self._strategy.get_window_stats(item, *key)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(headers={"Retry-After": str(wait)})


def limiter(runtime: Runtime) -> Limiter:
    # One per process (it holds its own Redis connection pool), made with the runtime.
    return runtime.limiter


# Wrong passwords, wherever they are typed (sign-in, password change), share two budgets:
# per account and address, so a guesser elsewhere never locks the owner out, and a ceiling
# per account from anywhere.


async def refuse_password_guessing(runtime: Runtime, email: str, ip: str) -> None:
    """429 when this address, or everyone together, has spent the account's budget."""
    settings = runtime.settings
    await runtime.limiter.check(settings.rate_limit_login_account_ip, "login-pair", email, ip)
    await runtime.limiter.check(settings.rate_limit_login_account, "login-account", email)


async def account_ceiling_reached(runtime: Runtime, email: str) -> bool:
    rule = runtime.settings.rate_limit_login_account
    return not await runtime.limiter.has_room(rule, "login-account", email)


async def count_wrong_password(runtime: Runtime, email: str, ip: str) -> None:
    settings = runtime.settings
    await runtime.limiter.count(settings.rate_limit_login_account_ip, "login-pair", email, ip)
    await runtime.limiter.count(settings.rate_limit_login_account, "login-account", email)


async def forgive_wrong_passwords(runtime: Runtime, email: str, ip: str) -> None:
    """Whoever proved the account is theirs starts both budgets afresh (this address's)."""
    settings = runtime.settings
    await runtime.limiter.clear(settings.rate_limit_login_account, "login-account", email)
    await runtime.limiter.clear(settings.rate_limit_login_account_ip, "login-pair", email, ip)
