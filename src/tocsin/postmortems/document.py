"""The post-mortem document, generated from an incident's facts (pure).

The sections are those of a post-incident review (:data:`SECTION_TITLES`). Facts
(impact, timeline, detection, response) are written out; judgements (root cause,
lessons) are left as prompts for the people who review it.
Every section is Markdown; a person's edit of a section replaces the generated text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tocsin.postmortems.rules import (
    DETECTION_THRESHOLD,
    HintFact,
    IncidentFacts,
    ResponseMetrics,
    format_span,
    key_events,
)
from tocsin.timetext import signed_duration_text

__all__ = [
    "EDITABLE_SECTIONS",
    "SECTION_TITLES",
    "ActionRow",
    "Header",
    "action_items_markdown",
    "generate_sections",
    "render_markdown",
    "timeline_markdown",
]

SECTION_TITLES: Mapping[str, str] = {
    "summary": "Summary",
    "impact": "Impact",
    "timeline": "Timeline",
    "detection": "Detection",
    "response": "Response",
    "root_cause": "Root cause",
    "contributing_factors": "Contributing factors",
    "what_went_well": "What went well",
    "what_could_be_improved": "What could be improved",
    "action_items": "Action items",
    "lessons_learned": "Lessons learned",
}

#: Action items are rows of their own (`/action-items`), not free text.
EDITABLE_SECTIONS = tuple(key for key in SECTION_TITLES if key != "action_items")

TODO = "*[To be completed in the review]*"


@dataclass(frozen=True)
class Header:
    ref: str
    incident: str
    title: str
    status: str
    severity: str
    owner: str | None
    date: datetime
    category: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActionRow:
    title: str
    owner: str | None
    due_date: date | None
    priority: str
    status: str
    link: str | None = None


def _at(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _span(value: timedelta | None) -> str:
    return "n/a" if value is None else format_span(value)


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|") or " "


def _against(value: timedelta | None, target: timedelta | None) -> str:
    if value is None:
        return "n/a"
    if target is None:
        return format_span(value)
    verdict = "met" if value <= target else "missed"
    return f"{format_span(value)} (target {format_span(target)}: {verdict})"


# ---------------------------------------------------------------- generated sections


def _summary(facts: IncidentFacts, metrics: ResponseMetrics) -> str:
    services = ", ".join(facts.services) or "no service recorded"
    lines = [f"{facts.severity} incident {facts.ref}: {facts.title}."]
    if facts.description.strip():
        lines += ["", facts.description.strip()]
    lines += [
        "",
        f"Affected: {services}. Impact lasted {_span(metrics.impact_duration)}"
        + (f", resolved {_at(facts.resolved_at)}." if facts.resolved_at else "."),
        "",
        "*[2-3 sentences: what happened, who was affected, how it was fixed]*",
    ]
    return "\n".join(lines)


def _impact(facts: IncidentFacts, metrics: ResponseMetrics, error_budget: str) -> str:
    start = facts.started_at or facts.detected_at
    window = f"{_at(start)} → {_at(facts.resolved_at)}" if facts.resolved_at else "ongoing"
    facing = set(facts.customer_facing)
    services = (
        ", ".join(f"{s} (customer-facing)" if s in facing else s for s in facts.services) or "none"
    )
    if facts.customer_impact:
        told = (
            f"; {metrics.public_updates} public status update(s)" if metrics.public_updates else ""
        )
        customers = f"yes{told}"
    elif facing:
        customers = "possible: customer-facing services were affected"
    else:
        customers = "none recorded"
    return "\n".join(
        [
            f"- **Duration**: {_span(metrics.impact_duration)} ({window})",
            f"- **Services affected**: {services}",
            f"- **Customer impact**: {customers}",
            "- **Users affected**: *[number or share of users]*",
            f"- **Error budget consumed**: {error_budget}",
            f"- **Resolution target**: {_against(metrics.time_to_resolve, facts.resolve_target)}",
        ]
    )


def timeline_markdown(facts: IncidentFacts) -> str:
    """The key events as a table, times in UTC and relative to detection."""
    events = key_events(facts.events)
    if not events:
        return "*[No timeline events recorded]*"
    rows = ["| Time (UTC) | Since detection | Event | By |", "|---|---|---|---|"]
    for event in events:
        offset = event.at - facts.detected_at
        since = signed_duration_text(offset)
        rows.append(
            f"| {event.at.strftime('%Y-%m-%d %H:%M:%S')} | {since} | "
            f"{_cell(event.summary)} | {_cell(event.actor)} |"
        )
    return "\n".join(rows)


def _detection(facts: IncidentFacts, metrics: ResponseMetrics) -> str:
    opened = next((e for e in facts.events if e.kind == "alert_opened"), None)
    declared = next((e for e in facts.events if e.kind == "declared"), None)
    if opened is not None:
        how = f"automated monitoring: {opened.summary}"
    elif declared is not None:
        how = f"declared by {declared.actor}"
    else:
        how = "*[unknown]*"
    start = facts.started_at or facts.detected_at
    ttd = metrics.time_to_detect
    lines = [
        f"- **How**: {how}",
        f"- **Time to detect**: {_span(ttd)} (impact began {_at(start)}, "
        f"detected {_at(facts.detected_at)})",
    ]
    if ttd is not None and ttd > DETECTION_THRESHOLD:
        lines.append(
            f"- Detection took longer than {format_span(DETECTION_THRESHOLD)}: "
            "what signal would have caught it sooner?"
        )
    lines.append("- *[Could we have detected it sooner? Were the alerts clear and actionable?]*")
    return "\n".join(lines)


def _roles(facts: IncidentFacts) -> str:
    held = [f"{role}: {', '.join(people)}" for role, people in facts.roles.items() if people]
    return "; ".join(held) or "none assigned"


def _evidence(facts: IncidentFacts) -> list[str]:
    """What diagnostics found and what playbooks did, from their timeline entries:
    each step's state and the first lines of its output (secrets already masked)."""
    lines: list[str] = []
    for event in facts.events:
        if event.kind not in ("diagnostics_finished", "playbook_finished"):
            continue
        what = "Diagnostics" if event.kind == "diagnostics_finished" else "Playbook"
        approved = event.data.get("approved_by")
        by = f", approved by {approved}" if approved else ""
        lines.append(
            f"- **{what} {event.data.get('name', '')}** ({_at(event.at)}): "
            f"{event.data.get('state', '')}{by}"
        )
        for step in event.data.get("evidence") or ():
            lines.append(f"  - {step.get('name', '')}: {step.get('state', '')}")
            excerpt = str(step.get("excerpt") or "").strip()
            if excerpt:
                lines += ["", "    ```", *(f"    {x}" for x in excerpt.splitlines()), "    ```"]
    return ["", "### Evidence", "", *lines] if lines else []


