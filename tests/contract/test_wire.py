"""Bounded JSON intake: the byte scanner measures exactly the nesting the parser would see,
refuses a document nested past the limit before parsing it, and every other malformed body
is a ValueError; text with NUL, control characters or lone surrogates is found wherever it
hides in a document."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract import wire

scalars = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    return 0


@given(documents, st.booleans())
def test_the_scanner_measures_the_nesting_the_parser_builds(document: Any, ascii_only: bool
                                                            ) -> None:  # fmt: skip
    # Strings full of brackets, quotes and backslashes must not count.
    raw = json.dumps(document, ensure_ascii=ascii_only).encode()
    assert wire.nesting_depth(raw) == depth_of(document)


@given(st.binary(max_size=200))
def test_the_scanner_never_fails_on_arbitrary_bytes(raw: bytes) -> None:
    assert wire.nesting_depth(raw) >= 0


@given(st.integers(min_value=0, max_value=80), st.text(alphabet='[]{}"\\ab', max_size=10))
def test_loads_refuses_exactly_past_the_limit(depth: int, inside: str) -> None:
    raw = ("[" * depth + json.dumps(inside) + "]" * depth).encode()
    if depth > wire.MAX_DEPTH:
        with pytest.raises(wire.JsonTooDeep):
            wire.loads(raw)
    else:
        assert depth_of(wire.loads(raw)) == depth


def test_a_hundred_thousand_levels_are_refused_quickly_without_recursing() -> None:
    for opener, closer in ((b"[", b"]"), (b'{"a":', b"}")):
        raw = opener * 100_000 + b"1" + closer * 100_000
        started = time.perf_counter()
        with pytest.raises(wire.JsonTooDeep, match="at most 32 levels"):
            wire.loads(raw)
        assert time.perf_counter() - started < 1.0


def test_a_flat_megabyte_scans_in_linear_time() -> None:
    raw = json.dumps({"items": ["[{x}]" * 10 for _ in range(20_000)]}).encode()
    started = time.perf_counter()
    assert wire.nesting_depth(raw) == 2
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xff\xfe{}",
        "[1]".encode("utf-16"),
        b"\xef\xbb\xbf{}",
        b"NaN",
        b'{"a": Infinity}',
        b'{"a": ' + b"9" * 5000 + b"}",
        b'{"a": "unterminated',
        b"[" * 10 + b"]" * 9,
    ],
    ids=["empty", "bad-utf8", "utf16", "bom", "nan", "infinity", "5000-digits", "open-string",
         "unbalanced"],
)  # fmt: skip
def test_anything_but_strict_utf8_json_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        wire.loads(raw)


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"name": "a\x00b"}, ("name",)),
        ({"note": "\x07"}, ("note",)),
        ({"a": [{"b": "ok"}, {"c": "\ud800"}]}, ("a", 1, "c")),
        ({"x\x00": "fine"}, ("x\x00",)),
        ({"a": "tab\tnewline\ncarriage\r is fine", "b": 1, "c": None}, None),
        ({"emoji": "\U0001f600 ü"}, None),
    ],
)
def test_unsafe_text_is_found_wherever_it_hides(document: Any, where: tuple[Any, ...] | None
                                                ) -> None:  # fmt: skip
    assert wire.find_unsafe_text(document) == where


def test_a_single_line_takes_no_control_character_at_all() -> None:
    assert wire.unsafe_character("a\nb") is None
    assert wire.unsafe_character("a\nb", single_line=True) == "\n"
    assert wire.unsafe_character("usr_abc") is None
