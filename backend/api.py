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
    InvalidJson,
    InvariantBroken,
    UnsupportedMediaType,
    ValidationFailed,
)
from backend.runtime import Runtime

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
        return self.request.client.host if self.request.client else "unknown"

    def user(self) -> Principal:
        from backend.errors import NotAuthenticated

        if self.principal is None:
            raise NotAuthenticated()
        return self.principal


class Access(Protocol):
    """Who may call an endpoint. `authorize` sets `call.principal` or raises 401/403."""

    @property
    def description(self) -> str: ...

    async def authorize(self, call: Call) -> None: ...


@dataclass(frozen=True)
class _Public:
    description: str = "public"

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
    response: Any = None
    status: int = 200
    tags: tuple[str, ...] = ()
    # Error statuses worth documenting beyond the ones every endpoint can answer.
    errors: tuple[int, ...] = field(default=())

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
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidJson() from exc


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
