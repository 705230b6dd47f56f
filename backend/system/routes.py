"""Liveness, readiness, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

import hmac
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response

from backend.api import PUBLIC, Call, Endpoint
from backend.errors import NotAuthenticated, NotFound
from backend.settings import Environment
from backend.system.service import readiness
from contract.system import Health, Readiness


async def healthz(call: Call) -> Health:
    return Health(status="ok")


async def readyz(call: Call) -> Response:
    checks = await readiness(call.runtime)
    ok = all(value == "ok" for value in checks.values())
    body = Readiness(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


async def metrics(call: Call) -> Response:
    """Prometheus text: behind METRICS_TOKEN when one is set; without one, dev and test
    only (production answers 404 rather than show its internals to anyone)."""
    settings = call.runtime.settings
    if settings.metrics_token is None:
        if settings.environment is Environment.production:
            raise NotFound()
    else:
        scheme, _, presented = call.request.headers.get("authorization", "").partition(" ")
        expected = settings.metrics_token.get_secret_value()
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), expected.encode()
        ):
            raise NotAuthenticated(headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def openapi(call: Call) -> Response:
    spec: dict[str, Any] = call.request.app.state.openapi
    return JSONResponse(spec)


def package_version() -> str:
    try:
        return version("qpeapay")
    except PackageNotFoundError:
        return "0.0.0"


ENDPOINTS = [
    Endpoint("GET", "/healthz", healthz, PUBLIC, "Process is up", response=Health,
             tags=("system",)),
    Endpoint("GET", "/readyz", readyz, PUBLIC, "Dependencies are reachable",
             response=Readiness, other_responses=((503, Readiness),), tags=("system",)),
    Endpoint("GET", "/metrics", metrics, PUBLIC, "Prometheus metrics (METRICS_TOKEN bearer)",
             response={"type": "string"}, media_type="text/plain", errors=(401, 404),
             tags=("system",)),
    Endpoint("GET", "/v1/openapi.json", openapi, PUBLIC, "This API's OpenAPI document",
             response={"type": "object"}, tags=("system",),
             operation_id="get_openapi_document"),
]  # fmt: skip  # one endpoint per entry, its fields grouped by hand
