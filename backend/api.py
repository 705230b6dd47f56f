"""Routes declared as data: each Endpoint names its method, path, who may call it, and the
contract models it takes and returns. The wrapper parses and validates the body, opens
the unit of work, authorizes, applies Idempotency-Key, and renders the result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import String, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend import queue
from backend.db import Base, Timestamped, unit_of_work
from backend.errors import (
    BodyTooLarge,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    InvalidCharacters,
    InvalidJson,
    InvariantBroken,
    JsonTooDeep,
    UnsupportedMediaType,
    ValidationFailed,
)
from backend.middleware import DEVICE_SCOPE_KEY
from backend.runtime import Runtime
from contract import wire

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in user (scopes None = everything their role allows) or a
    merchant API key (scopes = what the key was granted)."""

    user_id: str
    role: str
    scopes: frozenset[str] | None = None
    session_id: str | None = None
    api_key_id: str | None = None
    # Whether the signed-in user has TOTP on (admin tools need it); never for API keys.
    two_factor: bool = False


@dataclass
class Call:
    request: Request
    session: AsyncSession
    runtime: Runtime
    principal: Principal | None = None
    query: Any = None

    @property
    def path(self) -> dict[str, Any]:
        return self.request.path_params

    @property
    def client_ip(self) -> str:
        """The caller's address as backend.middleware.ClientAddress decided it."""
        return self.request.client.host if self.request.client else "unknown"

    @property
    def device_id(self) -> str | None:
        """The browser the web app vouched for (its device cookie), when it did."""
        device = self.request.scope.get(DEVICE_SCOPE_KEY)
        return device if isinstance(device, str) else None

    def user(self) -> Principal:
        from backend.errors import NotAuthenticated

        if self.principal is None:
            raise NotAuthenticated()
        return self.principal


# The OpenAPI security schemes an Access rule names: both travel as `Authorization: Bearer`;
# a requirement lists the roles, or the API key scope, it needs.
ACCESS_TOKEN, API_KEY = "accessToken", "apiKey"


class Access(Protocol):
    """Who may call an endpoint. `authorize` sets `call.principal` or raises 401/403.

    `statuses` are the error statuses `authorize` itself can answer, and `security` the
    OpenAPI security requirements it accepts (none for a public rule); the OpenAPI
    document is built from both.
    """

    @property
    def description(self) -> str: ...

    @property
    def statuses(self) -> frozenset[int]: ...

    @property
    def security(self) -> list[dict[str, list[str]]]: ...

    async def authorize(self, call: Call) -> None: ...


@dataclass(frozen=True)
class _Public:
    description: str = "public"
    statuses: frozenset[int] = frozenset()

    @property
    def security(self) -> list[dict[str, list[str]]]:
        return []

    async def authorize(self, call: Call) -> None:
        return None


PUBLIC: Access = _Public()

Handler = Callable[..., Awaitable[BaseModel | Response | None]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    access: Access
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    # A contract model, or (for a handler that renders its own Response) a JSON schema.
    response: Any = None
    status: int = 200
    tags: tuple[str, ...] = ()
    # Error statuses the handler (or the services it calls) can answer, rendered with the
    # error body. Those the wrapper and the access rule answer are derived, not listed.
    errors: tuple[int, ...] = field(default=())
    # Other statuses answered with a body of their own: (status, model).
    other_responses: tuple[tuple[int, Any], ...] = ()
    # The media type of the success response when the handler returns a Response itself.
    media_type: str = "application/json"
    # The OpenAPI operationId, unique in the API; the handler's name unless given.
    operation_id: str | None = None

    def route(self) -> Route:
        return Route(self.path, _wrap(self), methods=[self.method], name=self.summary)


class IdempotencyRecord(Timestamped, Base):
    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(512))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None]
    response: Mapped[Any | None] = mapped_column(JSONB)


async def read_json(request: Request, max_bytes: int) -> Any:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType()
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge()
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        data = wire.loads(raw)
    except wire.JsonTooDeep as exc:
        raise JsonTooDeep(f"The body nests deeper than {exc.limit} levels.") from exc
    except ValueError as exc:
        raise InvalidJson() from exc
    unsafe = wire.find_unsafe_text(data)
    if unsafe is not None:
        # A key that is itself unsafe is not echoed back.
        named = all(wire.unsafe_character(str(part), single_line=True) is None for part in unsafe)
        param = ".".join(str(part) for part in unsafe) if unsafe and named else None
        raise InvalidCharacters(_unsafe_message(param), param=param)
    return data


