"""Message templates: a sandboxed Jinja2 environment, the variables a template sees, and
errors that name the template and its line.

This module sits at the bottom of the layers (beside ``clock`` and ``config``): the
policy loader compiles and test-renders every template when it loads the file, the
engine renders them for real incidents and the web layer previews them. All three use
the same context shape, built by :func:`build_context` from plain :class:`IncidentFacts`,
so a template that passes the policy check sees exactly the variables it was checked
with.

Templates run in Jinja2's immutable sandbox (a policy author cannot reach Python
internals or mutate the data) with ``StrictUndefined`` (a misspelt variable is an error
rather than an empty string). Text parts are not escaped; HTML parts are autoescaped.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from types import CodeType, TracebackType
from typing import Any

import jinja2
from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tocsin.timetext import duration_text

__all__ = [
    "IncidentFacts",
    "PersonFacts",
    "RenderedMessage",
    "ServiceFacts",
    "TemplateError",
    "TemplateParts",
    "UpdateFacts",
    "build_context",
    "check_template",
    "human_duration",
    "incident_channel_name",
    "message_extras",
    "render_parts",
    "sample_context",
]


class TemplateError(Exception):
    """A template could not be compiled or rendered.

    ``template`` is its name in the policy, ``part`` which of subject/text/html failed,
    ``line`` the 1-based line inside that part (None when Jinja2 does not say).
    """

    def __init__(self, template: str, part: str, line: int | None, message: str) -> None:
        self.template = template
        self.part = part
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f", line {self.line}" if self.line is not None else ""
        return f"template {self.template!r} ({self.part}{where}): {self.message}"


@dataclass(frozen=True)
class TemplateParts:
    """The sources of one message template."""

    name: str
    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True)
class RenderedMessage:
    template: str
    subject: str
    text: str
    html: str | None


@dataclass(frozen=True)
class PersonFacts:
    name: str
    display_name: str
    email: str | None = None
    chat: str | None = None


@dataclass(frozen=True)
class ServiceFacts:
    name: str
    description: str = ""
    customer_facing: bool = False
    component: str | None = None
    team: str | None = None


@dataclass(frozen=True)
class UpdateFacts:
    at: datetime
    status: str
    message: str
    public: bool
    actor: str


@dataclass(frozen=True)
class IncidentFacts:
    """What a template may know about an incident, as plain values."""

    id: str
    number: int
    title: str
    description: str
    status: str
    severity: str
    severity_description: str
    created_at: datetime
    started_at: datetime | None = None
    detected_at: datetime | None = None
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    tags: tuple[str, ...] = ()
    services: tuple[ServiceFacts, ...] = ()
    roles: Mapping[str, tuple[PersonFacts, ...]] = field(default_factory=dict)
    update_every: timedelta | None = None
    updates: tuple[UpdateFacts, ...] = ()


# ---------------------------------------------------------------- formatting


def human_duration(delta: timedelta) -> str:
    """``2h 5m``, ``45m``, ``30s`` (:func:`tocsin.timetext.duration_text`); negative
    durations count as zero."""
    return duration_text(delta)


def _time(value: Any, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    """Jinja2 filter ``time``: an instant in UTC; ``—`` for none."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime(fmt)
    return str(value)


def _duration(value: Any) -> str:
    """Jinja2 filter ``duration``: a timedelta or a number of seconds, humanised."""
    if isinstance(value, timedelta):
        return human_duration(value)
    if isinstance(value, int | float):
        return human_duration(timedelta(seconds=value))
    return str(value)


_SLUG_RE = re.compile(r"[^a-z0-9]+")


def incident_channel_name(started: datetime, title: str, max_length: int = 80) -> str:
    """``incident-YYYY-MM-DD-<slug>``, fit for Slack's 80-character limit."""
    slug = _SLUG_RE.sub("-", title.lower()).strip("-") or "incident"
    name = f"incident-{started.astimezone(UTC):%Y-%m-%d}-{slug}"
    return name[:max_length].rstrip("-")


# ---------------------------------------------------------------- environments

_ENVIRONMENTS: dict[bool, ImmutableSandboxedEnvironment] = {}
_CACHE: dict[tuple[bool, str, str], jinja2.Template] = {}
_LOCK = threading.Lock()
_CACHE_LIMIT = 512


