"""The authorization matrix, walked over backend.routes.ENDPOINTS so routes added later are
covered without editing this file:

- every endpoint declares an access rule, and account/admin paths are never public;
- every /v1/admin route is admin-only and refuses customers, merchants and keys;
- every route under the merchant paths is tenant-owned (merchant_key_or_user or
  signed_in(Role.merchant)), and every tenant-owned route refuses customers, admins,
  anonymous callers and API keys without the scope;
- merchant B never reaches or lists merchant A's resources.

Rules are checked by calling each endpoint's `access.authorize` on a real request (so a
body that would fail validation first does not hide the answer), and over HTTP for
routes without a body.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.requests import Request

from backend.api import PUBLIC, Call, Endpoint
from backend.db import unit_of_work
from backend.errors import QpeapayError
from backend.routes import ENDPOINTS
from backend.runtime import Runtime
from backend.users.access import MerchantKeyOrUser, is_admin_only, is_tenant_owned, key_scope
from contract.apikeys import Scope
from contract.users import Role
from tests.identity import Account, enable_two_factor, make_account, make_api_key
from tests.tenancy import BODIES, MAKERS

PARAM = re.compile(r"{(\w+)(?::\w+)?}")
ADMIN_ROUTES = [ep for ep in ENDPOINTS if ep.path.startswith("/v1/admin")]
TENANT_ROUTES = [ep for ep in ENDPOINTS if is_tenant_owned(ep.access)]
NEVER_PUBLIC = ("/v1/me", "/v1/admin", "/v1/api-keys")
# The merchant API (docs/architecture.md#api-surface): whatever lives here is a merchant's.
MERCHANT_PATHS = ("/v1/invoices", "/v1/settlements", "/v1/webhook-endpoints", "/v1/api-keys",
                  "/v1/merchant")  # fmt: skip


def _name(ep: Endpoint) -> str:
    return f"{ep.method} {ep.path}"


def _fill(ep: Endpoint, values: dict[str, str]) -> tuple[str, dict[str, str]]:
    params = {name: values.get(name, "zz_notreal00000000000000000000") for name in
              PARAM.findall(ep.path)}  # fmt: skip
    return PARAM.sub(lambda m: params[m.group(1)], ep.path), params


@asynccontextmanager
async def _call(runtime: Runtime, ep: Endpoint, token: str | None) -> AsyncIterator[Call]:
    path, params = _fill(ep, {})
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    scope = {"type": "http", "method": ep.method, "path": path, "headers": headers,
             "path_params": params, "client": ("127.0.0.1", 5000), "query_string": b""}  # fmt: skip
    async with unit_of_work(runtime.sessionmaker) as session:
        yield Call(request=Request(scope), session=session, runtime=runtime)


async def _refusal(runtime: Runtime, ep: Endpoint, token: str | None) -> int:
    """The status the endpoint's access rule answers `token` with (200 when it admits)."""
    try:
        async with _call(runtime, ep, token) as call:
            await ep.access.authorize(call)
    except QpeapayError as exc:
        return exc.status
    return 200


def test_every_endpoint_declares_an_access_rule() -> None:
    assert ENDPOINTS
    for ep in ENDPOINTS:
        assert callable(getattr(ep.access, "authorize", None)), _name(ep)
        assert isinstance(ep.access.description, str) and ep.access.description, _name(ep)
        if ep.path.startswith(NEVER_PUBLIC):
            assert ep.access is not PUBLIC, f"{_name(ep)} must not be public"
            assert "public" not in ep.access.description, _name(ep)


def test_admin_paths_use_the_admin_rule() -> None:
    assert ADMIN_ROUTES, "the admin routes are registered"
    for ep in ADMIN_ROUTES:
        assert is_admin_only(ep.access), f"{_name(ep)} must be admin_only"


@pytest.mark.parametrize("ep", ADMIN_ROUTES, ids=_name)
async def test_admin_routes_refuse_everyone_but_admins(
    ep: Endpoint,
    runtime: Runtime,
    api: httpx.AsyncClient,
    customer: Account,
    merchant: Account,
    admin: Account,
) -> None:
    key = await make_api_key(api, merchant, *(scope.value for scope in Scope))
    assert await _refusal(runtime, ep, None) == 401
    assert await _refusal(runtime, ep, "not-a-token") == 401
    for token in (customer.access_token, merchant.access_token, key):
        assert await _refusal(runtime, ep, token) == 403, _name(ep)
    assert await _refusal(runtime, ep, admin.access_token) == 200
    if ep.body is None:
        path, _ = _fill(ep, {})
        response = await api.request(ep.method, path, headers=customer.headers)
        assert response.status_code == 403


