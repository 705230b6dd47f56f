"""The one error body every non-2xx JSON response carries."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    type: str
    code: str
    message: str
    param: str | None = None
    reference: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail
