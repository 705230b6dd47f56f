"""The endpoint wrapper: bad input always gets a 4xx error body, Idempotency-Key replays,
and an unhandled error is a 500 with a reference id, never a traceback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from openapi_spec_validator import validate as validate_openapi
from pydantic import BaseModel
from sqlalchemy import text

from backend.api import PUBLIC, Call, Endpoint
from backend.app import create_app
from backend.errors import Conflict
from backend.settings import Settings
from backend.users.access import signed_in
from contract.base import RequestModel
from contract.money import Money
from tests.conftest import WithState


class Order(RequestModel):
    item: str
    quantity: int
    price: Money


class Receipt(BaseModel):
    number: int
    total: Money


async def place(call: Call, body: Order) -> Receipt:
    number = await call.session.scalar(text("SELECT nextval('test_receipts')"))
    await asyncio.sleep(0.05)  # widen the window for the concurrent-key test
    total = Money(amount=body.price.amount * body.quantity, asset=body.price.asset)
    return Receipt(number=int(number), total=total)


async def refuse(call: Call, body: Order) -> Receipt:
    raise Conflict("Sold out.", param="item")


async def explode(call: Call) -> Receipt:
    raise RuntimeError("secret internals: do not show")


ENDPOINTS = [
    Endpoint("POST", "/orders", place, PUBLIC, "Place", body=Order, response=Receipt,
             status=201),
    Endpoint("POST", "/refused", refuse, PUBLIC, "Refuse", body=Order, response=Receipt),
    Endpoint("GET", "/explode", explode, PUBLIC, "Explode", response=Receipt),
    Endpoint("POST", "/members", place, signed_in(), "Members", body=Order, response=Receipt,
             operation_id="place_as_member"),
]  # fmt: skip


@pytest.fixture
async def client(settings: Settings, runtime: object) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, ENDPOINTS)
    async with app.router.lifespan_context(app) as state:
        rt = state["runtime"]
        async with rt.engine.begin() as conn:
            await conn.execute(text("CREATE SEQUENCE IF NOT EXISTS test_receipts"))
        transport = httpx.ASGITransport(app=WithState(app, dict(state)))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c


ORDER = {"item": "chai", "quantity": 3, "price": {"amount": "50.00", "asset": "KES"}}


def error(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


async def test_valid_order_is_created(client: httpx.AsyncClient) -> None:
    response = await client.post("/orders", json=ORDER)
    assert response.status_code == 201
    assert response.json()["total"] == {"amount": "150.00", "asset": "KES"}


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"{not json", {"content-type": "application/json"}, 400, "invalid_json"),
        (b"\xff\xfe", {"content-type": "application/json"}, 400, "invalid_json"),
        (json.dumps(ORDER).encode(), {"content-type": "text/plain"}, 415,
         "unsupported_media_type"),
        (json.dumps(ORDER).encode(), {}, 415, "unsupported_media_type"),
        (b"[1, 2]", {"content-type": "application/json"}, 422, "validation_failed"),
        (json.dumps({**ORDER, "quantity": "many"}).encode(),
         {"content-type": "application/json"}, 422, "validation_failed"),
        (json.dumps({**ORDER, "surprise": 1}).encode(),
         {"content-type": "application/json"}, 422, "validation_failed"),
        (json.dumps({**ORDER, "price": {"amount": 50.5, "asset": "KES"}}).encode(),
         {"content-type": "application/json"}, 422, "validation_failed"),
        (json.dumps({**ORDER, "price": {"amount": "50.001", "asset": "KES"}}).encode(),
         {"content-type": "application/json"}, 422, "validation_failed"),
        (json.dumps({**ORDER, "price": {"amount": "NaN", "asset": "KES"}}).encode(),
         {"content-type": "application/json"}, 422, "validation_failed"),
        (b'{"item": "' + b"x" * 1_100_000 + b'"}', {"content-type": "application/json"},
         413, "body_too_large"),
    ],
)  # fmt: skip
async def test_bad_input_gets_a_4xx_error_body(
    client: httpx.AsyncClient, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    response = await client.post("/orders", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert error(response)["code"] == code


async def test_unknown_field_names_the_param(client: httpx.AsyncClient) -> None:
    response = await client.post("/orders", json={**ORDER, "surprise": 1})
    assert error(response)["param"] == "surprise"


async def test_business_error_renders_type_code_message_param(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/refused", json=ORDER)
    assert response.status_code == 409
    assert error(response) == {
        "type": "invalid_request_error",
        "code": "conflict",
        "message": "Sold out.",
        "param": "item",
        "reference": None,
    }


async def test_unhandled_error_is_a_500_with_a_reference_and_no_internals(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/explode")
    assert response.status_code == 500
    body = error(response)
    assert body["reference"].startswith("err_")
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


async def test_wrong_method_is_a_405_error_body(client: httpx.AsyncClient) -> None:
    response = await client.delete("/orders")
    assert response.status_code == 405
    assert error(response)["code"] == "method_not_allowed"


async def test_same_idempotency_key_and_body_replays_the_first_answer(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/orders", json=ORDER, headers={"Idempotency-Key": "k-1"})
    again = await client.post("/orders", json=ORDER, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"


async def test_same_key_with_a_different_body_is_refused(client: httpx.AsyncClient) -> None:
    await client.post("/orders", json=ORDER, headers={"Idempotency-Key": "k-2"})
    other = await client.post(
        "/orders", json={**ORDER, "quantity": 4}, headers={"Idempotency-Key": "k-2"}
    )
    assert other.status_code == 409
    assert error(other)["code"] == "idempotency_key_reused"


async def test_key_order_in_the_body_does_not_matter(client: httpx.AsyncClient) -> None:
    await client.post("/orders", json=ORDER, headers={"Idempotency-Key": "k-3"})
    reordered = json.dumps(dict(reversed(list(ORDER.items()))))
    again = await client.post(
        "/orders",
        content=reordered,
        headers={"Idempotency-Key": "k-3", "content-type": "application/json"},
    )
    assert again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"


async def test_concurrent_requests_with_one_key_run_the_handler_once(
    client: httpx.AsyncClient,
) -> None:
    responses = await asyncio.gather(
        *(client.post("/orders", json=ORDER, headers={"Idempotency-Key": "k-4"})
          for _ in range(5))
    )  # fmt: skip
    numbers = {r.json()["number"] for r in responses}
    assert [r.status_code for r in responses] == [201] * 5
    assert len(numbers) == 1


async def test_a_refused_request_does_not_burn_the_key(client: httpx.AsyncClient) -> None:
    bad = await client.post("/refused", json=ORDER, headers={"Idempotency-Key": "k-5"})
    assert bad.status_code == 409
    good = await client.post("/orders", json=ORDER, headers={"Idempotency-Key": "k-5"})
    assert good.status_code == 201


async def test_openapi_documents_bodies_and_errors(settings: Settings) -> None:
    spec = create_app(settings, ENDPOINTS).state.openapi
    post = spec["paths"]["/orders"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Order"
    }
    assert set(post["responses"]) == {"201", "400", "409", "413", "415", "422", "500"}
    # Money is read (in an Order) and written (in a Receipt): two components, both named
    # so a client generator can use them as class names.
    assert {"MoneyInput", "MoneyOutput"} <= set(spec["components"]["schemas"])
    validate_openapi(spec)


async def test_an_anonymous_caller_is_refused_before_its_body_is_read(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/members", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 401
    assert error(response)["code"] == "not_authenticated"
