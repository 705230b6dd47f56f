"""Property tests whose code may refuse an input (too small, too large, no agreeing sources)
must still check enough inputs it accepts: a property that returns early on every refusal
would pass having checked nothing if a bug made everything refused.

    @accepting_at_least(30)        above @given: fails the run below 30 accepted examples
    @given(...)
    def test_x(...):
        try: priced = price(...)
        except Refused: return      # refusing is allowed for this input...
        accepted()                  # ...but this example reaches the assertions
        assert ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from hypothesis import event

F = TypeVar("F", bound=Callable[..., Any])

_accepted: ContextVar[list[int] | None] = ContextVar("accepted", default=None)


def accepted() -> None:
    """Count this example as one that got past every refusal to the assertions."""
    box = _accepted.get()
    if box is None:
        raise RuntimeError("accepted() outside a test decorated with @accepting_at_least")
    box[0] += 1
    event("accepted")


def refused(why: str) -> None:
    """Label a refused example in Hypothesis' statistics (`--hypothesis-show-statistics`)."""
    event(f"refused: {why}")


def accepting_at_least(minimum: int) -> Callable[[F], F]:
    """Fail a @given test whose run accepted fewer than `minimum` examples."""

    def decorate(test: F) -> F:
        @functools.wraps(test)
        def run(*args: Any, **kwargs: Any) -> Any:
            box = [0]
            token = _accepted.set(box)
            try:
                result = test(*args, **kwargs)
            finally:
                _accepted.reset(token)
            assert box[0] >= minimum, (
                f"{test.__name__}: only {box[0]} examples got past the refusals (at least "
                f"{minimum} must); the property checked almost nothing"
            )
            return result

        return run  # type: ignore[return-value]  # same signature: functools.wraps

    return decorate
