"""OpenAPI 3.1 document generated from the declared Endpoints and their contract models.

What an operation documents is derived from what can answer it, never listed by hand:
the access rule (its security requirements and the 401/403/429 it answers), the wrapper
(400 for control characters in a path or query value, anywhere; 422 for a bad query; the
Idempotency-Key header with its 400 and 409 on every POST; 400, 413, 415 and 422 for a
body; 204 from a handler that may return nothing; 500 from the last line of defence
anywhere), and the statuses the endpoint declares its handler answers. Every `$ref`
names a component the document holds (a test validates it whole).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from typing import Any, TypeGuard

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema

from backend.api import ACCESS_TOKEN, API_KEY, Endpoint
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
    500: "Internal error (the body carries a reference to quote to support)",
    503: "Unavailable",
}
_SUCCESS_TEXT = {200: "OK", 201: "Created", 204: "No content"}
# Whatever the endpoint: a path or query value with control characters in it (400), and
# the middleware's last line of defence (500).
_ALWAYS = frozenset({400, 500})
_QUERY_STATUSES = frozenset({422})
_BODY_STATUSES = frozenset({400, 413, 415, 422})
# A malformed Idempotency-Key (400), or one reused with another body or still running (409).
_IDEMPOTENT_STATUSES = frozenset({400, 409})
_TAGS = [
    ("system", "Liveness, readiness, metrics and this document."),
    ("auth", "Accounts, sign-in and tokens."),
    ("me", "The signed-in user: profile, sessions, verification, two-factor and limits."),
    ("api-keys", "Merchant API keys."),
    ("prices", "Exchange rates and quotes."),
    ("wallets", "Balances, deposit addresses, history, withdrawals and transfers."),
    ("admin", "Administration of users, limits and the audit log."),
    ("dev", "Development helpers; they answer 404 in production."),
]
_DESCRIPTION = (
    "The Qpeapay JSON API: crypto payments for Kenya. Amounts are decimal strings, times "
    "are ISO-8601 UTC, lists are cursor-paginated. Every error is "
    '`{"error": {"type", "code", "message", "param"}}` with a stable `code`. Send an '
    "`Idempotency-Key` with every POST to retry it safely."
)
_SECURITY_SCHEMES = {
    ACCESS_TOKEN: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A short-lived access token from POST /v1/auth/login or "
        "/v1/auth/refresh. A requirement lists the roles it admits (empty: any role).",
    },
    API_KEY: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "qp_live_… or qp_test_…",
        "description": "A merchant API key (shown once when created), sent as a bearer "
        "token. A requirement lists the scope the key must have been granted.",
    },
}


# Response headers, each documented where it can be sent (none is always required).
_HEADERS = {
    "X-Request-Id": {
        "description": "This request's id (the caller's own X-Request-Id when it sent a "
        "well-formed one); quote it to support.",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "WWW-Authenticate": {
        "description": "The scheme to authenticate with, when the credentials were missing "
        "or not valid.",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}
_HEADERS_BY_STATUS = {401: ["WWW-Authenticate"], 429: ["Retry-After"], 503: ["Retry-After"]}


def _headers(status: int, method: str) -> dict[str, Any]:
    names = ["X-Request-Id", *_HEADERS_BY_STATUS.get(status, [])]
    if method == "POST" and status < 300:  # only an answer the handler gave is stored
        names.append("Idempotent-Replayed")
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


class _ComponentNames(GenerateJsonSchema):
    """Component names an integrator's client generator can use as class names: a generic
    model reads as one word (`Page[Transaction]` is `TransactionPage`)."""

    def normalize_name(self, name: str) -> str:
        generic = re.fullmatch(r"(\w+)\[([\w\[\], ]+)\]", name)
        if generic is not None:
            outer, inner = generic.groups()
            name = "".join(part for part in re.split(r"[\[\], ]+", inner) if part) + outer
        return super().normalize_name(name)


def _is_model(value: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _success_statuses(endpoint: Endpoint) -> list[int]:
    """What a handler's success is answered with. The wrapper answers 204 instead of 200
    when a handler returns None; the handler's annotation says whether it can."""
    if endpoint.status != 200:
        return [endpoint.status]
    returns = typing.get_type_hints(endpoint.handler).get("return")
    if returns is type(None):
        return [204]
    union = typing.get_origin(returns) in (typing.Union, types.UnionType)
    if union and type(None) in typing.get_args(returns):
        return [200, 204]
    return [200]


