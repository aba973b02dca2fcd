"""The exceptions that use cases raise; the web layer maps each to one HTTP status.

- `NotFound` → 404, `Conflict` → 409, `InvalidInput` → 422 (names the field).
"""

from __future__ import annotations

__all__ = ["Conflict", "InvalidInput", "NotFound", "TocsinError"]


class TocsinError(Exception):
    """Base of every error a client's request can cause."""


class NotFound(TocsinError):
    pass


class Conflict(TocsinError):
    pass


class InvalidInput(TocsinError):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")
