"""All configuration, from the environment and `.env`; production refuses dev defaults."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-insecure-change-me"  # noqa: S105 - the value production refuses to run with


class Environment(StrEnum):
    dev = "dev"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Environment = Environment.dev
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/qpeapay"
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_pool_size: int = Field(default=10, ge=1)

    # Public base URL of the API (callbacks, hosted checkout links) and of the web app.
    public_api_url: str = "http://127.0.0.1:8000"
    public_web_url: str = "http://127.0.0.1:8001"

    secret_key: SecretStr = SecretStr(DEV_SECRET)

    max_body_bytes: int = 1_000_000
    worker_heartbeat_max_age_s: int = 30
    log_level: str = "INFO"
    log_json: bool = True

    @model_validator(mode="after")
    def _production_is_configured(self) -> Self:
        if self.environment is not Environment.production:
            return self
        problems = [
            name
            for name, value in (("SECRET_KEY", self.secret_key),)
            if value.get_secret_value() in ("", DEV_SECRET)
        ]
        if "127.0.0.1" in self.public_api_url:
            problems.append("PUBLIC_API_URL")
        if problems:
            raise ValueError("production needs real values for: " + ", ".join(problems))
        return self

    @property
    def is_dev(self) -> bool:
        return self.environment is not Environment.production


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
