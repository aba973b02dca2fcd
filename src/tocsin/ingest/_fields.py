"""Small validators shared by the parsers. Each raises :class:`IngestError` naming
the field's path, so that a client learns exactly what to fix.

They check by hand rather than with pydantic models: the bodies are small, the hot
path must be cheap, and the error must name the path the way the client wrote it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tocsin.ingest.events import TITLE_MAX, IngestError

BODY = "body"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Go's zero time, which Alertmanager and Grafana send for "no end time".
_GO_ZERO = datetime(1, 1, 1, tzinfo=UTC)
_GO_ZERO_TEXT = "0001-01-01T00:00:00Z"
#: Parsed times by their text: a batch's alerts mostly share a few ``startsAt`` values.
_TIMES: dict[str, datetime] = {}
_TIMES_MAX = 4096


def join(base: str, key: str | int) -> str:
    """The path of ``key`` inside ``base``: ``alerts`` + 2 -> ``alerts[2]``;
    ``labels`` + ``team`` -> ``labels.team``; odd keys are quoted: ``labels["a b"]``."""
    if isinstance(key, int):
        return f"{base}[{key}]"
    if not _IDENT.fullmatch(key):
        return f"{base}[{json.dumps(key, ensure_ascii=False)}]"
    return f"{base}.{key}" if base and base != BODY else key


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def obj(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise IngestError(path, f"expected an object, not {kind(value)}")
    return value


def array(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise IngestError(path, f"expected an array, not {kind(value)}")
    return value


def opt_str(
    data: Mapping[str, Any], key: str, base: str, *, max_len: int | None = None
) -> str | None:
    """The string at ``key``; None when absent or null."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise IngestError(join(base, key), f"expected a string, not {kind(value)}")
    if max_len is not None and len(value) > max_len:
        raise IngestError(join(base, key), f"must be at most {max_len} characters")
    return value


def req_str(data: Mapping[str, Any], key: str, base: str, *, max_len: int | None = None) -> str:
    """A string that must be present and not blank."""
    value = opt_str(data, key, base, max_len=max_len)
    if value is None or not value.strip():
        raise IngestError(join(base, key), "is missing or blank")
    return value


def choice(data: Mapping[str, Any], key: str, base: str, allowed: tuple[str, ...]) -> str:
    value = data.get(key)
    if value is None or value == "":
        raise IngestError(join(base, key), f"is missing; use one of {', '.join(allowed)}")
    if not isinstance(value, str) or value not in allowed:
        raise IngestError(join(base, key), f"must be one of {', '.join(allowed)}, not {value!r}")
    return value


def opt_int(data: Mapping[str, Any], key: str, base: str) -> int | None:
    """A whole number >= 0; ``3.0`` is one too (JSON does not tell them apart)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise IngestError(join(base, key), f"expected a whole number >= 0, not {value!r}")
    return value


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return None


def json_text(value: Any, path: str) -> str:
    """Any JSON value as text: strings as they are, the rest as compact JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        raise IngestError(path, "cannot be stored: not plain JSON or nested too deeply") from None


def str_map(
    data: Mapping[str, Any],
    key: str,
    base: str,
    *,
    required: bool = False,
    coerce: bool = False,
    any_json: bool = False,
) -> dict[str, str]:
    """An object of string values. ``coerce`` also takes numbers and booleans (as
    their JSON text); ``any_json`` takes any value (nested ones as JSON text)."""
    value = data.get(key)
    if type(value) is dict and all(type(item) is str for item in value.values()):
        return dict(value)  # the common case, checked in one pass
    path = join(base, key)
    if value is None:
        if required:
            raise IngestError(path, "is missing; expected an object of strings")
        return {}
    mapping = obj(value, path)
    out: dict[str, str] = {}
    for name, item in mapping.items():
        if any_json:
            text: str | None = json_text(item, join(path, name))
        elif coerce:
            text = _scalar_text(item)
        else:
            text = item if isinstance(item, str) else None
        if text is None:
            wanted = "a string, number or boolean" if coerce else "a string"
            raise IngestError(join(path, name), f"expected {wanted}, not {kind(item)}")
        out[name] = text
    return out


def timestamp(data: Mapping[str, Any], key: str, base: str) -> datetime | None:
    """An ISO 8601 / RFC 3339 time as aware UTC; None when absent, null, empty or Go's
    zero time (``0001-01-01T00:00:00Z``). A time without an offset is taken as UTC.
    Fractions beyond microseconds (Go sends nanoseconds) are cut."""
    value = data.get(key)
    if value is None or value == "" or value == _GO_ZERO_TEXT:
        return None
    if type(value) is str:
        known = _TIMES.get(value)
        if known is not None:
            return known
    if not isinstance(value, str):
        raise IngestError(join(base, key), f"expected an RFC 3339 time string, not {kind(value)}")
    try:
        parsed = datetime.fromisoformat(value.upper())  # RFC 3339 allows 't' and 'z' too
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise IngestError(
            join(base, key),
            f"expected an RFC 3339 time such as 2026-01-31T12:00:00Z, not {value!r}",
        ) from None
    if parsed == _GO_ZERO:
        return None
    if len(_TIMES) >= _TIMES_MAX:
        _TIMES.clear()
    _TIMES[value] = parsed
    return parsed


def title_from(*candidates: str) -> str:
    """The first non-blank candidate's first line, cut to :data:`TITLE_MAX`."""
    for text in candidates:
        line = text.strip()
        if not line.isprintable():  # it has line breaks (or other controls): first line
            line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        if line:
            return line if len(line) <= TITLE_MAX else line[: TITLE_MAX - 1] + "…"
    return ""
