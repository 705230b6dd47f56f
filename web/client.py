"""The typed API client every web page uses: requests go to the API over HTTP, 2xx bodies are
parsed into contract models, anything else raises ApiError carrying the contract ErrorBody.

Invariants: the bearer token comes only from the browser's session; every POST carries an
Idempotency-Key (kept across the one retry after a token refresh, so a retried POST can
never act twice); transport failures surface as ApiError too, so pages handle one type.
The browser's address reaches the API only in a header signed with a key derived from
SECRET_KEY, and is read from X-Forwarded-For only as far as this app's TRUSTED_PROXIES go.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar, overload

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ValidationError
from starlette.requests import HTTPConnection

from contract import forwarding
from contract.errors import ErrorBody, ErrorDetail
from web.device import SCOPE_KEY as DEVICE_SCOPE_KEY
from web.session import ACCESS_TOKEN, REFRESH_TOKEN, Session, get_session

if TYPE_CHECKING:
    from web.runtime import WebRuntime

M = TypeVar("M", bound=BaseModel)

# Renews the session's tokens after the API answered 401; True means "retry the request".
# It runs at most once per request and should call the API with `auth=False`.
Refresh = Callable[["ApiClient"], Awaitable[bool]]


class ApiError(Exception):
    """A non-2xx answer from the API (or no answer at all), as the contract's ErrorBody."""

    def __init__(self, status: int, body: ErrorBody, retry_after: int | None = None) -> None:
        self.status = status
        self.body = body
        # Seconds the API asked us to wait (its Retry-After), so a page can say how long.
        self.retry_after = retry_after
        super().__init__(f"{status} {body.error.code}: {body.error.message}")

    @classmethod
    def of(cls, status: int, type_: str, code: str, message: str) -> ApiError:
        return cls(status, ErrorBody(error=ErrorDetail(type=type_, code=code, message=message)))

    @property
    def error(self) -> ErrorDetail:
        return self.body.error

    @property
    def code(self) -> str:
        return self.body.error.code


class ApiClient:
    """One page request's view of the API: the shared connection pool plus this browser's
    session. Build it with `api(request)`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        session: Session | None = None,
        refresh: Refresh | None = None,
        client: forwarding.Client | None = None,
        client_key: bytes | None = None,
        user_agent: str | None = None,
    ) -> None:
        self.http = http
        self.session = session
        self.refresh = refresh
        # The browser's address and device, vouched for with `client_key`, so the API
        # rate-limits people rather than this server.
        self.client = client
        self.client_key = client_key
        # The browser's User-Agent, so the API's session list names the person's device.
        self.user_agent = user_agent

    async def get(
        self, path: str, response: type[M], *, params: Mapping[str, str] | None = None
    ) -> M:
        return await self.call("GET", path, response, params=params)

    async def post(
        self,
        path: str,
        response: type[M],
        body: BaseModel | None = None,
        *,
        idempotency_key: str | None = None,
        auth: bool = True,
    ) -> M:
        return await self.call(
            "POST", path, response, body=body, idempotency_key=idempotency_key, auth=auth
        )

    @overload
    async def call(
        self,
        method: str,
        path: str,
        response: type[M],
        *,
        body: BaseModel | None = None,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        auth: bool = True,
    ) -> M: ...

    @overload
    async def call(
        self,
        method: str,
        path: str,
        response: None,
        *,
        body: BaseModel | None = None,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        auth: bool = True,
    ) -> None: ...

    async def call(
        self,
        method: str,
        path: str,
        response: type[M] | None,
        *,
        body: BaseModel | None = None,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        auth: bool = True,
    ) -> M | None:
        """Send one request; `response=None` for answers without a body (204).

        Pass the `idempotency_key` a form rendered, so a double-submitted form replays
        instead of acting twice; without one each call gets a fresh key.
        """
        headers: dict[str, str] = {"Accept": "application/json"}
        if self.client is not None and self.client_key is not None:
            headers[forwarding.CLIENT_HEADER] = forwarding.client_header(
                self.client_key, self.client, int(time.time())
            )
        if self.user_agent:
            headers["User-Agent"] = self.user_agent
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        content: bytes | None = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = body.model_dump_json().encode()

        answer = await self._send(method, path, headers, content, params, auth)
        if (
            answer.status_code == 401
            and auth
            and self.refresh is not None
            and self.session is not None
            and self.session.get(REFRESH_TOKEN) is not None
            and await self.refresh(self)
        ):
            answer = await self._send(method, path, headers, content, params, auth)
        return _parse(answer, response)

    async def _send(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        content: bytes | None,
        params: Mapping[str, str] | None,
        auth: bool,
    ) -> httpx.Response:
        token = self.session.get(ACCESS_TOKEN) if auth and self.session else None
        if token is not None:
            headers = {**headers, "Authorization": f"Bearer {token}"}
        try:
            return await self.http.request(
                method, path, headers=headers, content=content, params=params
            )
        except httpx.TimeoutException as exc:
            raise ApiError.of(
                504, "api_error", "api_timeout", "The API did not answer in time."
            ) from exc
        except httpx.TransportError as exc:
            raise ApiError.of(
                503, "api_error", "api_unreachable", "The API cannot be reached."
            ) from exc


def _parse(answer: httpx.Response, response: type[M] | None) -> M | None:
    if answer.is_success:
        if response is None:
            return None
        return response.model_validate_json(answer.content)
    try:
        body = ErrorBody.model_validate_json(answer.content)
    except ValidationError:
        # Not our API talking (a proxy's HTML page, a crash before the error handler).
        body = ErrorBody(
            error=ErrorDetail(
                type="api_error",
                code="bad_gateway" if answer.status_code >= 500 else "unexpected_response",
                message=f"The API answered {answer.status_code} without an error body.",
            )
        )
    raise ApiError(answer.status_code, body, retry_after=retry_after_of(answer))


def retry_after_of(answer: httpx.Response) -> int | None:
    """The answer's Retry-After in seconds (we send delay-seconds, never an HTTP date)."""
    value = answer.headers.get("retry-after", "").strip()
    return int(value) if value.isdigit() else None


@lru_cache(maxsize=4)
def client_key(secret: str) -> bytes:
    """The key of the signed client header: HKDF-SHA256 of SECRET_KEY for its purpose, the
    same derivation the API uses for every per-purpose key."""
    info = f"qpeapay:{forwarding.PURPOSE}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


@lru_cache(maxsize=4)
def _proxies(cidrs: tuple[str, ...]) -> list[forwarding.Network]:
    return forwarding.parse_networks(cidrs)


def browser(conn: HTTPConnection, trusted_proxies: list[str]) -> forwarding.Client:
    """The browser behind this request: its address (through our own trusted proxies only,
    never a header it wrote itself) and its device cookie."""
    peer = conn.client.host if conn.client else "unknown"
    ip = forwarding.forwarded_client(
        peer, conn.headers.getlist("x-forwarded-for"), _proxies(tuple(trusted_proxies))
    )
    device = conn.scope.get(DEVICE_SCOPE_KEY)
    return forwarding.Client(ip, device if isinstance(device, str) else None)


def api(conn: HTTPConnection) -> ApiClient:
    """The API client for this request: the process's shared pool, this browser's session."""
    web: WebRuntime = conn.state.web
    return ApiClient(
        web.api,
        get_session(conn),
        web.refresh,
        client=browser(conn, web.settings.trusted_proxies),
        client_key=client_key(web.settings.secret_key.get_secret_value()),
        user_agent=conn.headers.get("user-agent"),
    )