def _unsafe_message(param: str | None) -> str:
    allowed = "may not contain NUL, other control characters or lone surrogates"
    return f"{param}: text {allowed}." if param else f"Text {allowed}."


def check_text_params(request: Request) -> None:
    """Path and query values are single lines of text: refuse control characters in them
    (PostgreSQL cannot even store NUL) before any of them reaches a query."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and wire.unsafe_character(value, single_line=True):
            raise InvalidCharacters(_unsafe_message(name), param=name)
    for name, value in request.query_params.multi_items():
        if wire.unsafe_character(name, single_line=True):
            raise InvalidCharacters(_unsafe_message(None))
        if wire.unsafe_character(value, single_line=True):
            raise InvalidCharacters(_unsafe_message(name), param=name)


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "Unknown field."
        raise ValidationFailed(f"{param}: {message}" if param else message, param=param) from exc


def _render(result: BaseModel | Response | None, status: int) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status_code=204 if status == 200 else status)
    return JSONResponse(result.model_dump(mode="json"), status_code=status)


async def _idempotent_replay(call: Call, key: str, body_hash: str) -> Response | None:
    """Claim `key` for this caller, or replay what the first request with it answered.

    The insert waits on a concurrent holder of the same key until it commits or rolls
    back, so two racing requests never both run the handler.
    """
    if not 0 < len(key) <= 255 or not key.isprintable():
        raise IdempotencyKeyInvalid(param="Idempotency-Key")
    scope = call.principal.user_id if call.principal else f"ip:{call.client_ip}"
    path = call.request.url.path
    claimed = await call.session.scalar(
        insert(IdempotencyRecord)
        .values(
            scope=scope,
            key=key,
            method=call.request.method,
            path=path,
            request_hash=body_hash,
        )
        .on_conflict_do_nothing(index_elements=["scope", "key"])
        .returning(IdempotencyRecord.key)
    )
    if claimed is not None:
        return None
    record = await call.session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
        )
    )
    if record is None:
        raise InvariantBroken("A conflicting idempotency record is not visible.")
    if record.request_hash != body_hash or record.path != path:
        raise IdempotencyKeyReused(param="Idempotency-Key")
    if record.status is None:
        raise IdempotencyKeyReused("A request with this Idempotency-Key is still running.")
    replay = JSONResponse(record.response, status_code=record.status)
    replay.headers["Idempotent-Replayed"] = "true"
    return replay


async def _remember(call: Call, key: str, response: Response) -> None:
    scope = call.principal.user_id if call.principal else f"ip:{call.client_ip}"
    body = json.loads(bytes(response.body)) if response.body else None
    record = await call.session.get(IdempotencyRecord, (scope, key))
    if record is not None:
        record.status = response.status_code
        record.response = body


def _wrap(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        runtime: Runtime = request.state.runtime
        async with unit_of_work(runtime.sessionmaker) as session:
            queue.bind(session, runtime.queue)
            call = Call(request=request, session=session, runtime=runtime)
            # Who is calling comes first: an anonymous caller learns nothing from our
            # validation messages, and a refused caller costs us no body parsing.
            await endpoint.access.authorize(call)
            request.state.principal = call.principal
            check_text_params(request)
            if endpoint.query is not None:
                call.query = validate(endpoint.query, dict(request.query_params))
            raw_body = b""
            args: tuple[Any, ...] = ()
            if endpoint.body is not None:
                data = await read_json(request, runtime.settings.max_body_bytes)
                raw_body = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
                args = (validate(endpoint.body, data),)
            key = request.headers.get("idempotency-key")
            if key is not None and request.method == "POST":
                replay = await _idempotent_replay(call, key, hashlib.sha256(raw_body).hexdigest())
                if replay is not None:
                    return replay
                response = _render(await endpoint.handler(call, *args), endpoint.status)
                await _remember(call, key, response)
                return response
            # A streaming response runs after this transaction has closed; its generator
            # opens sessions of its own.
            return _render(await endpoint.handler(call, *args), endpoint.status)

    handle.__name__ = endpoint.handler.__name__
    return handle


def routes(endpoints: Sequence[Endpoint]) -> list[Route]:
    return [endpoint.route() for endpoint in endpoints]
