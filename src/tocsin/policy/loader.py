"""Read ``tocsin.yaml`` and report every problem in it at once, with its line.

The YAML is read with ruamel.yaml's round-trip loader, which remembers where each
key and item was written. The document is turned into plain dicts and lists, with
a side table from location (``("services", 0, "team")``) to line and column; field
errors from pydantic and the cross-reference checks both report locations, which the
table turns into lines.
"""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from tocsin.policy.base import SKIP_REFERENCE_CHECKS, Loc, format_loc
from tocsin.policy.models import Policy
from tocsin.policy.references import reference_issues

__all__ = [
    "PolicyError",
    "PolicyIssue",
    "example_policy_text",
    "load_policy",
    "parse_policy",
]

_Positions = dict[Loc, tuple[int, int]]  # 0-based line and column, as ruamel keeps them


@dataclass(frozen=True)
class PolicyIssue:
    """One problem in a policy file. ``line`` and ``column`` are 1-based."""

    path: str
    line: int | None
    column: int | None
    message: str


class PolicyError(Exception):
    """The policy file cannot be used; ``issues`` lists every problem found."""

    def __init__(self, issues: list[PolicyIssue], source: str = "<string>") -> None:
        self.issues = issues
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        lines = []
        for issue in self.issues:
            where = self.source if issue.line is None else f"{self.source}:{issue.line}"
            path = f" {issue.path}:" if issue.path else ""
            lines.append(f"{where}:{path} {issue.message}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._render()


def example_policy_text() -> str:
    """The commented example policy shipped with the package."""
    return resources.files("tocsin.policy").joinpath("example.yaml").read_text(encoding="utf-8")


def load_policy(path: Path) -> Policy:
    """Read and validate the policy file at ``path``; raises :class:`PolicyError`."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError([PolicyIssue("", None, None, "policy file not found")], source) from None
    except (OSError, UnicodeDecodeError) as exc:
        message = f"cannot read policy file: {exc}"
        raise PolicyError([PolicyIssue("", None, None, message)], source) from None
    return parse_policy(text, source)


def parse_policy(text: str, source: str = "<string>") -> Policy:
    """Validate policy YAML ``text``; ``source`` names it in error messages."""
    try:
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        raise PolicyError([_syntax_issue(exc)], source) from None
    except YAMLError as exc:
        raise PolicyError([PolicyIssue("", None, None, f"invalid YAML: {exc}")], source) from None

    if document is None:
        raise PolicyError([PolicyIssue("", None, None, "the policy file is empty")], source)
    if not isinstance(document, CommentedMap):
        message = (
            "the top level must be a mapping of sections (version, severities, services, ...), "
            f"not {_kind(document)}"
        )
        raise PolicyError([PolicyIssue("", 1, 1, message)], source)

    positions: _Positions = {}
    data = _plain(document, (), positions)
    found: list[tuple[Loc, str]] = []
    policy: Policy | None = None
    try:
        policy = Policy.model_validate(data, context={SKIP_REFERENCE_CHECKS: True})
    except ValidationError as exc:
        found += _field_errors(exc)
    found += reference_issues(data)
    if found:
        issues = [_issue(loc, message, positions) for loc, message in found]
        issues.sort(key=lambda i: (i.line or 0, i.column or 0))
        raise PolicyError(issues, source)
    assert policy is not None
    return policy


# --- helpers ------------------------------------------------------------------------


def _syntax_issue(exc: MarkedYAMLError) -> PolicyIssue:
    mark = exc.problem_mark or exc.context_mark
    problem = " ".join(part for part in (exc.context, exc.problem) if part)
    message = f"invalid YAML: {problem or exc}"
    if mark is None:
        return PolicyIssue("", None, None, message)
    return PolicyIssue("", mark.line + 1, mark.column + 1, message)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return f"a {type(value).__name__}"


def _plain(node: Any, loc: Loc, positions: _Positions) -> Any:
    """Copy the ruamel tree into dicts and lists, recording where each entry starts.

    A mapping entry is placed at its key (so an error about a nested block points at
    the ``key:`` line); a sequence item at the item itself.
    """
    if not loc:
        positions[loc] = (node.lc.line, node.lc.col)
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            child = (*loc, key)
            # Keys brought in by a `<<:` merge have no position of their own.
            with contextlib.suppress(KeyError, TypeError):
                positions[child] = node.lc.key(key)
            out[key] = _plain(value, child, positions)
        return out
    if isinstance(node, CommentedSeq):
        items: list[Any] = []
        for index, value in enumerate(node):
            child = (*loc, index)
            with contextlib.suppress(KeyError, TypeError, IndexError):
                positions[child] = node.lc.item(index)
            items.append(_plain(value, child, positions))
        return items
    if isinstance(node, bool):  # ruamel's ScalarBoolean is an int subclass
        return bool(node)
    return node


def _issue(loc: Loc, message: str, positions: _Positions) -> PolicyIssue:
    """Place an issue at its node, or at the nearest enclosing one (a missing key is
    reported on the mapping that lacks it)."""
    probe = loc
    while probe not in positions and probe:
        probe = probe[:-1]
    line, column = positions.get(probe, (0, 0))
    return PolicyIssue(format_loc(loc), line + 1, column + 1, message)


_FRIENDLY = {
    "missing": "required key is missing",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "dict_type": "expected a mapping",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
}


def _field_errors(exc: ValidationError) -> list[tuple[Loc, str]]:
    errors = exc.errors()
    locs = [tuple(error["loc"]) for error in errors]
    found: list[tuple[Loc, str]] = []
    for error, loc in zip(errors, locs, strict=True):
        # A list whose items failed also fails its length check, counting only the
        # valid items; that second error is noise.
        if error["type"] == "too_short" and any(
            len(other) > len(loc) and other[: len(loc)] == loc for other in locs
        ):
            continue
        found.append((loc, _message(error)))
    return found


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    value = error["input"]
    if kind == "extra_forbidden":
        return _unknown_key(tuple(error["loc"]))
    if kind == "too_short":
        count = ctx.get("min_length", 1)
        return "must not be empty" if count == 1 else f"must have at least {count} items"
    if kind in {"greater_than_equal", "less_than_equal"}:
        bound = "at least" if kind == "greater_than_equal" else "at most"
        limit = ctx.get("ge", ctx.get("le"))
        return f"must be {bound} {limit}, not {value!r}"
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}, not {value!r}"
    if kind in _FRIENDLY:
        message = _FRIENDLY[kind]
        if kind.endswith("_type") and value is not None:
            message += f", not {_kind(value)}"
            if kind == "string_type" and _kind(value) == "a number":
                message += " (put it in quotes)"
        elif kind != "missing":
            message += f", not {value!r}"
        return message
    return error["msg"].removeprefix("Value error, ")


def _unknown_key(loc: Loc) -> str:
    key = str(loc[-1])
    fields = _fields_at(loc[:-1])
    close = difflib.get_close_matches(key, fields, n=1)
    if close:
        return f"unknown key {key!r}; did you mean {close[0]!r}?"
    if fields:
        return f"unknown key {key!r}; expected one of: {', '.join(fields)}"
    return f"unknown key {key!r}"


def _fields_at(loc: Loc) -> list[str]:
    """The keys allowed in the mapping at ``loc``, found by walking the models."""
    model: type[BaseModel] | None = Policy
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    if model is None:
        return []
    # Keys as written in YAML: a field such as ``from_`` is spelt by its alias.
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside an annotation such as ``tuple[Service, ...]`` or ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
