"""Waiting for something a real process does, in real time, with a bound.

``wait_for(condition, timeout, what)`` polls until ``condition()`` is truthy and returns
what it returned; it fails the test, naming ``what``, once ``timeout`` seconds have
passed. The bound is the claim: "tier 2 is paged within 1 s of the restart" is
``wait_for(tier_two_paged, 1.0, "tier 2 paged")``, never a sleep followed by a check of
the elapsed time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["stays", "wait_for"]

T = TypeVar("T")

POLL_SECONDS = 0.05


def wait_for(
    condition: Callable[[], T], timeout: float, what: str, *, poll: float = POLL_SECONDS
) -> T:
    """Poll ``condition`` until it returns something truthy (returned); fail the test
    if that takes more than ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(poll)


def stays(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Fail the test if ``condition`` is ever falsy during the next ``seconds`` (for what
    must not happen: a second copy of a page, say)."""
    deadline = time.monotonic() + seconds
    while True:
        if not condition():
            raise AssertionError(f"{what}: no longer so after less than {seconds} s")
        if time.monotonic() >= deadline:
            return
        time.sleep(POLL_SECONDS)
