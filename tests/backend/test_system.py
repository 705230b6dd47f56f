"""Health, readiness, metrics, OpenAPI, request ids and the error body on bad input."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from backend.runtime import Runtime
from backend.settings import Environment, Settings
from backend.system.service import beat
from tests.identity import Account


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


async def test_metrics_need_the_token_when_one_is_set(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    runtime.settings.metrics_token = SecretStr("m" * 40)
    try:
        assert (await api.get("/metrics")).status_code == 401
        wrong = await api.get("/metrics", headers={"Authorization": "Bearer " + "x" * 40})
        assert wrong.status_code == 401 and "qpeapay_http" not in wrong.text
        right = await api.get("/metrics", headers={"Authorization": "Bearer " + "m" * 40})
        assert right.status_code == 200 and "qpeapay_http_requests_total" in right.text
    finally:
        runtime.settings.metrics_token = None


async def test_production_without_a_metrics_token_shows_no_metrics(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    runtime.settings.environment = Environment.production
    try:
        assert (await api.get("/metrics")).status_code == 404
    finally:
        runtime.settings.environment = Environment.test


async def test_the_dev_outbox_needs_the_flag_and_a_dev_environment(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    assert (await api.get("/v1/dev/outbox", headers=customer.headers)).status_code == 200
    runtime.settings.dev_outbox_enabled = False
    try:
        assert (await api.get("/v1/dev/outbox", headers=customer.headers)).status_code == 404
        assert not Settings().dev_outbox  # off unless switched on
    finally:
        runtime.settings.dev_outbox_enabled = True
    with pytest.raises(ValueError, match="DEV_OUTBOX_ENABLED"):
        Settings(environment=Environment.production, dev_outbox_enabled=True)
    assert Settings(metrics_token="").metrics_token is None  # an empty line in .env
    with pytest.raises(ValueError, match="METRICS_TOKEN"):
        Settings(environment=Environment.production, metrics_token=SecretStr("short"))