def _response(facts: IncidentFacts, metrics: ResponseMetrics) -> str:
    return "\n".join(
        [
            "- **Time to acknowledge**: "
            + _against(metrics.time_to_acknowledge, facts.respond_within),
            f"- **Time to mitigate**: {_span(metrics.time_to_mitigate)}",
            f"- **Time to resolve**: {_against(metrics.time_to_resolve, facts.resolve_target)}",
            f"- **Escalations**: {metrics.escalations}",
            f"- **Pages sent**: {metrics.pages}",
            f"- **Status updates**: {metrics.status_updates} ({metrics.public_updates} public)",
            f"- **Roles**: {_roles(facts)}",
            *_evidence(facts),
        ]
    )


def _hint_line(hint: HintFact) -> str:
    links = [link for link in hint.links if link]
    evidence = f" (evidence: {', '.join(links)})" if links else ""
    if hint.status == "confirmed":
        return f"  - **Confirmed cause**: {hint.explanation}{evidence}"
    if hint.status == "rejected":
        return f"  - Ruled out: ~~{hint.explanation}~~"
    return f"  - Not confirmed ({hint.confidence:.0%} likely): {hint.explanation}{evidence}"


def _hints(facts: IncidentFacts) -> list[str]:
    lines: list[str] = []
    if facts.downstream_of:
        lines.append(f"- **Upstream**: downstream of {', '.join(facts.downstream_of)}")
    if facts.hints:
        lines.append("- **Root-cause hints**:")
        lines += [_hint_line(h) for h in facts.hints]
    return lines


def _contributing(facts: IncidentFacts, metrics: ResponseMetrics) -> str:
    process = []
    if metrics.sla_breaches:
        process.append(f"the response SLA was breached {metrics.sla_breaches} time(s)")
    if metrics.updates_overdue:
        process.append(f"status updates fell behind {metrics.updates_overdue} time(s)")
    process_text = "; ".join(process) + ". " if process else ""
    return "\n".join(
        [
            *_hints(facts),
            "- **Technical**: *[system or infrastructure conditions]*",
            f"- **Process**: {process_text}*[gaps in procedures, reviews or documentation]*",
            "- **Human**: *[knowledge gaps or communication issues: describe the conditions, "
            "not the people]*",
            "- **External**: *[third-party dependencies or services]*",
        ]
    )


