"""Pure decisions of diagnostics and playbooks: which collectors and playbooks fit an
incident, how a step is rendered from the incident's facts with every value quoted for
where it goes, and how secrets are masked in what a step printed.

Rendering never turns a value into syntax. An argv element is rendered alone, so a label
holding ``; rm -rf /`` stays one argument; a ``shell: true`` command line gets every
``{{ }}`` value through :func:`shlex.quote`; a URL gets it percent-encoded; PromQL gets
it escaped for a double-quoted string; SQL never sees values in its text (they are
bound ``params``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tocsin.policy.diagnostics import Collector, DiagnosticStep
from tocsin.policy.matchers import matches, parse_matcher
from tocsin.policy.playbooks import Playbook, PlaybookAction

__all__ = [
    "BUILTIN_SECRET_PATTERNS",
    "Redactor",
    "RenderError",
    "RenderedStep",
    "RunFacts",
    "collectors_for",
    "playbook_matches_alerts",
    "playbooks_for",
    "render_step",
    "template_context",
    "unrenderable",
]

#: Secrets masked in every stored output, before anything configured: ``key=value``
#: pairs named like secrets, bearer tokens, credentials in URLs, AWS access keys and
#: private key blocks.
BUILTIN_SECRET_PATTERNS: tuple[str, ...] = (
    r"(?i)\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)\s*[=:]\s*"
    r"(?P<secret>[^\s,;&\"']+)",
    r"(?i)\"(?:password|passwd|secret|token|api[_-]?key)\"\s*:\s*\"(?P<secret>[^\"]+)\"",
    r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9._~+/=-]+)",
    r"://[^/\s:@]+:(?P<secret>[^/\s@]+)@",
    r"\bAKIA[0-9A-Z]{16}\b",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
)
REDACTED = "[REDACTED]"


def _mask(match: re.Match[str]) -> str:
    """The match with its ``secret`` group masked (the whole match if it has none)."""
    if "secret" not in match.re.groupindex or match.group("secret") is None:
        return REDACTED
    whole, start = match.group(0), match.start()
    return whole[: match.start("secret") - start] + REDACTED + whole[match.end("secret") - start :]


class Redactor:
    """Masks every match of the built-in patterns and the policy's own (a pattern with
    a group named ``secret`` masks only that group)."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self._patterns = [re.compile(p) for p in (*BUILTIN_SECRET_PATTERNS, *extra)]

    def __call__(self, text: str) -> str:
        for pattern in self._patterns:
            text = pattern.sub(_mask, text)
        return text


@dataclass(frozen=True)
class RunFacts:
    """What a step may know about its incident, as plain values."""

    ref: str
    title: str
    severity: str
    status: str
    services: tuple[str, ...]
    commander: str | None = None
    alerts: tuple[tuple[Mapping[str, str], Mapping[str, str]], ...] = ()  # labels, annotations


def template_context(facts: RunFacts) -> dict[str, Any]:
    """The variables of a step: ``incident`` (ref, title, severity, status), ``service``
    (the first), ``services``, ``labels`` and ``annotations`` (of the incident's first
    alert) and ``alerts`` (every alert's labels and annotations)."""
    labels, annotations = facts.alerts[0] if facts.alerts else ({}, {})
    return {
        "incident": {
            "ref": facts.ref,
            "id": facts.ref,
            "title": facts.title,
            "severity": facts.severity,
            "status": facts.status,
        },
        "service": facts.services[0] if facts.services else "",
        "services": list(facts.services),
        "labels": dict(labels),
        "annotations": dict(annotations),
        "alerts": [{"labels": dict(lb), "annotations": dict(an)} for lb, an in facts.alerts],
    }


class RenderError(ValueError):
    """A placeholder the incident cannot fill (an unknown label), or a template error."""


def _promql_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _environment(quote_value: Callable[[str], str]) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        finalize=lambda value: quote_value("" if value is None else str(value)),
    )


_ENVIRONMENTS = {
    "plain": _environment(lambda v: v),
    "shell": _environment(shlex.quote),
    "url": _environment(lambda v: quote(v, safe="")),
    "promql": _environment(_promql_string),
}
_PLAIN, _SHELL, _URL, _PROMQL = "plain", "shell", "url", "promql"


@lru_cache(maxsize=1024)
def _compiled(quoting: str, source: str) -> Template:
    return _ENVIRONMENTS[quoting].from_string(source)


def _render(quoting: str, source: str, context: Mapping[str, Any]) -> str:
    try:
        return _compiled(quoting, source).render(context)
    except TemplateError as exc:
        raise RenderError(f"cannot fill {source!r}: {exc.message or exc}") from None


