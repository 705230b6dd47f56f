"""The guard on property tests that may refuse inputs: a run that accepted too few examples
fails, whatever its assertions said."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties import accepted, accepting_at_least, refused


def test_a_property_that_refuses_everything_fails() -> None:
    @accepting_at_least(1)
    @given(st.integers())
    def refuses_all(value: int) -> None:
        refused("always")

    with pytest.raises(AssertionError, match="only 0 examples got past the refusals"):
        refuses_all()


def test_a_property_that_accepts_enough_passes() -> None:
    seen: list[int] = []

    @accepting_at_least(10)
    @given(st.integers(min_value=0, max_value=1_000))
    def accepts_evens(value: int) -> None:
        if value % 2:
            refused("odd")
            return
        accepted()
        seen.append(value)

    accepts_evens()
    assert len(seen) >= 10


def test_accepted_outside_a_guarded_property_is_a_mistake() -> None:
    with pytest.raises(RuntimeError, match="accepting_at_least"):
        accepted()
