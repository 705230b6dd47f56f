"""Health, readiness, metrics, OpenAPI, request ids and the error body on bad input."""

from __future__ import annotations

import httpx

from backend.system.service import beat


async def test_healthz_answers_and_carries_a_request_id(api: httpx.AsyncClient) -> None:
    response = await api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"].startswith("req_")


async def test_readyz_names_the_missing_worker_then_passes_after_a_heartbeat(
    api: httpx.AsyncClient, redis
) -> None:
    response = await api.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"].startswith("down")
    assert response.json()["checks"]["postgres"] == "ok"
    await beat(redis)
    response = await api.get("/readyz")
    assert response.status_code == 200, response.json()


async def test_unknown_route_gets_the_error_body(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_metrics_and_openapi(api: httpx.AsyncClient) -> None:
    await api.get("/healthz")
    metrics = await api.get("/metrics")
    assert "qpeapay_http_requests_total" in metrics.text
    spec = (await api.get("/v1/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert "/healthz" in spec["paths"]
    assert "ErrorBody" in spec["components"]["schemas"]
