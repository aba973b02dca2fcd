"""What the alert domain needs from an inbound event.

:class:`tocsin.ingest.AlertEvent` has all of it; these are protocols so that this
domain does not import the ingest layer, which sits above it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

__all__ = ["Action", "InboundAlert", "InboundLink"]

Action = Literal["trigger", "acknowledge", "resolve"]


class InboundLink(Protocol):
    @property
    def href(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def kind(self) -> str: ...


class InboundAlert(Protocol):
    """One received alert, normalised (see :class:`tocsin.ingest.AlertEvent`)."""

    @property
    def source(self) -> str: ...

    @property
    def dedup_key(self) -> str: ...

    @property
    def action(self) -> Action: ...

    @property
    def title(self) -> str: ...

    @property
    def summary(self) -> str: ...

    @property
    def severity_hint(self) -> str | None: ...

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def annotations(self) -> Mapping[str, str]: ...

    @property
    def starts_at(self) -> datetime | None: ...

    @property
    def ends_at(self) -> datetime | None: ...

    @property
    def source_url(self) -> str | None: ...

    @property
    def links(self) -> Sequence[InboundLink]: ...

    @property
    def raw(self) -> Any: ...
