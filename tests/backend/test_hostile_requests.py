"""No request crashes the API or answers 500: hostile bodies, strings, numbers, query values,
path ids and headers get a 4xx error body on every endpoint in backend.routes.ENDPOINTS.

The broad attacks run over the endpoint list itself, so a new endpoint is attacked as soon as
it is declared; one with a body or a query must add a valid example below (a test says so).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from backend.api import Endpoint
from backend.routes import ENDPOINTS
from backend.runtime import Runtime
from backend.settings import Settings
from contract.money import MAX_REQUEST_DIGITS, Asset, Network
from contract.users import Role
from tests.backend.wallets.support import credit
from tests.identity import Account, enable_two_factor, make_account
from tests.served import Spawned

DEEP = 100_000
ADDRESS = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"


class Cast:
    """The accounts a test needs, made when first asked for (each costs a password hash)."""

    def __init__(self, api: httpx.AsyncClient, runtime: Runtime) -> None:
        self.api, self.runtime = api, runtime
        self._made: dict[str, Account] = {}

    async def get(self, name: str) -> Account:
        """ "customer" (holding 50 USDT), "recipient" (another customer), "merchant", "admin"."""
        if name not in self._made:
            role = {"merchant": Role.merchant, "admin": Role.admin}.get(name, Role.customer)
            self._made[name] = account = await make_account(self.api, self.runtime, role)
            if name == "admin":  # every admin tool needs two-factor sign-in on
                await enable_two_factor(self.api, account)
            if name == "customer":
                await credit(self.runtime, account.user_id, "50", Asset.USDT, Network.tron)
        return self._made[name]

    async def headers_for(self, endpoint: Endpoint) -> dict[str, str]:
        """A caller the endpoint lets in, so an attack gets past authorization."""
        who = endpoint.access.description
        if who.startswith("public"):
            return {}
        if "(admin)" in who:
            return (await self.get("admin")).headers
        if "(merchant)" in who:
            return (await self.get("merchant")).headers
        return (await self.get("customer")).headers


@pytest.fixture
def cast(api: httpx.AsyncClient, runtime: Runtime) -> Cast:
    return Cast(api, runtime)


# A body each endpoint accepts, so an attack on one field reaches as far as it can.
# "$name" values are filled in from the test's accounts (see example_body).
EXAMPLE_BODIES: dict[str, dict[str, Any]] = {
    "RegisterRequest": {"email": "new@example.com", "password": "a long passphrase",
                        "phone": "+254722000111", "account_type": "merchant",
                        "business_name": "Duka la Mama"},
    "LoginRequest": {"email": "$email", "password": "$password"},
    "RefreshRequest": {"refresh_token": "$refresh_token"},
    "VerifyCode": {"code": "123456"},
    "TwoFactorCode": {"code": "123456"},
    "TwoFactorDisable": {"password": "$password", "code": "123456"},
    "KycChange": {"tier": "tier_2", "note": "documents checked"},
    "DisableUser": {"reason": "suspected fraud"},
    "EnableUser": {"note": "cleared after review"},
    "ApiKeyCreate": {"name": "till 1", "scopes": ["invoices:read"]},
    "QuoteRequest": {"side": "buy", "asset": "USDT", "network": "tron", "amount": "500",
                     "amount_currency": "KES"},
    "LimitOverrideRequest": {"per_transaction": "1000", "per_hour": 5,
                             "reason": "a trusted customer"},
    "WithdrawalRequest": {"asset": "USDT", "network": "tron", "address": ADDRESS, "amount": "1"},
    "TransferRequest": {"to": "$recipient", "asset": "USDT", "amount": "1", "note": "for lunch"},
    "PasswordResetRequest": {"email": "$email"},
    "PasswordResetConfirm": {"email": "$email", "code": "123456",
                             "new_password": "another long passphrase"},
    "PasswordChange": {"current_password": "$password",
                       "new_password": "another long passphrase"},
}  # fmt: skip


async def example_body(model: type[BaseModel], cast: Cast) -> dict[str, Any]:
    async def fill(value: Any) -> Any:
        if value in ("$email", "$password", "$refresh_token"):
            return getattr(await cast.get("customer"), value[1:])
        if value == "$recipient":
            return (await cast.get("recipient")).email
        return value

    return {field: await fill(value) for field, value in EXAMPLE_BODIES[model.__name__].items()}


EXAMPLE_QUERIES: dict[str, dict[str, str]] = {
    "AdminUserQuery": {"q": "example", "role": "customer", "limit": "5"},
    "AuditQuery": {"action": "auth.login", "limit": "5"},
    "TransactionQuery": {"asset": "USDT", "limit": "5"},
    "WithdrawalPreviewQuery": {"asset": "USDT", "network": "tron", "address": ADDRESS,
                               "amount": "1"},
    "TransferPreviewQuery": {"to": "someone@example.com", "asset": "USDT", "amount": "1"},
}  # fmt: skip

PARAM = re.compile(r"\{(\w+)\}")


async def path_for(endpoint: Endpoint, cast: Cast, **override: str) -> str:
    """The endpoint's path with real ids in it (the customer's, their session's), or
    `override`'s values for the parameters it names."""
    real = {"network": "tron", "action": "withdraw"}
    if "{user_id}" in endpoint.path or "{session_id}" in endpoint.path:
        customer = await cast.get("customer")
        real |= {"user_id": customer.user_id, "session_id": customer.session_id}
    return PARAM.sub(lambda m: override.get(m[1], real.get(m[1], "x_missing")), endpoint.path)


