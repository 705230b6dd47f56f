"""What every process accepts off the wire before a model sees it: JSON nested at most
MAX_DEPTH deep, and text free of NUL, other control characters and lone surrogates.

Invariants: `loads` measures the nesting on the raw bytes before the parser runs, so a body
built to exhaust the parser's recursion is refused in time linear in its size; every other
way a body can fail to be JSON is a ValueError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

# Far deeper than any request or reply we exchange (ours nest three or four levels), far
# shallower than any recursion limit.
MAX_DEPTH = 32

# Outside strings only brackets matter; a string is skipped whole, escapes included (an
# unterminated one runs to the end, which the parser then refuses).
_TOKENS = re.compile(rb'[\[\]{}]|"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")

# C0 controls other than tab, line feed and carriage return, DEL, and UTF-16 surrogates
# (a JSON "\ud800" escape decodes to one, and no UTF-8 encoder will take it).
_UNSAFE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# A single-line value (a query parameter, a path segment, a header-like field) takes none.
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


class JsonTooDeep(ValueError):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"JSON may nest at most {limit} levels deep")


def nesting_depth(raw: bytes, limit: int | None = None) -> int:
    """How deep arrays and objects nest in `raw` (0 for a scalar). Stops early, raising
    JsonTooDeep, as soon as the depth passes `limit`."""
    depth = deepest = 0
    for token in _TOKENS.finditer(raw):
        first = raw[token.start()]
        if first in _OPENERS:
            depth += 1
            if depth > deepest:
                deepest = depth
                if limit is not None and depth > limit:
                    raise JsonTooDeep(limit)
        elif first in _CLOSERS:
            depth = max(depth - 1, 0)
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(
    raw: bytes | str,
    *,
    max_depth: int = MAX_DEPTH,
    parse_float: Callable[[str], Any] | None = None,
) -> Any:
    """Parse a JSON document from the wire. Raises JsonTooDeep for one nested deeper than
    `max_depth`, and ValueError for anything else that is not strict JSON (anything but
    UTF-8, NaN/Infinity, an integer longer than the interpreter will convert).

    Only UTF-8 is scanned and parsed: in it no byte of a multi-byte character can look like
    a bracket, a quote or a backslash, so the byte scan sees what the parser will see."""
    if isinstance(raw, str):
        text, data = raw, raw.encode("utf-8", "surrogatepass")
    else:
        text, data = raw.decode("utf-8"), raw
    nesting_depth(data, max_depth)
    return json.loads(text, parse_float=parse_float, parse_constant=_refuse_constant)


def unsafe_character(value: str, *, single_line: bool = False) -> str | None:
    """The first character of `value` no text we store may hold, or None."""
    found = (_UNSAFE_LINE if single_line else _UNSAFE_TEXT).search(value)
    return None if found is None else found.group()


def find_unsafe_text(data: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Where in parsed JSON a key or string holds an unsafe character, or None. `data` comes
    from `loads`, so the recursion is bounded by MAX_DEPTH."""
    if isinstance(data, str):
        return path if unsafe_character(data) is not None else None
    if isinstance(data, dict):
        for key, value in data.items():
            if unsafe_character(key, single_line=True) is not None:
                return (*path, key)
            found = find_unsafe_text(value, (*path, key))
            if found is not None:
                return found
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found = find_unsafe_text(item, (*path, index))
            if found is not None:
                return found
    return None