def _went_well(facts: IncidentFacts, metrics: ResponseMetrics) -> str:
    good: list[str] = []
    tta, ttr, ttd = metrics.time_to_acknowledge, metrics.time_to_resolve, metrics.time_to_detect
    if tta is not None and facts.respond_within is not None and tta <= facts.respond_within:
        good.append(f"Acknowledged within the {facts.severity} target ({format_span(tta)}).")
    if ttr is not None and facts.resolve_target is not None and ttr <= facts.resolve_target:
        good.append(f"Resolved within the {facts.severity} target ({format_span(ttr)}).")
    if ttd is not None and ttd <= DETECTION_THRESHOLD:
        good.append(f"Detected quickly ({format_span(ttd)} after impact began).")
    if metrics.status_updates and not metrics.updates_overdue:
        good.append(f"Status updates kept to the cadence ({metrics.status_updates} posted).")
    if facts.roles.get("commander"):
        good.append(f"An incident commander was in charge ({', '.join(facts.roles['commander'])}).")
    lines = [f"- {g}" for g in good]
    lines.append("- *[What else helped: tools, runbooks, people's knowledge?]*")
    return "\n".join(lines)


def _improve(facts: IncidentFacts, metrics: ResponseMetrics) -> str:
    better: list[str] = []
    tta, ttr, ttd = metrics.time_to_acknowledge, metrics.time_to_resolve, metrics.time_to_detect
    if ttd is not None and ttd > DETECTION_THRESHOLD:
        better.append(f"Detection took {format_span(ttd)}.")
    if tta is not None and facts.respond_within is not None and tta > facts.respond_within:
        better.append(
            f"Acknowledgement took {format_span(tta)} (target {format_span(facts.respond_within)})."
        )
    if ttr is not None and facts.resolve_target is not None and ttr > facts.resolve_target:
        better.append(
            f"Resolution took {format_span(ttr)} (target {format_span(facts.resolve_target)})."
        )
    if metrics.escalations:
        better.append(f"The incident was escalated {metrics.escalations} time(s).")
    if metrics.status_updates == 0:
        better.append("No status update was posted.")
    elif metrics.updates_overdue:
        better.append(f"Status updates fell behind {metrics.updates_overdue} time(s).")
    lines = [f"- {b}" for b in better]
    lines.append("- *[Monitoring, alerting, documentation, training: what would have helped?]*")
    return "\n".join(lines)


def generate_sections(
    facts: IncidentFacts, metrics: ResponseMetrics, *, error_budget: str = "n/a"
) -> dict[str, str]:
    """Every editable section, generated. `error_budget` is the text of that impact line."""
    return {
        "summary": _summary(facts, metrics),
        "impact": _impact(facts, metrics, error_budget),
        "timeline": timeline_markdown(facts),
        "detection": _detection(facts, metrics),
        "response": _response(facts, metrics),
        "root_cause": "*[What in the system allowed this to happen? The technical cause, "
        "and why our safeguards did not stop it.]*",
        "contributing_factors": _contributing(facts, metrics),
        "what_went_well": _went_well(facts, metrics),
        "what_could_be_improved": _improve(facts, metrics),
        "lessons_learned": TODO,
    }


# ---------------------------------------------------------------- the whole document


def action_items_markdown(rows: Sequence[ActionRow]) -> str:
    if not rows:
        return "*[None yet]*"
    lines = ["| Action | Owner | Due | Priority | Status |", "|---|---|---|---|---|"]
    for row in rows:
        title = _cell(row.title)
        if row.link:
            title = f"[{title}](<{row.link}>)"
        due = row.due_date.isoformat() if row.due_date else "—"
        lines.append(
            f"| {title} | {_cell(row.owner or '—')} | {due} | {row.priority.upper()} | "
            f"{row.status} |"
        )
    return "\n".join(lines)


def render_markdown(
    header: Header, sections: Mapping[str, str], action_items: Sequence[ActionRow]
) -> str:
    meta = [
        f"**Incident**: {header.incident}  ",
        f"**Severity**: {header.severity}  ",
        f"**Date**: {_at(header.date)}  ",
        f"**Status**: {header.status}  ",
        f"**Owner**: {header.owner or 'unassigned'}",
    ]
    if header.category:
        meta[-1] += "  "
        meta.append(f"**Root cause category**: {header.category}")
    if header.tags:
        meta[-1] += "  "
        meta.append(f"**Tags**: {', '.join(header.tags)}")
    parts = [f"# Post-mortem {header.ref}: {header.title}", "", *meta]
    for key, title in SECTION_TITLES.items():
        body = action_items_markdown(action_items) if key == "action_items" else sections[key]
        parts += ["", f"## {title}", "", body.strip() or TODO]
    return "\n".join(parts) + "\n"