def endpoint_id(endpoint: Endpoint) -> str:
    return f"{endpoint.method} {endpoint.path}"


BODIES = [e for e in ENDPOINTS if e.body is not None]
QUERIES = [e for e in ENDPOINTS if e.query is not None]
WITH_PATH_PARAMS = [e for e in ENDPOINTS if PARAM.search(e.path)]


async def send(api: httpx.AsyncClient, endpoint: Endpoint, cast: Cast, **kwargs: Any
               ) -> httpx.Response:  # fmt: skip
    headers = {**(await cast.headers_for(endpoint)), **kwargs.pop("headers", {})}
    url = kwargs.pop("url", None) or await path_for(endpoint, cast)
    return await api.request(endpoint.method, url, headers=headers, **kwargs)


def refused(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """The response is a 4xx error body (one of `statuses` when given)."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if statuses:
        assert response.status_code in statuses, (response.status_code, response.text[:300])
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] and error["message"]
    return error


def test_every_body_and_query_model_has_an_example() -> None:
    """An endpoint added with a body or a query gets attacked here only with an example."""
    for endpoint in BODIES:
        assert endpoint.body is not None
        assert endpoint.body.__name__ in EXAMPLE_BODIES, endpoint_id(endpoint)
    for endpoint in QUERIES:
        assert endpoint.query is not None
        assert endpoint.query.__name__ in EXAMPLE_QUERIES, endpoint_id(endpoint)


# ----------------------------------------------------------------------------------- bodies


@pytest.mark.parametrize("endpoint", BODIES, ids=endpoint_id)
async def test_a_body_nested_a_hundred_thousand_deep_is_refused(
    api: httpx.AsyncClient, cast: Cast, endpoint: Endpoint
) -> None:
    for raw in (b"[" * DEEP + b"]" * DEEP, b'{"a":' * DEEP + b"1" + b"}" * DEEP):
        response = await send(
            api, endpoint, cast, content=raw, headers={"Content-Type": "application/json"}
        )
        assert refused(response, 400)["code"] == "json_too_deep"


@pytest.mark.parametrize("endpoint", BODIES, ids=endpoint_id)
async def test_bodies_that_are_not_an_object_of_json_are_refused(
    api: httpx.AsyncClient, cast: Cast, endpoint: Endpoint
) -> None:
    not_json = [b"", b"\xff\xfe\x00", "{}".encode("utf-16"), b"\xef\xbb\xbf{}", b"NaN",
                b'{"a": Infinity}', b'{"a": ' + b"9" * 5000 + b"}", b"{", b"'single'"]  # fmt: skip
    for raw in not_json:
        response = await send(
            api, endpoint, cast, content=raw, headers={"Content-Type": "application/json"}
        )
        assert refused(response, 400)["code"] == "invalid_json", raw[:20]
    for raw in (b"[]", b"null", b'"text"', b"1", b"[{}]", b"true"):
        response = await send(
            api, endpoint, cast, content=raw, headers={"Content-Type": "application/json"}
        )
        refused(response, 422)


def hostile_values() -> list[Any]:
    return [
        10**400, -(10**400), 1.5, 1e308, -0.0, True, None, [], {}, [["deep"]], {"a": "b"},
        "", " ", "x" * 100_000, "1e30", "123456789012345678901234567890", "1E+400",
        "ü∑😀", "\u202e", "../../etc/passwd", "' OR 1=1 --", "usr_" + "z" * 26,
    ]  # fmt: skip


@pytest.mark.parametrize("endpoint", BODIES, ids=endpoint_id)
async def test_every_field_takes_hostile_values_without_a_500(
    api: httpx.AsyncClient, cast: Cast, endpoint: Endpoint
) -> None:
    assert endpoint.body is not None
    example = await example_body(endpoint.body, cast)
    for field in example:
        for value in hostile_values():
            response = await send(api, endpoint, cast, json={**example, field: value})
            assert response.status_code < 500, (field, str(value)[:40], response.text[:300])


@pytest.mark.parametrize("endpoint", BODIES, ids=endpoint_id)
async def test_nul_controls_and_lone_surrogates_in_any_string_are_refused(
    api: httpx.AsyncClient, cast: Cast, endpoint: Endpoint
) -> None:
    assert endpoint.body is not None
    example = await example_body(endpoint.body, cast)
    for field in example:
        for bad in ("\x00", "a\x00b", "\x1b[31m", "\x08"):
            response = await send(api, endpoint, cast, json={**example, field: bad})
            error = refused(response, 400)
            assert (error["code"], error["param"]) == ("invalid_characters", field)
            assert "NUL" in error["message"]
        # A JSON escape for half a surrogate pair decodes to text no encoder will take.
        raw = httpx.Request("POST", "/", json={**example, field: "@@"}).content
        raw = raw.replace(b'"@@"', b'"\\ud800"')
        response = await send(
            api, endpoint, cast, content=raw, headers={"Content-Type": "application/json"}
        )
        assert refused(response, 400)["code"] == "invalid_characters"
        # Nested, and in a key.
        response = await send(api, endpoint, cast, json={**example, field: ["ok", {"k": "\x00"}]})
        refused(response, 400, 422)
        response = await send(api, endpoint, cast, json={**example, "\x00": "x"})
        assert refused(response, 400)["param"] is None


async def test_nul_in_the_text_we_store_is_refused_not_a_500(
    api: httpx.AsyncClient, cast: Cast
) -> None:
    """The fields named in the report, each on its real path to the database."""
    admin, merchant = (await cast.get("admin")).headers, (await cast.get("merchant")).headers
    customer, recipient = await cast.get("customer"), await cast.get("recipient")
    user = f"/v1/admin/users/{customer.user_id}"
    attempts = [
        ("POST", "/v1/api-keys", merchant, {"name": "till\x00", "scopes": ["invoices:read"]}),
        ("POST", "/v1/transfers", customer.headers, {"to": recipient.email, "asset": "USDT",
                                             "amount": "1", "note": "lunch\x00"}),
        ("POST", "/v1/auth/register", {}, {"email": "n@example.com", "password": "a passphrase",
                                          "phone": "+254722000112", "account_type": "merchant",
                                          "business_name": "Duka\x00"}),
        ("POST", f"{user}/kyc", admin, {"tier": "tier_2", "note": "checked\x00"}),
        ("POST", f"{user}/disable", admin, {"reason": "fraud\x00"}),
        ("POST", f"{user}/enable", admin, {"note": "cleared\x00"}),
        ("PUT", f"{user}/limits/withdraw", admin, {"daily": "10", "reason": "why\x00"}),
    ]  # fmt: skip
    for method, url, headers, body in attempts:
        response = await api.request(method, url, json=body, headers=headers)
        assert refused(response, 400)["code"] == "invalid_characters", url


# ---------------------------------------------------------------------------------- amounts

TOO_LARGE = ["1e30", "123456789012345678901234567890", "1E+400", "-1e30", 10**400, "99999999999"]


async def test_oversized_amounts_are_refused_saying_what_is_allowed(
    api: httpx.AsyncClient, cast: Cast
) -> None:
    customer, admin = (await cast.get("customer")).headers, (await cast.get("admin")).headers
    recipient, user_id = (await cast.get("recipient")).email, (await cast.get("customer")).user_id
    withdrawal = {"asset": "USDT", "network": "tron", "address": ADDRESS}
    allowed = f"at most {MAX_REQUEST_DIGITS} digits before the decimal point"
    for amount in TOO_LARGE:
        attempts: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
            ("POST", "/v1/withdrawals", customer, {"json": {**withdrawal, "amount": amount}}),
            ("POST", "/v1/withdrawals", customer,
             {"json": {**withdrawal, "amount": "1", "max_fee": amount}}),
            ("GET", "/v1/withdrawals/preview", customer,
             {"params": {**withdrawal, "amount": str(amount)}}),
            ("POST", "/v1/transfers", customer,
             {"json": {"to": recipient, "asset": "USDT", "amount": amount}}),
            ("POST", "/v1/quotes", customer,
             {"json": {"side": "sell", "asset": "ETH", "network": "ethereum", "amount": amount,
                       "amount_currency": "ETH"}}),
            ("POST", "/v1/quotes", customer,
             {"json": {"side": "buy", "asset": "BTC", "network": "bitcoin", "amount": amount,
                       "amount_currency": "KES"}}),
            ("PUT", f"/v1/admin/users/{user_id}/limits/withdraw", admin,
             {"json": {"monthly": amount, "reason": "a big spender"}}),
        ]  # fmt: skip
        for method, url, headers, kwargs in attempts:
            response = await api.request(method, url, headers=headers, **kwargs)
            error = refused(response, 422)
            assert allowed in error["message"], (url, amount, error)


async def test_per_hour_beyond_the_column_is_refused(api: httpx.AsyncClient, cast: Cast) -> None:
    url = f"/v1/admin/users/{(await cast.get('customer')).user_id}/limits/withdraw"
    admin = await cast.get("admin")
    for count in (2**31, 10**400):
        body = {"per_hour": count, "reason": "a busy till"}
        refused(await api.put(url, json=body, headers=admin.headers), 422)


# ---------------------------------------------------------------------------- query values


@pytest.mark.parametrize("asset", list(Asset))
async def test_every_asset_filter_answers_a_page(
    api: httpx.AsyncClient, cast: Cast, asset: Asset
) -> None:
    """A filter valid for the enum with nothing behind it (KES, ETH: no wallet) is an
    empty page, never a 500."""
    response = await api.get(
        "/v1/transactions", params={"asset": asset}, headers=(await cast.get("customer")).headers
    )
    assert response.status_code == 200, response.text
    assert all(line["asset"] == asset for line in response.json()["data"])


def hostile_query_values() -> list[str]:
    return [
        "\x00", "a\x00b", "\x1b", "", " ", "-1", "0", "-99999999999999999999", "1.5", "NaN",
        "99999999999999999999999", "9" * 5000, "1e30", "x" * 10_000, "ü😀", "\u0663",
        "²", "true", "[]", "{}", "null", "%", "KES", "ETH", "USD",
    ]  # fmt: skip


@pytest.mark.parametrize("endpoint", QUERIES, ids=endpoint_id)
async def test_every_query_value_is_answered_without_a_500(
    api: httpx.AsyncClient, cast: Cast, endpoint: Endpoint
) -> None:
    assert endpoint.query is not None
    example = EXAMPLE_QUERIES[endpoint.query.__name__]
    response = await send(api, endpoint, cast, params=example)
    assert response.status_code < 500, response.text
    for name in [*example, "limit", "cursor", "\x00"]:
        for value in hostile_query_values():
            response = await send(api, endpoint, cast, params={**example, name: value})
            assert response.status_code < 500, (name, value[:20], response.text[:300])
            if "\x00" in value or "\x00" in name:
                assert refused(response, 400)["code"] == "invalid_characters"


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.method == "GET"], ids=endpoint_id)
async def test_nul_in_any_query_string_is_refused(
    api: httpx.AsyncClient, cast: Cast, endpoint: Endpoint
) -> None:
    response = await send(api, endpoint, cast, params={"limit": "5\x00"})
    assert refused(response, 400)["code"] == "invalid_characters"


def forged_cursors() -> list[str]:
    import base64

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode()

    return [
        "garbage", "", "0", "-1", "99999999999999999999999", "9" * 400, "²", "\u0663\u0663",
        b64("2026-01-01T00:00:00+00:00|x\x00y"), b64("2026-01-01T00:00:00|usr_" + "a" * 26),
        b64("0001-01-01T00:00:00+14:00|usr_" + "a" * 26),
        b64("9999-12-31T23:59:59-14:00|usr_" + "a" * 26),
        b64("2026-01-01T00:00:00+00:00|" + "a" * 5000), b64("not a date|usr_x"),
        "%%%", "=" * 10, "\ud7ff", b64("2026-01-01T00:00:00+00:00|"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "who"),
    [("/v1/transactions", "customer"), ("/v1/admin/users", "admin"),
     ("/v1/admin/audit", "admin")],
)  # fmt: skip
async def test_garbage_cursors_and_limits_are_refused(
    api: httpx.AsyncClient, cast: Cast, url: str, who: str
) -> None:
    headers = (await cast.get(who)).headers
    for cursor in forged_cursors():
        response = await api.get(url, params={"cursor": cursor}, headers=headers)
        # "0" is a real audit sequence number (an empty page); anything else is refused.
        if cursor and not (url == "/v1/admin/audit" and cursor == "0"):
            assert refused(response, 400, 422)["param"] == "cursor", cursor
        else:
            assert response.status_code == 200
    for limit in ("0", "-1", "-99999999999999999999", "1000", "1e3", "ten"):
        refused(await api.get(url, params={"limit": limit}, headers=headers), 422)


# ---------------------------------------------------------------------------------- path ids


@pytest.mark.parametrize("endpoint", WITH_PATH_PARAMS, ids=endpoint_id)
async def test_hostile_path_ids_are_refused(
    api: httpx.AsyncClient, cast: Cast, endpoint: Endpoint
) -> None:
    for name in PARAM.findall(endpoint.path):
        for bad in ("%00", "a%00b", "%1b", "%ff%fe", "%C3%BC%F0%9F%98%80", "x" * 20_000,
                    "..", "%2e%2e", "usr_" + "0" * 26, "%20", "'%20OR%201=1"):  # fmt: skip
            response = await send(
                api, endpoint, cast, url=await path_for(endpoint, cast, **{name: bad})
            )
            refused(response)
            if "%00" in bad or "%1b" in bad:
                assert refused(response, 400)["code"] == "invalid_characters"


# ----------------------------------------------------------------------------------- headers


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
async def test_spoofed_and_garbled_headers_get_no_500(
    api: httpx.AsyncClient, cast: Cast, endpoint: Endpoint
) -> None:
    body: dict[str, Any] = {}
    if endpoint.body is not None:
        body = {"json": await example_body(endpoint.body, cast)}
    garbled: list[tuple[bytes, bytes]] = [
        (b"Authorization", b"Bearer \xff\xfe"),
        (b"Authorization", b"Bearer " + b"a" * 10_000),
        (b"Authorization", b"Bearer a.b.c"),
        (b"Authorization", b"Basic Zm9vOmJhcg=="),
        (b"Authorization", b"Bearer qp_live_" + b"x" * 40),
        (b"Authorization", b"Bearer qp_test_\x7f"),
        (b"X-Forwarded-For", b"999.1.1.1, ::zz, \xff"),
        (b"X-Real-IP", b"not an ip"),
        (b"Forwarded", b'for="[::1";proto=gopher'),
        (b"Idempotency-Key", b"\xff\xfe"),
        (b"Idempotency-Key", b"k" * 300),
        (b"X-Request-Id", b"a" * 1000),
        (b"Content-Type", b"application/json; charset=latin-1"),
        (b"Accept", b"*/*;q=NaN"),
    ]
    signed_in = {k.encode(): v.encode() for k, v in (await cast.headers_for(endpoint)).items()}
    for name, value in garbled:
        headers = signed_in | {name: value}
        try:
            response = await api.request(
                endpoint.method, await path_for(endpoint, cast), headers=headers, **body
            )
        except httpx.HTTPError:
            continue  # the client itself refused to send it
        # 503 is an answer (a dependency such as the master seed is missing), 500 is not.
        assert response.status_code != 500, (name, value[:40], response.text[:300])


# ---------------------------------------------------------------------- a real served process


@pytest.fixture
def served_api(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Spawned]:
    """The API in its own uvicorn process, configured by environment as in production."""
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("CHAIN_WATCHERS", "[]")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    spawned = Spawned("backend.app:create_app")
    yield spawned
    spawned.stop()


async def test_a_served_api_survives_a_hundred_thousand_deep_login(
    served_api: Spawned, runtime: Runtime
) -> None:
    async with httpx.AsyncClient(base_url=served_api.url, timeout=30) as client:
        for raw in (b"[" * DEEP + b"]" * DEEP, b'{"a":' * DEEP + b"1" + b"}" * DEEP):
            response = await client.post(
                "/v1/auth/login", content=raw, headers={"Content-Type": "application/json"}
            )
            assert refused(response, 400)["code"] == "json_too_deep"
        assert (await client.get("/healthz")).status_code == 200
