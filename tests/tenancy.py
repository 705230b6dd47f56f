"""How to make a merchant's resource for the authorization matrix
(tests/backend/users/test_authorization_matrix.py).

The matrix walks every tenant-owned route in backend.routes.ENDPOINTS. For a route with a
path parameter it makes a resource owned by merchant A with the maker registered here for
that parameter's name, then proves merchant B cannot reach it. A route whose parameter
has no maker fails the matrix, so a new domain registers one next to its routes:

    async def make_invoice(api, owner) -> str:      # returns the new resource's id
        ...
    MAKERS["invoice_id"] = make_invoice

Give path parameters specific names (`invoice_id`, not `id`), one resource kind per name.
A route that also takes a body needs an example body in BODIES, keyed by (method, path),
so the request reaches authorization rather than stopping at validation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.identity import Account, make_api_key

Maker = Callable[[httpx.AsyncClient, Account], Awaitable[str]]


async def make_key(api: httpx.AsyncClient, owner: Account) -> str:
    await make_api_key(api, owner, "invoices:read")
    listed = await api.get("/v1/api-keys", headers=owner.headers)
    key_id: str = listed.json()["data"][0]["id"]
    return key_id


MAKERS: dict[str, Maker] = {
    "key_id": make_key,
}

BODIES: dict[tuple[str, str], dict[str, Any]] = {}