def _render_json(value: object, context: Mapping[str, Any]) -> object:
    if isinstance(value, str):
        return _render(_PLAIN, value, context)
    if isinstance(value, Mapping):
        return {str(k): _render_json(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_render_json(v, context) for v in value]
    return value


@dataclass(frozen=True)
class RenderedStep:
    """A step with its placeholders filled: what runs, and what is shown."""

    name: str
    kind: str
    display: str
    argv: tuple[str, ...] = ()
    shell: bool = False
    url: str = ""
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    json_body: object = None
    query: str = ""
    params: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    condition: str | None = None
    condition_source: str | None = None
    timeout: float = 30.0
    env: tuple[str, ...] = ()
    cwd: str | None = None
    verify_tls: bool = True
    range_seconds: float | None = None
    step_seconds: float = 60.0
    max_rows: int = 100
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Everything needed to run it later exactly as shown (stored with the run)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RenderedStep:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("argv", "env"):
            values[name] = tuple(values.get(name) or ())
        return cls(**values)


def unrenderable(step: DiagnosticStep, error: str) -> RenderedStep:
    """A step whose placeholders could not be filled: it fails with ``error`` when run."""
    return RenderedStep(name=step.name, kind=step.kind, display="", error=error)


def render_step(step: DiagnosticStep, context: Mapping[str, Any]) -> RenderedStep:
    """Fill ``step``'s placeholders from ``context``; raises :class:`RenderError`."""
    condition = condition_source = None
    if isinstance(step, PlaybookAction) and step.condition is not None:
        condition = _render(_PROMQL, step.condition.query, context)
        condition_source = step.condition.prometheus
    base: dict[str, Any] = {
        "name": step.name,
        "kind": step.kind,
        "condition": condition,
        "condition_source": condition_source,
        "timeout": step.timeout.total_seconds(),
        "env": step.env,
        "cwd": step.cwd,
    }
    if isinstance(step.command, str):
        line = _render(_SHELL, step.command, context)
        return RenderedStep(**base, display=line, argv=("/bin/sh", "-c", line), shell=True)
    if step.command is not None:
        argv = tuple(_render(_PLAIN, part, context) for part in step.command)
        return RenderedStep(**base, display=shlex.join(argv), argv=argv)
    if step.http is not None:
        url = _render(_URL, step.http.url, context)
        headers = {k: _render(_PLAIN, v, context) for k, v in step.http.headers.items()}
        body = _render_json(step.http.json_body, context) if step.http.json_body else None
        return RenderedStep(
            **base,
            display=f"{step.http.method} {url}",
            url=url,
            method=step.http.method,
            headers=headers,
            json_body=body,
            verify_tls=step.http.verify_tls,
        )
    if step.promql is not None:
        query = _render(_PROMQL, step.promql.query, context)
        window = step.promql.range
        return RenderedStep(
            **base,
            display=query + (f"  [range {step.promql.range_text}]" if window else ""),
            query=query,
            source=step.promql.prometheus,
            range_seconds=window.total_seconds() if window else None,
            step_seconds=step.promql.step.total_seconds(),
        )
    assert step.sql is not None
    params = {k: _render(_PLAIN, v, context) for k, v in step.sql.params.items()}
    shown = step.sql.query + (f"  -- params {params}" if params else "")
    return RenderedStep(
        **base,
        display=shown,
        query=step.sql.query,
        params=params,
        source=step.sql.database,
        max_rows=step.sql.max_rows,
    )


def _fits(services: Sequence[str], wanted: Sequence[str]) -> bool:
    return not wanted or any(s in wanted for s in services)


def collectors_for(
    collectors: Mapping[str, Collector],
    *,
    services: Sequence[str],
    severity: str,
    severity_names: Callable[[str], set[str]],
) -> list[str]:
    """The collectors that run by themselves when this incident opens."""
    names = severity_names(severity)
    return [
        name
        for name, collector in collectors.items()
        if collector.on_open
        and _fits(services, collector.services)
        and (not collector.severities or any(s.casefold() in names for s in collector.severities))
    ]


def playbook_matches_alerts(playbook: Playbook, alerts: Iterable[Mapping[str, str]]) -> bool:
    """A matcher trigger holds when one alert satisfies all its matchers."""
    matchers = [parse_matcher(text) for text in playbook.trigger.match]
    return bool(matchers) and any(matches(matchers, labels) for labels in alerts)


def playbooks_for(playbooks: Mapping[str, Playbook], *, services: Sequence[str]) -> list[str]:
    """The playbooks whose services fit the incident (their triggers are judged next)."""
    return [name for name, pb in playbooks.items() if _fits(services, pb.services)]
