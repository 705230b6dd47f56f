"""The web app's API client: contract models in, ApiError with the contract ErrorBody out,
bearer tokens from the session, Idempotency-Key on POST, one refresh on 401."""

from __future__ import annotations

import re
import socket
import time
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from backend.runtime import Runtime
from contract.errors import ErrorBody, ErrorDetail
from contract.forwarding import CLIENT_HEADER, Client, read_client_header
from contract.system import Health
from tests.conftest import WithState
from tests.identity import PASSWORD, make_account
from web.app import create_app
from web.client import ApiClient, ApiError, _parse, api, browser, client_key
from web.errors import MESSAGES, message_for, wait_words
from web.session import ACCESS_TOKEN, REFRESH_TOKEN, Session, SessionCodec
from web.settings import WebSettings


class Echo(BaseModel):
    ok: bool


def scripted(answers: list[httpx.Response]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport standing in for the network (not our code): it answers in turn and
    keeps what was sent."""
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answers[len(sent) - 1]

    return httpx.MockTransport(handle), sent


def recording(
    answers: list[httpx.Response],
) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    transport, sent = scripted(answers)
    return httpx.AsyncClient(transport=transport, base_url="http://api.test"), sent


def unauthorized() -> httpx.Response:
    body = ErrorBody(
        error=ErrorDetail(type="authentication_error", code="not_authenticated", message="Sign in.")
    )
    return httpx.Response(401, content=body.model_dump_json())


async def test_a_success_is_parsed_into_the_contract_model(api: httpx.AsyncClient) -> None:
    health = await ApiClient(api).get("/healthz", Health)
    assert health == Health(status="ok")


async def test_an_api_error_carries_the_contract_error_body(api: httpx.AsyncClient) -> None:
    with pytest.raises(ApiError) as missing:
        await ApiClient(api).get("/v1/no-such-thing", Health)
    assert missing.value.status == 404
    assert missing.value.error.type == "invalid_request_error"
    assert missing.value.code == "not_found"
    assert missing.value.error.message == "No such resource."

    with pytest.raises(ApiError) as wrong_method:
        await ApiClient(api).post("/healthz", Health)
    assert (wrong_method.value.status, wrong_method.value.code) == (405, "method_not_allowed")


async def test_the_error_param_comes_through() -> None:
    body = ErrorBody(
        error=ErrorDetail(
            type="invalid_request_error",
            code="validation_failed",
            message="amount: must be a string",
            param="amount",
        )
    )
    http, _ = recording([httpx.Response(422, content=body.model_dump_json())])
    with pytest.raises(ApiError) as raised:
        await ApiClient(http).post("/v1/invoices", Echo, Echo(ok=True))
    assert raised.value.body == body
    assert raised.value.error.param == "amount"


async def test_a_non_api_error_page_becomes_a_bad_gateway_error() -> None:
    http, _ = recording([httpx.Response(502, text="<html>nginx</html>")])
    with pytest.raises(ApiError) as raised:
        await ApiClient(http).get("/healthz", Health)
    assert (raised.value.status, raised.value.code) == (502, "bad_gateway")


async def test_an_unreachable_api_is_an_api_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but not listening: connections are refused
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            with pytest.raises(ApiError) as raised:
                await ApiClient(http).get("/healthz", Health)
    assert (raised.value.status, raised.value.code) == (503, "api_unreachable")
    assert message_for(raised.value) == MESSAGES["api_unreachable"]


async def test_a_timeout_is_an_api_error() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(slow), base_url="http://api.test"
    ) as http:
        with pytest.raises(ApiError) as raised:
            await ApiClient(http).get("/healthz", Health)
    assert (raised.value.status, raised.value.code) == (504, "api_timeout")


async def test_posts_carry_an_idempotency_key_the_bearer_token_and_the_browser_ip() -> None:
    http, sent = recording([httpx.Response(200, json={"ok": True})] * 3)
    session = Session()
    session.set(ACCESS_TOKEN, "access-1")
    key = client_key("a shared secret key of the deployment")
    client = ApiClient(http, session, client=Client("197.248.1.2", "d" * 32), client_key=key)

    assert await client.post("/v1/things", Echo, Echo(ok=True)) == Echo(ok=True)
    await client.post("/v1/things", Echo, idempotency_key="form-7f3a")
    await client.get("/v1/things/1", Echo)

    first, second, read = sent
    assert first.headers["authorization"] == "Bearer access-1"
    assert first.headers["content-type"] == "application/json"
    assert first.content == b'{"ok":true}'
    assert len(first.headers["idempotency-key"]) == 36
    assert second.headers["idempotency-key"] == "form-7f3a"
    assert "idempotency-key" not in read.headers
    assert "x-forwarded-for" not in read.headers
    vouched = read_client_header(key, read.headers[CLIENT_HEADER], int(time.time()))
    assert vouched == Client("197.248.1.2", "d" * 32)


async def test_no_session_token_means_no_authorization_header() -> None:
    http, sent = recording([httpx.Response(200, json={"ok": True})] * 2)
    session = Session()
    session.set(ACCESS_TOKEN, "access-1")
    await ApiClient(http).get("/v1/rates", Echo)
    await ApiClient(http, session).post("/v1/auth/login", Echo, auth=False)
    assert all("authorization" not in request.headers for request in sent)


async def test_a_401_refreshes_once_and_retries_with_the_same_idempotency_key() -> None:
    http, sent = recording([unauthorized(), httpx.Response(201, json={"ok": True})])
    session = Session()
    session.set(ACCESS_TOKEN, "expired")
    session.set(REFRESH_TOKEN, "refresh-1")
    refreshed: list[str | None] = []

    async def refresh(client: ApiClient) -> bool:
        assert client.session is session
        refreshed.append(session.get(REFRESH_TOKEN))
        session.set(ACCESS_TOKEN, "fresh")
        return True

    result = await ApiClient(http, session, refresh).post("/v1/things", Echo, Echo(ok=True))
    assert result == Echo(ok=True)
    assert refreshed == ["refresh-1"]
    assert [r.headers["authorization"] for r in sent] == ["Bearer expired", "Bearer fresh"]
    assert sent[0].headers["idempotency-key"] == sent[1].headers["idempotency-key"]
    assert sent[0].content == sent[1].content


async def test_a_failed_refresh_surfaces_the_401() -> None:
    http, sent = recording([unauthorized()])
    session = Session()
    session.set(REFRESH_TOKEN, "revoked")

    async def refresh(client: ApiClient) -> bool:
        return False

    with pytest.raises(ApiError) as raised:
        await ApiClient(http, session, refresh).get("/v1/me", Echo)
    assert (raised.value.status, raised.value.code) == (401, "not_authenticated")
    assert message_for(raised.value) == MESSAGES["not_authenticated"]
    assert len(sent) == 1


async def test_no_refresh_without_a_refresh_token_or_for_unauthenticated_calls() -> None:
    calls: list[str] = []

    async def refresh(client: ApiClient) -> bool:
        calls.append("refresh")
        return True

    http, _ = recording([unauthorized(), unauthorized()])
    signed_in = Session()
    signed_in.set(REFRESH_TOKEN, "refresh-1")
    with pytest.raises(ApiError):
        await ApiClient(http, Session(), refresh).get("/v1/me", Echo)
    with pytest.raises(ApiError):
        await ApiClient(http, signed_in, refresh).post("/v1/auth/refresh", Echo, auth=False)
    assert calls == []


async def test_a_body_less_answer_returns_none() -> None:
    http, sent = recording([httpx.Response(204)])
    await ApiClient(http).call("DELETE", "/v1/things/1", None)
    assert sent[0].method == "DELETE"


def test_unmapped_codes_show_the_api_message() -> None:
    error = ApiError.of(409, "invalid_request_error", "invoice_expired", "The invoice expired.")
    assert message_for(error) == "The invoice expired."


async def test_pages_reach_the_api_as_the_signed_in_browser(
    web_settings: WebSettings, session_codec: SessionCodec
) -> None:
    """`api(request)` wires the process's pooled client to this browser's session and IP."""
    to_api, sent = scripted([httpx.Response(201, json={"ok": True})])

    async def create(request: Request) -> Response:
        created = await api(request).post("/v1/things", Echo, Echo(ok=True))
        return PlainTextResponse(str(created.ok))

    app = create_app(web_settings, api_transport=to_api)
    app.router.routes.append(Route("/_create", create, methods=["POST"]))
    session = Session()
    session.set(ACCESS_TOKEN, "access-9")
    token = session.csrf_token()
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(
            app=WithState(app, dict(state or {})), client=("41.90.1.7", 5)
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://web.test") as browser:
            browser.cookies.set("qpeapay_session", session_codec.seal(session.dump()))
            answer = await browser.post(
                "/_create", headers={"X-CSRF-Token": token, "Origin": "http://web.test"}
            )
    assert (answer.status_code, answer.text) == (200, "True")
    (request,) = sent
    assert str(request.url) == "http://api.test/v1/things"
    assert request.headers["authorization"] == "Bearer access-9"
    vouched = read_client_header(
        client_key(web_settings.secret_key.get_secret_value()),
        request.headers[CLIENT_HEADER],
        int(time.time()),
    )
    assert vouched is not None and vouched.ip == "41.90.1.7" and vouched.device is not None
    assert answer.cookies["qpeapay_device"] == vouched.device
    assert request.headers["user-agent"].startswith("python-httpx/")  # the browser's, forwarded


async def test_the_api_hears_the_browsers_real_address_never_one_it_wrote(
    web_app: tuple[Starlette, dict[str, Any]], runtime: Runtime, api: httpx.AsyncClient
) -> None:
    """The browser's own X-Forwarded-For is ignored; the API believes the web app's signed
    word about the address the browser connected from."""
    account = await make_account(api, runtime)
    app, state = web_app
    transport = httpx.ASGITransport(app=WithState(app, state), client=("41.90.1.7", 5))
    async with httpx.AsyncClient(transport=transport, base_url="http://web.test") as browser:
        page = await browser.get("/login", headers={"X-Forwarded-For": "6.6.6.6"})
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        signed_in = await browser.post(
            "/login",
            data={"email": account.email, "password": PASSWORD, "csrf_token": token.group(1)},
            headers={"X-Forwarded-For": "6.6.6.6", "Origin": "http://web.test"},
        )
        assert signed_in.status_code == 303, signed_in.text
    sessions = (await api.get("/v1/me/sessions", headers=account.headers)).json()["data"]
    assert sorted(s["ip"] for s in sessions) == ["127.0.0.1", "41.90.1.7"]


def test_the_web_app_reads_forwarded_for_only_from_its_own_proxies() -> None:
    def arriving(peer: str, forwarded: str) -> HTTPConnection:
        headers = [(b"x-forwarded-for", forwarded.encode())]
        return HTTPConnection({"type": "http", "client": (peer, 1), "headers": headers})

    proxies = ["10.0.0.0/8"]
    # Through our proxy: the hop it saw, not what the browser wrote before it.
    assert browser(arriving("10.0.0.5", "6.6.6.6, 197.248.1.9"), proxies).ip == "197.248.1.9"
    # Straight from the internet, or with no proxy configured: the peer, whatever it says.
    assert browser(arriving("41.90.1.7", "197.248.1.9"), proxies).ip == "41.90.1.7"
    assert browser(arriving("10.0.0.5", "197.248.1.9"), []).ip == "10.0.0.5"


def test_a_rate_limit_says_how_long_to_wait_from_the_retry_after() -> None:
    answer = httpx.Response(
        429,
        headers={"Retry-After": "61"},
        json={"error": {"type": "rate_limit_error", "code": "rate_limited", "message": "Slow."}},
    )

    with pytest.raises(ApiError) as raised:
        _parse(answer, Echo)

    assert raised.value.retry_after == 61
    assert message_for(raised.value) == "Too many attempts. Wait 2 minutes, then try again."
    assert [wait_words(s) for s in (1, 45, 60, 3600, 3601)] == [
        "1 second", "45 seconds", "1 minute", "1 hour", "2 hours",
    ]  # fmt: skip
