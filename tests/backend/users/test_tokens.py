"""Access tokens and refresh tokens: forged, expired, `alg: none` and unknown-kid tokens
are refused; keys rotate by kid; refresh tokens rotate and a spent one revokes its family."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from pydantic import SecretStr
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.auth import tokens
from backend.auth.errors import InvalidToken
from backend.runtime import Runtime
from backend.settings import Environment, Settings
from tests.identity import Account


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(account: Account, **changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": tokens.ISSUER, "aud": tokens.AUDIENCE, "sub": account.user_id,
        "sid": account.session_id, "role": account.role.value, "iat": now, "exp": now + 300,
    }  # fmt: skip
    claims.update(changes)
    return claims


def _signed(settings: Settings, claims: dict[str, object], key: str | None = None,
            kid: str = "dev-1") -> str:  # fmt: skip
    secret = key or settings.jwt_keys[kid].get_secret_value()
    return jwt.encode({"alg": "HS256", "kid": kid}, claims, OctKey.import_key(secret))


async def _me(api: httpx.AsyncClient, token: str) -> httpx.Response:
    return await api.get("/v1/me", headers={"Authorization": f"Bearer {token}"})


async def test_a_well_formed_token_works(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    token = _signed(runtime.settings, _claims(customer))
    assert (await _me(api, token)).status_code == 200


@pytest.mark.parametrize(
    "case", ["expired", "forged", "alg_none", "unknown_kid", "wrong_audience", "no_session",
             "garbage", "other_users_session"],
)  # fmt: skip
async def test_bad_access_tokens_are_401_and_say_nothing_more(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account, case: str
) -> None:
    settings = runtime.settings
    token = {
        "expired": lambda: _signed(settings, _claims(customer, exp=int(time.time()) - 1)),
        "forged": lambda: _signed(settings, _claims(customer), key="x" * 48),
        "alg_none": lambda: f"{_b64({'alg': 'none', 'kid': 'dev-1'})}.{_b64(_claims(customer))}.",
        "unknown_kid": lambda: _signed(settings, _claims(customer), key="y" * 48, kid="old"),
        "wrong_audience": lambda: _signed(settings, _claims(customer, aud="someone-else")),
        "no_session": lambda: _signed(settings, _claims(customer, sid="ses_nope")),
        "garbage": lambda: "not.a.jwt",
        # A real session of another user cannot be borrowed by changing `sub`.
        "other_users_session": lambda: _signed(
            settings, _claims(customer, sid=merchant.session_id)
        ),
    }[case]()
    response = await _me(api, token)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert customer.email not in response.text


async def test_missing_or_non_bearer_authorization_is_401(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/me")).status_code == 401
    basic = await api.get("/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401
    assert basic.json()["error"]["code"] == "not_authenticated"


def test_signing_keys_rotate_by_kid(settings: Settings) -> None:
    old = replace_keys(settings, {"k1": "a" * 40}, "k1")
    token = tokens.issue_access_token(old, "usr_x", "ses_x", "customer")
    both = replace_keys(settings, {"k1": "a" * 40, "k2": "b" * 40}, "k2")
    assert tokens.read_access_token(both, token).user_id == "usr_x"  # old kid still verifies
    assert (
        '"k2"'
        in base64.urlsafe_b64decode(
            tokens.issue_access_token(both, "u", "s", "customer").split(".")[0] + "=="
        ).decode()
    )
    retired = replace_keys(settings, {"k2": "b" * 40}, "k2")
    with pytest.raises(InvalidToken):
        tokens.read_access_token(retired, token)


def replace_keys(settings: Settings, keys: dict[str, str], active: str) -> Settings:
    return settings.model_copy(
        update={"jwt_keys": {k: SecretStr(v) for k, v in keys.items()}, "jwt_active_kid": active}
    )


def _production_problems(**fields: object) -> str:
    """The production check's complaint (other settings may be missing too; we look at ours)."""
    base: dict[str, object] = {"environment": Environment.production,
                               "public_api_url": "https://api.qpeapay.example"}  # fmt: skip
    try:
        Settings(**{**base, **fields})  # type: ignore[arg-type]
    except ValueError as exc:
        return str(exc)
    return ""


def test_production_refuses_dev_or_short_signing_keys() -> None:
    assert "JWT_KEYS" in _production_problems()
    assert "JWT_KEYS" in _production_problems(
        jwt_keys={"k": SecretStr("short")}, jwt_active_kid="k"
    )
    good = _production_problems(jwt_keys={"2026-11": SecretStr("k" * 40)}, jwt_active_kid="2026-11")
    assert "JWT_KEYS" not in good
    with pytest.raises(ValueError, match="JWT_ACTIVE_KID"):
        Settings(jwt_active_kid="missing")


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    first = customer.refresh_token
    rotated = await api.post("/v1/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["refresh_token"]
    assert second != first
    assert (await _me(api, rotated.json()["access_token"])).status_code == 200

    # Someone replays the spent token: refused, and the family (session) is revoked...
    replay = await api.post("/v1/auth/refresh", json={"refresh_token": first})
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "invalid_refresh_token"
    # ...so the legitimate newer token and the session's access tokens die too.
    assert (await api.post("/v1/auth/refresh", json={"refresh_token": second})).status_code == 401
    assert (await _me(api, rotated.json()["access_token"])).status_code == 401
    async with runtime.sessionmaker() as session:
        audited = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "auth.refresh_reused")
        )
    assert audited is not None and audited.subject_user_id == customer.user_id
    assert audited.subject_id == customer.session_id


async def test_unknown_refresh_token_is_401(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/auth/refresh", json={"refresh_token": "rt_made_up"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_refresh_token"


async def test_logout_revokes_the_session_and_its_tokens(
    api: httpx.AsyncClient, customer: Account
) -> None:
    response = await api.post("/v1/auth/logout", headers=customer.headers)
    assert response.status_code == 204
    assert (await api.get("/v1/me", headers=customer.headers)).status_code == 401
    refresh = await api.post("/v1/auth/refresh", json={"refresh_token": customer.refresh_token})
    assert refresh.status_code == 401


async def test_tokens_never_reach_the_log(
    api: httpx.AsyncClient, customer: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    await api.post("/v1/auth/refresh", json={"refresh_token": customer.refresh_token})
    await api.post("/v1/auth/login", json={"email": customer.email, "password": "nope nope nope"})
    out = capsys.readouterr().out
    assert customer.refresh_token not in out and customer.access_token not in out
    assert "nope nope nope" not in out
