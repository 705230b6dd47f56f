"""OpenAPI 3.1 document generated from the declared Endpoints and their contract models."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from backend.api import PUBLIC, Endpoint
from contract.errors import ErrorBody

_REF = "#/components/schemas/{model}"
_ERROR_TEXT = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Rate limited",
    503: "Unavailable",
}


def _model_classes(endpoints: Sequence[Endpoint]) -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {"ErrorBody": ErrorBody}
    for ep in endpoints:
        for model in (ep.body, ep.response, ep.query):
            if isinstance(model, type) and issubclass(model, BaseModel):
                seen.setdefault(model.__name__, model)
    return list(seen.values())


def _schema_ref(model: Any) -> dict[str, Any]:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return {"$ref": _REF.format(model=model.__name__)}
    return TypeAdapter(model).json_schema(ref_template=_REF)


def build(endpoints: Sequence[Endpoint], version: str) -> dict[str, Any]:
    models = _model_classes(endpoints)
    _, definitions = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    schemas = definitions.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        operation: dict[str, Any] = {
            "summary": ep.summary,
            "operationId": ep.handler.__name__,
            "tags": list(ep.tags),
            "x-access": ep.access.description,
            "responses": {},
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)(?::\w+)?}", ep.path)
        ]
        if ep.query is not None:
            for name, field in ep.query.model_fields.items():
                params.append(
                    {
                        "name": name,
                        "in": "query",
                        "required": field.is_required(),
                        "schema": TypeAdapter(cast(Any, field.annotation)).json_schema(
                            ref_template=_REF
                        ),
                    }
                )
        if ep.method == "POST":
            params.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 255},
                    "description": "Same key and body replay the first answer; "
                    "another body with the key is refused with 409.",
                }
            )
        if params:
            operation["parameters"] = params
        if ep.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema_ref(ep.body)}},
            }
        success: dict[str, Any] = {"description": "OK"}
        if ep.response is not None:
            success["content"] = {"application/json": {"schema": _schema_ref(ep.response)}}
        operation["responses"][str(ep.status)] = success
        error_ref = {"application/json": {"schema": {"$ref": _REF.format(model="ErrorBody")}}}
        statuses = set(ep.errors) | {429}
        if ep.body is not None:
            statuses |= {400, 413, 415, 422}
        if ep.access is not PUBLIC:
            statuses |= {401, 403}
            operation["security"] = [{"bearer": []}]
        for status in sorted(statuses):
            operation["responses"][str(status)] = {
                "description": _ERROR_TEXT.get(status, "Error"),
                "content": error_ref,
            }
        path = re.sub(r"{(\w+):\w+}", r"{\1}", ep.path)
        paths.setdefault(path, {})[ep.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Qpeapay API", "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An access token from /v1/auth/login, or a merchant API key.",
                }
            },
        },
    }
