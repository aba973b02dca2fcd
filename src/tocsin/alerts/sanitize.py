"""Make received text storable on every backend, so that an accepted alert is stored.

The parsers accept any JSON string, but PostgreSQL refuses NUL characters (in text
and in JSONB) and neither database driver can encode a lone UTF-16 surrogate, which
JSON's ``\\ud800`` escapes produce. JSON also allows nothing that Python's parser
reads as ``NaN`` or ``Infinity``, and very deep nesting defeats serialisers. These
helpers replace what cannot be stored (U+FFFD for NUL, ``?`` for a lone surrogate,
text for non-finite numbers and for nesting deeper than :data:`MAX_DEPTH`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DEPTH", "clean_json", "clean_map", "clean_text"]

MAX_DEPTH = 64


def clean_text(text: str) -> str:
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def clean_map(mapping: Mapping[str, str]) -> dict[str, str]:
    """A label or annotation map; values are strings (the parsers see to that)."""
    # The common case (plain ASCII) is checked in C, in one go.
    joined = "".join(mapping) + "".join(mapping.values())
    if joined.isascii() and "\x00" not in joined:
        return dict(mapping)
    return {clean_text(str(k)): clean_text(str(v)) for k, v in mapping.items()}


def clean_json(value: Any, depth: int = 0) -> Any:
    """Any parsed JSON value, made storable (see the module's notes)."""
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= MAX_DEPTH:
        return "(nested too deeply to store)"
    if isinstance(value, Mapping):
        return {clean_text(str(k)): clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v, depth + 1) for v in value]
    try:
        return clean_text(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return clean_text(repr(value))
