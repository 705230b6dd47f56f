"""The OpenAPI document: valid as a whole, every reference resolves, and what each
operation documents follows from its access rule, the wrapper and its handler."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

from backend.api import PUBLIC, Call, Endpoint
from backend.openapi import build
from backend.routes import ENDPOINTS
from backend.users.access import public_limited, signed_in
from contract.apikeys import Scope
from contract.pagination import Page
from contract.users import Role

SPEC = build(ENDPOINTS, "1.2.3", "https://api.example.test/")


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_the_document_is_valid_openapi() -> None:
    validate(SPEC)


def test_every_reference_names_a_component() -> None:
    refs = _refs(SPEC)
    assert "#/components/schemas/TransactionPage" in refs
    assert "#/components/headers/Retry-After" in refs
    for ref in refs:
        assert ref.startswith("#/components/"), ref
        _, kind, name = ref.removeprefix("#/").split("/")
        assert name in SPEC["components"][kind], ref


def test_responses_document_the_headers_they_can_carry() -> None:
    quote = SPEC["paths"]["/v1/quotes"]["post"]["responses"]
    assert set(quote["201"]["headers"]) == {"X-Request-Id", "Idempotent-Replayed"}
    assert set(quote["429"]["headers"]) == {"X-Request-Id", "Retry-After"}
    assert set(quote["503"]["headers"]) == {"X-Request-Id", "Retry-After"}
    assert set(quote["401"]["headers"]) == {"X-Request-Id", "WWW-Authenticate"}


def test_generic_components_read_as_one_word() -> None:
    names = set(SPEC["components"]["schemas"])
    assert {"TransactionPage", "UserPage", "AuditEventPage"} <= names
    assert not [name for name in names if not name.isidentifier()]


def test_info_servers_and_tags_are_there_for_a_client_generator() -> None:
    assert SPEC["info"]["title"] == "Qpeapay API"
    assert SPEC["info"]["version"] == "1.2.3"
    assert SPEC["servers"] == [{"url": "https://api.example.test", "description": "This API"}]
    declared = {tag["name"] for tag in SPEC["tags"]}
    used = {tag for _, _, operation in _operations(SPEC) for tag in operation["tags"]}
    assert used == declared
    assert all(tag.get("description") for tag in SPEC["tags"])


def test_operation_ids_are_unique_and_read_as_verbs() -> None:
    ids = [operation["operationId"] for _, _, operation in _operations(SPEC)]
    assert len(ids) == len(set(ids)) == len(ENDPOINTS)
    assert {"list_transactions", "create_withdrawal", "login", "get_me"} <= set(ids)


async def _nothing(call: Call) -> None:
    return None


async def _maybe(call: Call) -> Page[Scope] | None:
    return None


def test_two_endpoints_with_one_operation_id_are_refused() -> None:
    twice = [
        Endpoint("GET", "/a", _nothing, PUBLIC, "A"),
        Endpoint("GET", "/b", _nothing, PUBLIC, "B"),
    ]
    with pytest.raises(ValueError, match="_nothing"):
        build(twice, "1")
    twice[1] = Endpoint("GET", "/b", _nothing, PUBLIC, "B", operation_id="b")
    validate(build(twice, "1"))


class _Body(BaseModel):
    name: str


class _Query(BaseModel):
    role: Role | None = None
    limit: int = 5


def test_statuses_follow_the_access_rule_and_the_wrapper() -> None:
    spec = build(
        [
            Endpoint("GET", "/open", _nothing, PUBLIC, "Open"),
            Endpoint("GET", "/same", _nothing, PUBLIC, "Same query", query=_Query,
                     operation_id="same"),
            Endpoint("GET", "/limited", _maybe, public_limited, "Limited", query=_Query,
                     response=Page[Scope], operation_id="limited"),
            Endpoint("POST", "/members", _nothing, signed_in(Role.merchant, key_scope=Scope.
                     invoices_write), "Members", body=_Body, status=201, errors=(404,),
                     operation_id="members"),
        ],
        "1",
    )  # fmt: skip
    validate(spec)
    open_ = spec["paths"]["/open"]["get"]
    # A handler that returns nothing is answered 204 by the wrapper, whatever its status.
    assert set(open_["responses"]) == {"204", "400", "500"}
    assert "security" not in open_
    limited = spec["paths"]["/limited"]["get"]
    # ... and one that may return nothing, 200 or 204.
    assert set(limited["responses"]) == {"200", "204", "400", "422", "429", "500"}
    assert [(p["name"], p["in"]) for p in limited["parameters"]] == [
        ("role", "query"),
        ("limit", "query"),
    ]
    # A query leaves an optional value out; it never sends null.
    assert limited["parameters"][0]["schema"] == {"$ref": "#/components/schemas/Role"}
    assert "_Query" not in spec["components"]["schemas"]
    assert "ScopePage" in spec["components"]["schemas"]
    members = spec["paths"]["/members"]["post"]
    assert set(members["responses"]) == {
        "201", "400", "401", "403", "404", "409", "413", "415", "422", "429", "500"
    }  # fmt: skip
    assert members["security"] == [
        {"accessToken": ["merchant"]},
        {"apiKey": ["invoices:write"]},
    ]
    assert [(p["name"], p["in"]) for p in members["parameters"]] == [("Idempotency-Key", "header")]
    for response in members["responses"].values():
        if "content" in response and response is not members["responses"]["201"]:
            assert response["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorBody"
            }


def test_every_operation_documents_what_the_wrapper_can_answer() -> None:
    by_route = {(ep.method, ep.path): ep for ep in ENDPOINTS}
    for method, path, operation in _operations(SPEC):
        ep = by_route[(method, path)]
        statuses = set(operation["responses"])
        assert {"400", "500"} <= statuses, (method, path)
        params = {(p["name"], p["in"]) for p in operation.get("parameters", [])}
        if ep.query is not None:
            assert "422" in statuses, (method, path)
        if method == "POST":
            assert ("Idempotency-Key", "header") in params, (method, path)
            assert {"400", "409"} <= statuses, (method, path)
        if ep.body is not None:
            assert {"400", "413", "415", "422"} <= statuses, (method, path)
        if ep.access is not PUBLIC:
            assert "429" in statuses, (method, path)
        if ep.access.security:
            assert {"401", "403"} <= statuses, (method, path)
            assert operation["security"], (method, path)
            assert {name for requirement in operation["security"] for name in requirement} <= set(
                SPEC["components"]["securitySchemes"]
            )


def test_readiness_documents_its_own_body_when_unavailable() -> None:
    responses = SPEC["paths"]["/readyz"]["get"]["responses"]
    assert responses["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Readiness"
    }
    metrics = SPEC["paths"]["/metrics"]["get"]["responses"]["200"]
    assert set(metrics["content"]) == {"text/plain"}


async def test_a_control_character_in_any_query_is_a_documented_400(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/v1/openapi.json")).json()
    response = await api.get("/healthz", params={"note": "a\x01b"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_characters"
    assert "400" in spec["paths"]["/healthz"]["get"]["responses"]