class _Schemas:
    """Every contract model the endpoints take or return, as components: bodies and queries
    as the API reads them, responses as it writes them."""

    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {
            (ErrorBody, "serialization"): None
        }
        for ep in endpoints:
            for model in (ep.body, ep.query):
                if _is_model(model):
                    wanted[(model, "validation")] = None
            for model in (ep.response, *(model for _, model in ep.other_responses)):
                if _is_model(model):
                    wanted[(model, "serialization")] = None
        refs, definitions = models_json_schema(
            list(wanted), ref_template=_REF, schema_generator=_ComponentNames
        )
        # A model read and written differently is two components, `Money-Input` and
        # `Money-Output` as pydantic names them; `MoneyInput` and `MoneyOutput` are names a
        # client generator can use as they are.
        components: dict[str, Any] = definitions.get("$defs", {})
        renamed = {name: name.replace("-", "") for name in components if "-" in name}
        if set(renamed.values()) & set(components):
            raise ValueError(f"Component names collide: {sorted(renamed)}")
        self.components = {
            renamed.get(name, name): _renamed(schema, renamed)
            for name, schema in components.items()
        }
        self.refs = {key: _renamed(ref, renamed) for key, ref in refs.items()}
        self.queries: dict[str, Any] = {}  # query models, moved out of the components

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(self.refs[(model, mode)])

    def query_parameters(self, model: type[BaseModel]) -> list[dict[str, Any]]:
        """A query model's fields as parameters; its component is dropped, nothing names it."""
        name = self.ref(model, "validation")["$ref"].rpartition("/")[2]
        if name in self.components:
            self.queries[name] = self.components.pop(name)
        schema = self.queries[name]
        required = set(schema.get("required", ()))
        params = []
        for field, field_schema in schema.get("properties", {}).items():
            param: dict[str, Any] = {"name": field, "in": "query", "required": field in required}
            description = field_schema.get("description")
            if description:
                param["description"] = description
            param["schema"] = _query_value(field_schema)
            params.append(param)
        return params


def _renamed(node: Any, names: dict[str, str]) -> Any:
    """`node` with its `$ref`s following `names`."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                prefix, _, name = value.rpartition("/")
                out[key] = f"{prefix}/{names.get(name, name)}"
            else:
                out[key] = _renamed(value, names)
        return out
    if isinstance(node, list):
        return [_renamed(value, names) for value in node]
    return node


def _query_value(schema: dict[str, Any]) -> dict[str, Any]:
    """A query field's schema as the query string carries it: an optional field is left
    out rather than sent as null, so the null branch and the null default go."""
    value = {key: item for key, item in schema.items() if key not in ("title", "description")}
    if value.get("default", ...) is None:
        del value["default"]
    branches = value.get("anyOf")
    if branches is not None:
        kept = [branch for branch in branches if branch != {"type": "null"}]
        del value["anyOf"]
        value = {**kept[0], **value} if len(kept) == 1 else {"anyOf": kept, **value}
    return value


def _content(schema: dict[str, Any], media_type: str = "application/json") -> dict[str, Any]:
    return {media_type: {"schema": schema}}


def _operation(ep: Endpoint, schemas: _Schemas) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": ep.operation_id or ep.handler.__name__,
        "summary": ep.summary,
        "tags": list(ep.tags),
        "x-access": ep.access.description,
    }
    security = ep.access.security
    if security:
        operation["security"] = security
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)(?::\w+)?}", ep.path)
    ]
    statuses = set(_ALWAYS | ep.access.statuses) | set(ep.errors)
    if _is_model(ep.query):
        params += schemas.query_parameters(ep.query)
        statuses |= _QUERY_STATUSES
    if ep.method == "POST":
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Retry safely: the same key and body replay the first answer; "
                "the key with another body is refused with 409.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
        statuses |= _IDEMPOTENT_STATUSES
    if params:
        operation["parameters"] = params
    if _is_model(ep.body):
        operation["requestBody"] = {
            "required": True,
            "content": _content(schemas.ref(ep.body, "validation")),
        }
        statuses |= _BODY_STATUSES
    responses: dict[str, Any] = {}
    for status in _success_statuses(ep):
        success: dict[str, Any] = {"description": _SUCCESS_TEXT.get(status, "Success")}
        if status != 204 and _is_model(ep.response):
            success["content"] = _content(schemas.ref(ep.response, "serialization"))
        elif status != 204 and ep.response is not None:
            success["content"] = _content(ep.response, ep.media_type)
        responses[str(status)] = success
    for status, model in ep.other_responses:
        responses[str(status)] = {
            "description": _ERROR_TEXT.get(status, "Answer"),
            "content": _content(schemas.ref(model, "serialization")),
        }
    error = _content(schemas.ref(ErrorBody, "serialization"))
    for status in sorted(statuses - {int(code) for code in responses}):
        responses[str(status)] = {"description": _ERROR_TEXT.get(status, "Error"), "content": error}
    for code, response in responses.items():
        response["headers"] = _headers(int(code), ep.method)
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def build(
    endpoints: Sequence[Endpoint], version: str, server_url: str | None = None
) -> dict[str, Any]:
    """The document for `endpoints`; `server_url` is where the API is served."""
    schemas = _Schemas(endpoints)
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for ep in endpoints:
        operation = _operation(ep, schemas)
        if operation["operationId"] in operation_ids:
            raise ValueError(f"Two endpoints have the operationId {operation['operationId']}.")
        operation_ids.add(operation["operationId"])
        path = re.sub(r"{(\w+):\w+}", r"{\1}", ep.path)
        paths.setdefault(path, {})[ep.method.lower()] = operation
    used_tags = {tag for ep in endpoints for tag in ep.tags}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Qpeapay API",
            "version": version,
            "summary": "Crypto payments for Kenya: BTC and USDT in, KES out on M-Pesa.",
            "description": _DESCRIPTION,
        },
        "tags": [{"name": name, "description": text} for name, text in _TAGS if name in used_tags]
        + [{"name": name} for name in sorted(used_tags - {name for name, _ in _TAGS})],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "headers": _HEADERS,
            "securitySchemes": _SECURITY_SCHEMES,
        },
    }
    if server_url is not None:
        document["servers"] = [{"url": server_url.rstrip("/"), "description": "This API"}]
    return document
