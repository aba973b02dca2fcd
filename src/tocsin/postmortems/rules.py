"""Pure post-mortem decisions over plain data: no database, no clock (`now` is an argument).

- the facts of an incident (`IncidentFacts`) and the response figures drawn from them;
- which timeline events are worth a line in the post-mortem;
- the post-mortem lifecycle (draft → in_review → published) and its due dates;
- the action-item lifecycle and the action items the rules suggest.

Document text lives in `document`, the blameless-language check in `blameless`,
recurring patterns in `patterns` and similarity ranking in `similarity`; all pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from tocsin.timetext import duration_text

__all__ = [
    "CUSTOMER_IMPACT_TAGS",
    "DEADLINES",
    "DETECTION_THRESHOLD",
    "KEY_EVENT_KINDS",
    "ActionStatus",
    "Event",
    "HintFact",
    "IllegalMove",
    "IncidentFacts",
    "PostmortemStatus",
    "ResponseMetrics",
    "Stage",
    "Suggestion",
    "action_item_overdue",
    "allowed_action_moves",
    "allowed_moves",
    "check_action_move",
    "check_move",
    "customer_impact",
    "deadlines",
    "format_postmortem_id",
    "format_span",
    "key_events",
    "overdue_stages",
    "parse_postmortem_id",
    "response_metrics",
    "stage_met",
    "suggest_action_items",
]

# ---------------------------------------------------------------- incident facts


@dataclass(frozen=True)
class Event:
    """One timeline event, as plain data."""

    at: datetime
    kind: str
    actor: str
    summary: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HintFact:
    """A root-cause hint of the incident, as the post-mortem cites it."""

    status: str  # open, confirmed, rejected
    kind: str
    explanation: str
    confidence: float
    links: tuple[str, ...] = ()


@dataclass(frozen=True)
class IncidentFacts:
    """Everything the post-mortem says about its incident, loaded once by the service."""

    ref: str
    title: str
    severity: str
    detected_at: datetime
    description: str = ""
    status: str = "resolved"
    services: tuple[str, ...] = ()
    customer_facing: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    started_at: datetime | None = None
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    events: tuple[Event, ...] = ()
    respond_within: timedelta | None = None
    resolve_target: timedelta | None = None
    customer_impact: bool = False
    #: Confirmed first, then open by rank, then ruled out.
    hints: tuple[HintFact, ...] = ()
    #: The upstream incidents it was downstream of (INC-n).
    downstream_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResponseMetrics:
    """Durations are measured from detection, except detection itself (from impact start)
    and the impact duration (impact start to resolution)."""

    time_to_detect: timedelta | None
    time_to_acknowledge: timedelta | None
    time_to_mitigate: timedelta | None
    time_to_resolve: timedelta | None
    impact_duration: timedelta | None
    escalations: int
    pages: int
    status_updates: int
    public_updates: int
    sla_breaches: int
    updates_overdue: int
    detected_by_monitoring: bool

    def seconds(self) -> dict[str, float | None]:
        """The durations in seconds, for the API."""

        def s(value: timedelta | None) -> float | None:
            return None if value is None else value.total_seconds()

        return {
            "time_to_detect": s(self.time_to_detect),
            "time_to_acknowledge": s(self.time_to_acknowledge),
            "time_to_mitigate": s(self.time_to_mitigate),
            "time_to_resolve": s(self.time_to_resolve),
            "impact_duration": s(self.impact_duration),
        }


def _between(start: datetime | None, end: datetime | None) -> timedelta | None:
    if start is None or end is None:
        return None
    return max(end - start, timedelta(0))


def _escalations(events: Sequence[Event]) -> int:
    """Manual escalations plus automatic climbs past the first tier.

    A manual escalation records `escalated` and then `paged` at the same instant; that
    pair counts once. A timer's climb records only `paged`, with a step beyond 0.
    """
    manual = [e for e in events if e.kind == "escalated"]
    manual_times = {e.at for e in manual}
    automatic = [
        e
        for e in events
        if e.kind == "paged" and int(e.data.get("step") or 0) > 0 and e.at not in manual_times
    ]
    return len(manual) + len(automatic)


def response_metrics(facts: IncidentFacts) -> ResponseMetrics:
    events = facts.events
    updates = [e for e in events if e.kind == "update_posted"]
    return ResponseMetrics(
        time_to_detect=_between(facts.started_at, facts.detected_at),
        time_to_acknowledge=_between(facts.detected_at, facts.acknowledged_at),
        time_to_mitigate=_between(facts.detected_at, facts.mitigated_at),
        time_to_resolve=_between(facts.detected_at, facts.resolved_at),
        impact_duration=_between(facts.started_at or facts.detected_at, facts.resolved_at),
        escalations=_escalations(events),
        pages=sum(1 for e in events if e.kind == "paged"),
        status_updates=len(updates),
        public_updates=sum(1 for e in updates if e.data.get("public")),
        sla_breaches=sum(1 for e in events if e.kind == "sla_breached"),
        updates_overdue=sum(1 for e in events if e.kind == "update_overdue"),
        detected_by_monitoring=any(e.kind == "alert_opened" for e in events),
    )


#: Timeline events that belong in a post-mortem's timeline table. Left out: edits of the
#: title or description, cleared roles, attachments of further alerts to an open
#: incident, heartbeats received, and the post-mortem's own events.
KEY_EVENT_KINDS = frozenset(
    {
        "declared",
        "alert_opened",
        "alert_reopened",
        "cascade_detected",
        "cascade_linked",
        "follows",
        "heartbeat_missed",
        "paged",
        "tier_unreachable",
        "escalation_missing",
        "escalation_exhausted",
        "escalated",
        "reassigned",
        "acknowledged",
        "role_assigned",
        "status_changed",
        "severity_changed",
        "services_changed",
        "update_posted",
        "update_overdue",
        "sla_breached",
        "stakeholders_notified",
        "resolved",
        "reopened",
        "closed",
        "diagnostics_finished",
        "playbook_proposed",
        "playbook_approved",
        "playbook_declined",
        "playbook_step",
        "playbook_finished",
        "run_interrupted",
    }
)


def key_events(events: Iterable[Event]) -> list[Event]:
    return sorted((e for e in events if e.kind in KEY_EVENT_KINDS), key=lambda e: e.at)


#: Incident tags that flag customer impact (a policy tagging rule can add them).
CUSTOMER_IMPACT_TAGS = frozenset({"customer-impact", "customer_impact"})


def customer_impact(*, tags: Iterable[str], public_updates: int) -> bool:
    """An incident had customer impact when it is tagged so, or customers were told
    about it on the status page (a public update)."""
    return public_updates > 0 or any(t.casefold() in CUSTOMER_IMPACT_TAGS for t in tags)


# ---------------------------------------------------------------- identifiers


def format_postmortem_id(number: int) -> str:
    return f"PM-{number}"


def parse_postmortem_id(value: str) -> int | None:
    """'PM-3', 'pm-3' and '3' all name post-mortem number 3."""
    text = value.strip()
    if text[:3].casefold() == "pm-":
        text = text[3:]
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    number = int(text)
    return number if 0 < number <= 2**31 - 1 else None


# ---------------------------------------------------------------- post-mortem lifecycle


class PostmortemStatus(StrEnum):
    draft = "draft"
    in_review = "in_review"
    published = "published"


_MOVES: dict[PostmortemStatus, tuple[PostmortemStatus, ...]] = {
    PostmortemStatus.draft: (PostmortemStatus.in_review,),
    PostmortemStatus.in_review: (PostmortemStatus.published,),
    PostmortemStatus.published: (),
}


class IllegalMove(Exception):
    """A status change the lifecycle does not allow; the message names what is allowed."""


def allowed_moves(current: PostmortemStatus) -> tuple[PostmortemStatus, ...]:
    return _MOVES[current]


def check_move(
    current: PostmortemStatus, target: PostmortemStatus, *, root_cause_written: bool
) -> None:
    if target not in _MOVES[current]:
        allowed = ", ".join(_MOVES[current]) or "none (published is final)"
        raise IllegalMove(
            f"cannot move from {current} to {target}; allowed from {current}: {allowed}"
        )
    if target is PostmortemStatus.published and not root_cause_written:
        raise IllegalMove("cannot publish before the root_cause section is written")


class Stage(StrEnum):
    """The deadlines: draft within 24 h, review within 48 h, publish within 72 h."""

    draft = "draft"
    review = "review"
    publish = "publish"


DEADLINES: Mapping[Stage, timedelta] = {
    Stage.draft: timedelta(hours=24),
    Stage.review: timedelta(hours=48),
    Stage.publish: timedelta(hours=72),
}


def deadlines(base: datetime) -> dict[Stage, datetime]:
    """Due times counted from `base` (the resolution of a required post-mortem's incident)."""
    return {stage: base + after for stage, after in DEADLINES.items()}


def stage_met(stage: Stage, *, status: PostmortemStatus, root_cause_written: bool) -> bool:
    """Draft: someone wrote the root cause (the generated skeleton is not a draft yet).
    Review: it went to review. Publish: it was published."""
    if stage is Stage.draft:
        return root_cause_written or status is not PostmortemStatus.draft
    if stage is Stage.review:
        return status is not PostmortemStatus.draft
    return status is PostmortemStatus.published


def overdue_stages(
    due: Mapping[Stage, datetime | None],
    *,
    status: PostmortemStatus,
    root_cause_written: bool,
    now: datetime,
) -> list[Stage]:
    """The stages whose due time has passed without the stage being met."""
    return [
        stage
        for stage in Stage
        if (at := due.get(stage)) is not None
        and at <= now
        and not stage_met(stage, status=status, root_cause_written=root_cause_written)
    ]


# ---------------------------------------------------------------- action items


class ActionStatus(StrEnum):
    suggested = "suggested"
    open = "open"
    in_progress = "in_progress"
    done = "done"
    dropped = "dropped"


A = ActionStatus
_ACTION_MOVES: dict[ActionStatus, tuple[ActionStatus, ...]] = {
    A.suggested: (A.open, A.dropped),
    A.open: (A.in_progress, A.done, A.dropped),
    A.in_progress: (A.open, A.done, A.dropped),
    A.done: (A.open,),
    A.dropped: (A.open,),
}

#: Statuses in which an item is someone's work to do (and can be overdue).
OPEN_ACTION_STATUSES = (A.open, A.in_progress)


def allowed_action_moves(current: ActionStatus) -> tuple[ActionStatus, ...]:
    return _ACTION_MOVES[current]


def check_action_move(current: ActionStatus, target: ActionStatus) -> None:
    if target is not current and target not in _ACTION_MOVES[current]:
        allowed = ", ".join(_ACTION_MOVES[current])
        raise IllegalMove(
            f"cannot move an action item from {current} to {target}; "
            f"allowed from {current}: {allowed}"
        )


def action_item_overdue(status: ActionStatus, due_date: date | None, today: date) -> bool:
    return status in OPEN_ACTION_STATUSES and due_date is not None and due_date < today


@dataclass(frozen=True)
class Suggestion:
    """An action item the rules propose; `rule` identifies it so it is proposed once."""

    rule: str
    title: str
    priority: str
    due_in: timedelta
    reason: str


#: Detection that took longer than this suggests a monitoring gap.
DETECTION_THRESHOLD = timedelta(minutes=5)

_DEPLOY_WORDS = ("deploy", "release", "rollout", "roll out", "rolled out", "upgrade")


def _mentions_deployment(text: str) -> bool:
    folded = text.casefold()
    return any(word in folded for word in _DEPLOY_WORDS)


def format_span(delta: timedelta) -> str:
    """``47m``, ``1h 5m``, ``1m 30s``, ``0s`` (:func:`tocsin.timetext.duration_text`)."""
    return duration_text(delta)


def suggest_action_items(
    facts: IncidentFacts, metrics: ResponseMetrics, *, root_cause: str = ""
) -> list[Suggestion]:
    """Rules (a deployment in the root cause; detection over 5 minutes), plus
    missed response and resolution targets, paging gaps and silent incidents."""
    found: list[Suggestion] = []
    cause_text = "\n".join([root_cause, facts.title, facts.description])
    if _mentions_deployment(cause_text):
        found.append(
            Suggestion(
                "deployment",
                "Improve deployment testing",
                "p2",
                timedelta(weeks=2),
                "the root cause mentions a deployment",
            )
        )
    ttd = metrics.time_to_detect
    if ttd is not None and ttd > DETECTION_THRESHOLD:
        found.append(
            Suggestion(
                "detection",
                "Add monitoring for this failure mode",
                "p2",
                timedelta(weeks=1),
                f"detection took {format_span(ttd)} (more than {format_span(DETECTION_THRESHOLD)})",
            )
        )
    tta = metrics.time_to_acknowledge
    if tta is not None and facts.respond_within is not None and tta > facts.respond_within:
        found.append(
            Suggestion(
                "acknowledgement",
                "Review paging and on-call response for this service",
                "p2",
                timedelta(weeks=2),
                f"acknowledged after {format_span(tta)}; the {facts.severity} target is "
                f"{format_span(facts.respond_within)}",
            )
        )
    ttr = metrics.time_to_resolve
    if ttr is not None and facts.resolve_target is not None and ttr > facts.resolve_target:
        found.append(
            Suggestion(
                "resolution",
                "Write or improve the runbook for this failure mode",
                "p3",
                timedelta(weeks=4),
                f"resolved after {format_span(ttr)}; the {facts.severity} target is "
                f"{format_span(facts.resolve_target)}",
            )
        )
    gaps = [e for e in facts.events if e.kind in ("tier_unreachable", "escalation_exhausted")]
    if gaps:
        found.append(
            Suggestion(
                "paging_gap",
                "Close the gaps in the escalation policy and on-call schedule",
                "p1",
                timedelta(weeks=1),
                f"{len(gaps)} escalation step(s) reached nobody or ran out",
            )
        )
    if metrics.status_updates == 0 or metrics.updates_overdue:
        reason = (
            "no status update was posted"
            if metrics.status_updates == 0
            else f"status updates fell behind the cadence {metrics.updates_overdue} time(s)"
        )
        found.append(
            Suggestion(
                "communication",
                "Assign a communications lead early and keep the update cadence",
                "p3",
                timedelta(weeks=4),
                reason,
            )
        )
    return found
