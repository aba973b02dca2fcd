"""What every section of the policy file builds on: the base model, the field types
several sections share, and the helpers of the cross-reference checks.

Every model forbids unknown keys, so a typo in the YAML is an error instead of a
silently ignored setting, and every model is frozen: one policy object is shared by all
threads and is replaced as a whole, never edited in place.

The cross-reference checks run on the plain document (dicts and lists), not on
validated models, so that the loader can report them in the same pass as field errors:
a file with a bad duration *and* an unknown team shows both. Entries of the wrong shape
are skipped; the field validation reports those.

This module imports nothing else of :mod:`tocsin.policy`; every other module may import it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

__all__ = [
    "SKIP_REFERENCE_CHECKS",
    "SLUG_PATTERN",
    "Email",
    "Loc",
    "Phone",
    "PolicyModel",
    "SeverityName",
    "SlackMemberId",
    "Slug",
    "Timezone",
    "entries",
    "format_loc",
    "index_by_name",
    "mappings",
    "strings",
    "unknown_name",
]

#: A location inside the policy document, as pydantic reports it: ``("services", 0, "team")``.
Loc = tuple[str | int, ...]

#: Validation-context key; the loader sets it because it runs the reference checks
#: itself, on the raw document, so it can report them together with field errors.
SKIP_REFERENCE_CHECKS = "tocsin_skip_reference_checks"


class PolicyModel(BaseModel):
    """Base of every policy model: unknown keys are errors, instances are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- field types -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Pattern:
    """``Annotated`` marker: the string must match ``pattern``. Gives a readable error
    (pydantic's own shows only the regex) and keeps the pattern in the JSON Schema."""

    pattern: str
    what: str
    rule: str  # completes "<value> is not a valid <what>: use ..."
    example: str

    def _check(self, value: str) -> str:
        if not re.match(self.pattern, value):
            raise PydanticCustomError(
                "policy_pattern",
                "{value} is not a valid {what}: use {rule}, e.g. {example}",
                {
                    "value": repr(value),
                    "what": self.what,
                    "rule": self.rule,
                    "example": repr(self.example),
                },
            )
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        description = f"A {self.what}: {self.rule}, e.g. {self.example!r}."
        return {"type": "string", "pattern": self.pattern, "description": description}


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone",
            "unknown time zone {value}; use an IANA name such as 'America/Los_Angeles' or 'UTC'",
            {"value": repr(value)},
        ) from None
    return value


SLUG_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
Slug = Annotated[
    str,
    _Pattern(SLUG_PATTERN, "name", "lower-case letters, digits, '.', '_' and '-'", "checkout-api"),
]
SeverityName = Annotated[
    str,
    _Pattern(
        r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        "severity name",
        "letters, digits, '.', '_' and '-' (matched ignoring case)",
        "SEV1",
    ),
]
Email = Annotated[
    str,
    _Pattern(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "email address", "name@domain", "alice@example.com"),
]
Phone = Annotated[
    str,
    _Pattern(
        r"^\+[1-9][0-9]{1,14}$",
        "phone number",
        "E.164, a '+' and up to 15 digits, quoted in YAML",
        "+15555550101",
    ),
]
SlackMemberId = Annotated[
    str,
    _Pattern(
        r"^[UW][A-Z0-9]{2,20}$",
        "Slack member id",
        "'U' or 'W' and upper-case letters and digits (Profile → Copy member ID)",
        "U012ABCDEF",
    ),
]
Timezone = Annotated[
    str,
    AfterValidator(_check_timezone),
    WithJsonSchema({"type": "string", "description": "IANA time zone, e.g. 'Europe/Berlin'."}),
]


# --- helpers of the cross-reference checks ---------------------------------------------


def format_loc(loc: Loc) -> str:
    """``("services", 0, "team")`` -> ``"services[0].team"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def mappings(value: Any) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """The entries of a list that are mappings, with their index; nothing if ``value``
    is not a list."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        for index, item in enumerate(value):
            if isinstance(item, Mapping):
                yield index, item


def entries(data: Mapping[str, Any], section: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """The mapping entries of the list ``data[section]``, with their index."""
    return mappings(data.get(section))


def strings(value: Any) -> Iterator[tuple[int, str]]:
    """The entries of a list that are strings, with their index."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield index, item


def unknown_name(kind: str, name: str, known: Iterable[str]) -> str:
    """``"unknown team 'paymnts'; did you mean 'payments'?"``"""
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}{hint}"


def index_by_name(
    data: Mapping[str, Any], section: str, key: str, kind: str, issues: list[tuple[Loc, str]]
) -> dict[str, int]:
    """Index a section by name (the first entry of each name), reporting duplicates."""
    seen: dict[str, int] = {}
    for index, entry in entries(data, section):
        name = entry.get(key)
        if not isinstance(name, str):
            continue
        if name in seen:
            first = format_loc((section, seen[name]))
            issues.append(((section, index, key), f"duplicate {kind} {name!r} (see {first})"))
        else:
            seen[name] = index
    return seen