async def test_admin_routes_refuse_an_admin_without_two_factor(
    runtime: Runtime, api: httpx.AsyncClient
) -> None:
    bare = await make_account(api, runtime, Role.admin)
    for ep in ADMIN_ROUTES:
        assert await _refusal(runtime, ep, bare.access_token) == 403, _name(ep)
    listing = await api.get("/v1/admin/users", headers=bare.headers)
    assert listing.status_code == 403
    assert listing.json()["error"]["code"] == "two_factor_required"
    # Their own account pages stay open, so they can turn it on.
    await enable_two_factor(api, bare)
    for ep in ADMIN_ROUTES:
        assert await _refusal(runtime, ep, bare.access_token) == 200, _name(ep)


def test_merchant_paths_are_tenant_owned() -> None:
    """So a merchant route cannot slip out of the matrix by declaring a looser rule."""
    assert {"/v1/api-keys", "/v1/api-keys/{key_id}"} <= {ep.path for ep in TENANT_ROUTES}
    for ep in ENDPOINTS:
        if ep.path.startswith(MERCHANT_PATHS):
            assert is_tenant_owned(ep.access), f"{_name(ep)} must be merchant-only"


@pytest.mark.parametrize("ep", TENANT_ROUTES, ids=_name)
async def test_tenant_routes_refuse_customers_admins_and_keys_without_the_scope(
    ep: Endpoint,
    runtime: Runtime,
    api: httpx.AsyncClient,
    customer: Account,
    merchant: Account,
    admin: Account,
) -> None:
    needed = ep.access.scope if isinstance(ep.access, MerchantKeyOrUser) else None
    unscoped = [scope.value for scope in Scope if scope is not needed]
    key_without_scope = await make_api_key(api, merchant, *unscoped)
    assert await _refusal(runtime, ep, None) == 401
    for token in (customer.access_token, admin.access_token, key_without_scope):
        assert await _refusal(runtime, ep, token) == 403, _name(ep)
    assert await _refusal(runtime, ep, merchant.access_token) == 200
    if needed is not None:
        scoped = await make_api_key(api, merchant, needed.value)
        assert await _refusal(runtime, ep, scoped) == 200
    if ep.body is None:
        path, _ = _fill(ep, {})
        for account in (customer, admin):
            response = await api.request(ep.method, path, headers=account.headers)
            assert response.status_code == 403, (_name(ep), response.text)


KEY_ROUTES = [ep for ep in ENDPOINTS if key_scope(ep.access) is not None]


def test_integrators_have_routes_that_take_api_keys() -> None:
    assert {"POST /v1/quotes", "GET /v1/quotes/{quote_id}"} <= {_name(ep) for ep in KEY_ROUTES}


@pytest.mark.parametrize("ep", KEY_ROUTES, ids=_name)
async def test_routes_that_take_api_keys_want_the_scope(
    ep: Endpoint, runtime: Runtime, api: httpx.AsyncClient, merchant: Account
) -> None:
    needed = key_scope(ep.access)
    assert needed is not None
    without = await make_api_key(api, merchant, *(s.value for s in Scope if s is not needed))
    assert await _refusal(runtime, ep, without) == 403
    assert await _refusal(runtime, ep, await make_api_key(api, merchant, needed.value)) == 200


OWNED_ROUTES = [ep for ep in TENANT_ROUTES if PARAM.search(ep.path)]
LIST_ROUTES = [ep for ep in TENANT_ROUTES if ep.method == "GET" and not PARAM.search(ep.path)]


@pytest.mark.parametrize("ep", OWNED_ROUTES, ids=_name)
async def test_another_merchant_cannot_reach_a_merchants_resources(
    ep: Endpoint,
    api: httpx.AsyncClient,
    merchant: Account,
    other_merchant: Account,
) -> None:
    names = PARAM.findall(ep.path)
    missing = [name for name in names if name not in MAKERS]
    if missing:
        pytest.fail(f"{_name(ep)}: register a maker for {missing} in tests/tenancy.py")
    body = BODIES.get((ep.method, ep.path))
    if ep.body is not None and body is None:
        pytest.fail(f"{_name(ep)}: add an example body to BODIES in tests/tenancy.py")
    owned = {name: await MAKERS[name](api, merchant) for name in names}
    path, _ = _fill(ep, owned)
    response = await api.request(ep.method, path, json=body, headers=other_merchant.headers)
    assert response.status_code in (403, 404), (_name(ep), response.text)
    for value in owned.values():
        assert value not in response.text, f"{_name(ep)} shows another merchant's {value}"


@pytest.mark.parametrize("ep", LIST_ROUTES, ids=_name)
async def test_another_merchants_lists_show_nothing_of_yours(
    ep: Endpoint,
    api: httpx.AsyncClient,
    merchant: Account,
    other_merchant: Account,
) -> None:
    owned = [await make(api, merchant) for make in MAKERS.values()]
    response = await api.get(ep.path, headers=other_merchant.headers)
    assert response.status_code == 200, (_name(ep), response.text)
    leaked = [value for value in owned if value in response.text]
    assert not leaked, f"{_name(ep)} lists another merchant's {leaked}"
