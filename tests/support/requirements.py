"""Skip (locally) or fail (in CI) when a test's external requirement is missing."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    """True when running under CI (the CI environment variable is "true" or "1")."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def require(condition: bool, what: str, how_to_get: str) -> None:
    """Make the current test skip (or fail in CI) unless ``condition`` holds.

    ``what`` names the missing thing ("PostgreSQL server binaries"), ``how_to_get``
    tells a developer how to get it ("apt-get install postgresql").
    """
    if condition:
        return
    if in_ci():
        pytest.fail(f"{what} is missing in CI: {how_to_get}")
    pytest.skip(f"{what} not available: {how_to_get}")
