"""Web settings: production refuses the dev secret and local or plain-http public URLs."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from web.settings import DEV_SECRET, Environment, WebSettings

STRONG = SecretStr("k" * 48)


def production(**overrides: object) -> WebSettings:
    values: dict[str, object] = {
        "environment": Environment.production,
        "secret_key": STRONG,
        "api_url": "http://10.0.0.5:8000",
        "public_api_url": "https://api.qpeapay.example",
        "public_web_url": "https://qpeapay.example",
    }
    values.update(overrides)
    return WebSettings.model_validate(values)


def test_production_with_real_values_starts_with_secure_cookies() -> None:
    settings = production()
    assert settings.secure_cookies
    assert not WebSettings(environment=Environment.dev).secure_cookies
    assert not WebSettings(environment=Environment.test).secure_cookies


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"secret_key": SecretStr(DEV_SECRET)}, "SECRET_KEY"),
        ({"secret_key": SecretStr("short")}, "SECRET_KEY"),
        ({"public_web_url": "http://127.0.0.1:8001"}, "PUBLIC_WEB_URL"),
        ({"public_web_url": "http://qpeapay.example"}, "PUBLIC_WEB_URL"),
        ({"public_api_url": "https://localhost"}, "PUBLIC_API_URL"),
    ],
)
def test_production_refuses_dev_defaults(override: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        production(**override)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_URL", "http://api.internal:8000")
    monkeypatch.setenv("WEB_SESSION_MAX_AGE_S", "3600")
    monkeypatch.setenv("SESSION_MAX_AGE_S", "7200")  # the API's, not the cookie's
    settings = WebSettings()
    assert settings.api_url == "http://api.internal:8000"
    assert settings.session_max_age_s == 3600