def _environment(html: bool) -> ImmutableSandboxedEnvironment:
    env = _ENVIRONMENTS.get(html)
    if env is None:
        env = ImmutableSandboxedEnvironment(
            undefined=StrictUndefined,
            autoescape=html,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        env.filters["time"] = _time
        env.filters["duration"] = _duration
        _ENVIRONMENTS[html] = env
    return env


def _compile(template: str, part: str, source: str) -> jinja2.Template:
    html = part == "html"
    filename = f"<{template}.{part}>"
    key = (html, filename, source)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        env = _environment(html)
        try:
            code: CodeType = env.compile(source, name=f"{template}.{part}", filename=filename)
        except TemplateSyntaxError as exc:
            raise TemplateError(template, part, exc.lineno, exc.message or "syntax error") from None
        compiled = env.template_class.from_code(env, code, env.make_globals(None), None)
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[key] = compiled
        return compiled


def _template_line(tb: TracebackType | None, filename: str) -> int | None:
    """The template line of the innermost frame that ran template code.

    Jinja2 rewrites the traceback of a failed render so that frames of template code
    carry the template's file name and line numbers.
    """
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _render_one(template: str, part: str, source: str, context: Mapping[str, Any]) -> str:
    compiled = _compile(template, part, source)
    try:
        return compiled.render(context)
    except TemplateSyntaxError as exc:
        raise TemplateError(template, part, exc.lineno, exc.message or "syntax error") from None
    except Exception as exc:  # undefined names, sandbox refusals, errors in expressions
        line = _template_line(exc.__traceback__, f"<{template}.{part}>")
        message = str(exc) or type(exc).__name__
        if isinstance(exc, jinja2.UndefinedError):
            message = f"{message} (StrictUndefined: every variable must exist)"
        raise TemplateError(template, part, line, message) from None


def check_template(parts: TemplateParts) -> None:
    """Compile every part; raises :class:`TemplateError` on the first syntax error."""
    for part, source in (("subject", parts.subject), ("text", parts.text), ("html", parts.html)):
        if source is not None:
            _compile(parts.name, part, source)


def render_parts(parts: TemplateParts, context: Mapping[str, Any]) -> RenderedMessage:
    """Render subject (one line), text and, if given, html; raises :class:`TemplateError`."""
    subject = _render_one(parts.name, "subject", parts.subject, context)
    subject = " ".join(subject.split())
    text = _render_one(parts.name, "text", parts.text, context).strip("\n")
    html = None
    if parts.html is not None:
        html = _render_one(parts.name, "html", parts.html, context)
    return RenderedMessage(template=parts.name, subject=subject, text=text, html=html)


# ---------------------------------------------------------------- the context


def _person(p: PersonFacts) -> dict[str, Any]:
    return asdict(p)


def build_context(
    facts: IncidentFacts,
    *,
    now: datetime,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The variables every template sees (documented in the example policy)::

        incident        id, number, title, description, status, severity,
                        severity_description, started_at, detected_at, acknowledged_at,
                        mitigated_at, resolved_at, created_at, tags, url-free facts
        incident_id     "INC-7"          title, status, severity: shortcuts
        duration        "1h 5m": from impact start to resolution (or now)
        started         impact start, formatted; now / current_time: now, formatted
        services        list of {name, description, customer_facing, component, team}
        service_names   "checkout-api, payments-db"   customer_services: customer-facing ones
        roles           {role: "Alice Anders, Bob Baker"}; role_people: {role: [person]}
        commander       the commander's name, or "unassigned"
        update_every    "15m"; next_update_at (datetime) and next_update ("09:15 UTC")
        latest_update   the last status update's text ("" if none); updates: all of them
        channel_name    "incident-2026-03-02-api-down"
        now_at          now as a datetime (for the `time` filter)

    Filters: ``time`` (``{{ incident.started_at | time }}``, optional strftime format)
    and ``duration``. ``extra`` adds message-specific variables (``person``, ``reason``).
    """
    started = facts.started_at or facts.detected_at or facts.created_at
    end = facts.resolved_at or now
    roles = {
        role: ", ".join(p.display_name for p in people)
        for role, people in facts.roles.items()
        if people
    }
    commander = roles.get("commander", "unassigned")
    # The cadence runs from the declaration or the last update (an impact start in the
    # past does not make the first update overdue), and a due time never lies before now.
    last_at = max(facts.updates[-1].at, facts.created_at) if facts.updates else facts.created_at
    next_update_at = None
    if facts.update_every is not None and facts.resolved_at is None:
        next_update_at = max(last_at + facts.update_every, now)
    incident = asdict(facts)
    incident["services"] = [asdict(s) for s in facts.services]
    incident["roles"] = roles
    incident["updates"] = [asdict(u) for u in facts.updates]
    incident["tags"] = list(facts.tags)
    customer = [s.name for s in facts.services if s.customer_facing]
    context: dict[str, Any] = {
        "incident": incident,
        "incident_id": facts.id,
        "title": facts.title,
        "status": facts.status,
        "severity": facts.severity,
        "duration": human_duration(end - started),
        "duration_seconds": max(0, int((end - started).total_seconds())),
        "started": _time(started),
        "now": _time(now),
        "current_time": _time(now),
        "now_at": now,
        "services": [asdict(s) for s in facts.services],
        "service_names": ", ".join(s.name for s in facts.services) or "no service named",
        "customer_services": ", ".join(customer),
        "roles": roles,
        "role_people": {r: [_person(p) for p in ps] for r, ps in facts.roles.items()},
        "commander": commander,
        "update_every": human_duration(facts.update_every) if facts.update_every else "",
        "next_update_at": next_update_at,
        "next_update": _time(next_update_at, "%H:%M UTC") if next_update_at else "—",
        "latest_update": facts.updates[-1].message if facts.updates else "",
        "updates": [asdict(u) for u in facts.updates],
        "channel_name": incident_channel_name(started, facts.title),
    }
    if extra:
        context.update(extra)
    return context


def message_extras(
    *,
    person: PersonFacts | None = None,
    reason: str = "",
    kind: str = "",
    subject: str = "",
    body: str = "",
    event: str = "",
    event_summary: str = "",
) -> dict[str, Any]:
    """The message-specific variables, always all of them (so that a template checked
    against the sample context never meets an undefined one)::

        person          the recipient {name, display_name, email, chat}; for a broadcast
                        or a preview: {name: "", display_name: "everyone", ...}
        reason          why this message ("tier 1 of default (incident triggered)")
        kind            page, stakeholder, reminder, broadcast, preview...
        subject, body   the text the message was queued with
        event           the timeline event a broadcast announces (declared, resolved...)
        event_summary   that event's one-line summary
    """
    who = person or PersonFacts(name="", display_name="everyone")
    return {
        "person": _person(who),
        "reason": reason,
        "kind": kind,
        "subject": subject,
        "body": body,
        "event": event,
        "event_summary": event_summary,
    }


def sample_context(now: datetime | None = None) -> dict[str, Any]:
    """A made-up incident, for checking templates when the policy is loaded."""
    at = now or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    alice = PersonFacts("alice", "Alice Anders", "alice@example.com", "@alice")
    facts = IncidentFacts(
        id="INC-1",
        number=1,
        title="Checkout API returning errors",
        description="Error rate above 10 % on checkout.",
        status="investigating",
        severity="SEV1",
        severity_description="Complete service outage affecting all users",
        created_at=at,
        started_at=at - timedelta(minutes=5),
        detected_at=at,
        acknowledged_at=at + timedelta(minutes=2),
        tags=("api",),
        services=(ServiceFacts("checkout-api", "Checkout", True, "Checkout", "payments"),),
        roles={"commander": (alice,)},
        update_every=timedelta(minutes=15),
        updates=(UpdateFacts(at, "investigating", "Looking into it", False, "alice"),),
    )
    extra = message_extras(
        person=alice,
        reason="tier 1 of default (incident triggered)",
        kind="page",
        subject="[SEV1] INC-1: Checkout API returning errors",
        body="INC-1 SEV1 triggered",
        event="declared",
        event_summary="Declared SEV1: Checkout API returning errors",
    )
    return build_context(facts, now=at + timedelta(minutes=20), extra=extra)
