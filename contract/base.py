"""Base classes for wire models: requests refuse unknown fields, responses are plain."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """A body or query an API caller sends. Unknown fields are an error, not ignored,
    so a typo in an integration fails loudly instead of silently doing the default."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResponseModel(BaseModel):
    """A body the API answers with."""
