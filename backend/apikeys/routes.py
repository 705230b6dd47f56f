"""Merchant API keys: create (the secret once), list, revoke. Only a signed-in merchant
manages keys; a key can never mint or revoke keys."""

from __future__ import annotations

from backend.api import Call, Endpoint
from backend.apikeys import service
from backend.apikeys.models import ApiKey as ApiKeyRow
from backend.users import service as users
from backend.users.access import signed_in
from contract.apikeys import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyList
from contract.users import Role

MERCHANT = signed_in(Role.merchant)


def to_wire(key: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=key.id,
        name=key.name,
        mode=key.mode,
        prefix=key.prefix,
        scopes=key.scopes,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


async def create_key(call: Call, body: ApiKeyCreate) -> ApiKeyCreated:
    merchant = await users.get(call.session, call.user().user_id)
    key, secret = await service.create(
        call.session, call.runtime.settings, merchant, body, call.client_ip
    )
    await call.session.refresh(key)
    return ApiKeyCreated(api_key=to_wire(key), secret=secret)


async def list_keys(call: Call) -> ApiKeyList:
    return ApiKeyList(
        data=[to_wire(key) for key in await service.list_for(call.session, call.user().user_id)]
    )


async def revoke_key(call: Call) -> ApiKey:
    key = await service.revoke(
        call.session, call.user().user_id, call.path["key_id"], call.client_ip
    )
    return to_wire(key)


ENDPOINTS = [
    Endpoint("POST", "/v1/api-keys", create_key, MERCHANT, "Create an API key",
             body=ApiKeyCreate, response=ApiKeyCreated, status=201, tags=("api-keys",)),
    Endpoint("GET", "/v1/api-keys", list_keys, MERCHANT, "Your API keys",
             response=ApiKeyList, tags=("api-keys",)),
    Endpoint("DELETE", "/v1/api-keys/{key_id}", revoke_key, MERCHANT, "Revoke an API key",
             response=ApiKey, errors=(404,), tags=("api-keys",)),
]  # fmt: skip  # one endpoint per entry, its fields grouped by hand
