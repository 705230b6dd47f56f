"""Merchant API keys on the wire: scopes, creation (the secret, shown once) and listing."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from contract.base import RequestModel, ResponseModel


class Scope(StrEnum):
    invoices_read = "invoices:read"
    invoices_write = "invoices:write"
    settlements_read = "settlements:read"
    webhooks_write = "webhooks:write"


class ApiKeyCreate(RequestModel):
    name: str = Field(min_length=1, max_length=80)
    scopes: list[Scope] = Field(min_length=1)


class ApiKey(ResponseModel):
    id: str
    name: str
    mode: str = Field(description="test keys start qp_test_, live keys qp_live_")
    prefix: str = Field(description="The first characters of the secret, to tell keys apart")
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyCreated(ResponseModel):
    api_key: ApiKey
    secret: str = Field(description="Shown once; store it now, it cannot be read again")


class ApiKeyList(ResponseModel):
    data: list[ApiKey]
