"""Label matchers, as Alertmanager writes them: ``severity=~"critical|high"``.

They live in the policy package, not in ``alerts``, because the policy file validates
them (routes) and the policy sits below the alert domain in the layer order; the
alert rules re-export them.

Semantics follow Alertmanager so that routes and silences copied from an
``alertmanager.yml`` behave the same:

- ``=`` / ``!=`` compare the whole value; ``=~`` / ``!~`` match a regular expression
  against the *whole* value (anchored: ``"crit"`` does not match ``critical``).
- A label that is absent counts as the empty string, so ``team=""`` matches alerts
  without a ``team`` label and ``team!=""`` requires one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["MatchOp", "Matcher", "MatcherError", "matches", "parse_matcher"]

#: Prometheus label names, plus ``.``, ``-`` and ``:`` which other sources' labels use.
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]*")
#: Longest operators first, so ``=~`` is not read as ``=`` followed by ``~...``.
_OPS = ("=~", "!~", "!=", "=")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t"}


class MatcherError(ValueError):
    """A matcher that cannot be parsed, or whose regular expression is invalid."""


class MatchOp(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True)
class Matcher:
    """One ``name op value`` condition on an alert's labels."""

    name: str
    op: MatchOp
    value: str
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "op", MatchOp(self.op))
        except ValueError:
            raise MatcherError(f"invalid operator {self.op!r}; use =, !=, =~ or !~") from None
        if not _NAME_RE.fullmatch(self.name):
            raise MatcherError(f"invalid label name {self.name!r} in matcher {str(self)!r}")
        if self.op in (MatchOp.RE, MatchOp.NRE):
            try:
                pattern = re.compile(self.value)
            except re.error as exc:
                raise MatcherError(
                    f"invalid regular expression in matcher {str(self)!r}: {exc}"
                ) from None
            object.__setattr__(self, "_regex", pattern)

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self._regex is not None:
            return (self._regex.fullmatch(value) is not None) == (self.op is MatchOp.RE)
        return (value == self.value) == (self.op is MatchOp.EQ)

    def __str__(self) -> str:
        quoted = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{quoted}"'


def parse_matcher(text: str) -> Matcher:
    """Parse ``name op value``; the value may be double-quoted or bare.

    In a quoted value ``\\"``, ``\\\\``, ``\\n`` and ``\\t`` are escapes and any other
    backslash is kept as written, so ``status=~"5\\d\\d"`` is the regex ``5\\d\\d``
    whether or not the backslashes were doubled.
    """
    if not isinstance(text, str):
        raise MatcherError(f"a matcher must be a string, not {type(text).__name__}")
    stripped = text.strip()
    name_match = _NAME_RE.match(stripped)
    if name_match is None:
        raise MatcherError(
            f"invalid matcher {text!r}: expected a label name first, e.g. 'service=\"checkout\"'"
        )
    name = name_match.group()
    rest = stripped[name_match.end() :].lstrip()
    op = next((o for o in _OPS if rest.startswith(o)), None)
    if op is None:
        raise MatcherError(
            f"invalid matcher {text!r}: expected one of =, !=, =~, !~ after {name!r}"
        )
    raw = rest[len(op) :].strip()
    value = _unquote(raw, text) if raw.startswith('"') else raw
    return Matcher(name, MatchOp(op), value)


def _unquote(raw: str, text: str) -> str:
    out: list[str] = []
    index = 1
    while index < len(raw):
        char = raw[index]
        if char == "\\" and index + 1 < len(raw):
            nxt = raw[index + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            index += 2
            continue
        if char == '"':
            if raw[index + 1 :].strip():
                raise MatcherError(
                    f"invalid matcher {text!r}: unexpected text after the closing quote"
                )
            return "".join(out)
        out.append(char)
        index += 1
    raise MatcherError(f"invalid matcher {text!r}: missing closing quote")


def matches(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches (no matchers match everything)."""
    return all(m.matches(labels) for m in matchers)
