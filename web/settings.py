"""The web app's configuration, from the environment and `.env`; production refuses dev
defaults. Web reads its own settings so it never imports `backend`."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contract.forwarding import proxies_setting

DEV_SECRET = "dev-insecure-change-me"  # noqa: S105 - the value production refuses to run with
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Environment(StrEnum):
    dev = "dev"
    test = "test"
    production = "production"


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    environment: Environment = Environment.dev
    # Where web reaches the API (may be a private address); every page talks to it.
    api_url: str = "http://127.0.0.1:8000"
    # Where browsers and integrators reach the API and the web app.
    public_api_url: str = "http://127.0.0.1:8000"
    public_web_url: str = "http://127.0.0.1:8001"
    # Keys the session cookie (HKDF-derived, so the API's use of it never shares a key).
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    # The browser cookie's lifetime. Its own name: the API's SESSION_MAX_AGE_S is how long a
    # signed-in session may live at all, a different thing that shares one .env.
    session_max_age_s: int = Field(
        default=14 * 24 * 3600, ge=60, validation_alias="WEB_SESSION_MAX_AGE_S"
    )
    api_timeout_s: int = Field(default=10, ge=1)
    # Proxies in front of this app (CIDRs, comma-separated) whose X-Forwarded-For names the
    # browser; empty: the peer is the browser. The API hears the address in a signed header.
    trusted_proxies: Annotated[list[str], NoDecode] = []

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies_are_networks(cls, value: object) -> object:
        return proxies_setting(value)

    @model_validator(mode="after")
    def _production_is_configured(self) -> Self:
        if self.environment is not Environment.production:
            return self
        problems: list[str] = []
        secret = self.secret_key.get_secret_value()
        if secret == DEV_SECRET or len(secret) < 32:
            problems.append("SECRET_KEY (at least 32 random characters)")
        for name, url in (
            ("PUBLIC_WEB_URL", self.public_web_url),
            ("PUBLIC_API_URL", self.public_api_url),
        ):
            parts = urlsplit(url)
            if parts.scheme != "https" or parts.hostname in _LOCAL_HOSTS:
                problems.append(f"{name} (a public https URL)")
        if problems:
            raise ValueError("production needs real values for: " + ", ".join(problems))
        return self

    @property
    def secure_cookies(self) -> bool:
        """Browsers only send Secure cookies over https, which dev and tests do not use."""
        return self.environment is Environment.production


@lru_cache(maxsize=1)
def get_settings() -> WebSettings:
    return WebSettings()
