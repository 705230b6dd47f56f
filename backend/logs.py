"""structlog set-up: JSON lines with the request id and bound ids; secrets never logged."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(
    r"pass(word)?|secret|token|seed|mnemonic|private|otp|authorization|cookie|api_key",
    re.IGNORECASE,
)
_PHONE = re.compile(r"^\+?254\d{9}$")


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if key == "event":
            continue
        if _SECRET_KEYS.search(key):
            event[key] = "[redacted]"
        elif isinstance(value, str) and _PHONE.match(value):
            event[key] = value[:6] + "***" + value[-2:]
    return event


def configure(level: str = "INFO", json: bool = True) -> None:
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
        structlog.processors.format_exc_info,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
