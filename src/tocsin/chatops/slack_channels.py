"""An incident's own Slack channel, kept from the incident's lifecycle.

For every ``type: slack`` channel with ``incident_channel_min_severity``, an incident at
or above that severity (when declared, or when raised to it) gets a channel named
``<prefix>-YYYY-MM-DD-<slug of the title>``; its acknowledgement, status updates,
severity changes and resolution are posted there, each refreshing the pinned summary.
These callbacks run inside the transaction of the change
(:mod:`tocsin.incidents.hooks`) and only queue outbox messages with keys derived from
the change, so the change and its Slack messages commit together, a rolled-back change
posts nothing, and the delivery worker carries them out with its retries, rate limits
and dead letters (the work itself: :mod:`tocsin.notify.channels.slack`). A Slack outage
delays them; it loses none.

The planned name is reserved in ``external_refs`` (kind ``channel_name``) when the
opening is queued, so two incidents with the same title on the same day get distinct
channels (the second one ends in its number).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.hints import service as hints
from tocsin.incidents.findings import IncidentHint
from tocsin.incidents.models import Incident, StatusUpdate
from tocsin.incidents.rules import format_incident_id
from tocsin.notify.channels.slack import OPEN_CHANNEL, POST_TO_CHANNEL, SYSTEM
from tocsin.notify.models import Notification, NotificationKind
from tocsin.notify.refs import find_ref, find_subject, incident_subject, put_ref
from tocsin.notify.service import enqueue
from tocsin.policy import Policy, UnknownSeverity
from tocsin.policy.channels import SlackChannel
from tocsin.runbooks.models import RunbookRun

__all__ = [
    "NAME_REF",
    "PLAYBOOK_APPROVE_ACTION",
    "PLAYBOOK_DECLINE_ACTION",
    "incident_channel_name",
    "incident_summary",
    "slack_settings",
]

#: ``external_refs`` kind of the reserved channel name (subject: the incident).
NAME_REF = "channel_name"
#: ``action_id`` of a proposed playbook's buttons (their value: ``INC-7/name``).
PLAYBOOK_APPROVE_ACTION = "tocsin_playbook_approve"
PLAYBOOK_DECLINE_ACTION = "tocsin_playbook_decline"
#: Slack's limit on channel names.
MAX_NAME = 80
#: How many hints and recent changes the pinned summary lists.
HINTS_SHOWN = 3
CHANGES_SHOWN = 5


def slack_settings(policy: Policy) -> list[tuple[str, SlackChannel]]:
    """The policy's Slack channels, by name."""
    return [(name, c) for name, c in policy.channels.items() if isinstance(c, SlackChannel)]


def _slug(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")


def incident_channel_name(
    prefix: str, declared_at: datetime, title: str, *, suffix: str = ""
) -> str:
    """``incident-2026-03-02-checkout-api-5xx``: lower-case, at most 80 characters, the
    date of declaration in UTC; ``suffix`` ("-7") always survives the cut."""
    head = f"{prefix}-{declared_at:%Y-%m-%d}"
    room = MAX_NAME - len(head) - len(suffix) - 1
    slug = _slug(title)[:room].rstrip("-") if room > 0 else ""
    return f"{head}-{slug}{suffix}" if slug else f"{head}{suffix}"


def incident_summary(
    policy: Policy, incident: Incident, *, session: Session | None = None
) -> dict[str, Any]:
    """What the pinned summary shows (plain JSON, kept in the queued message); with a
    session, also its upstream incidents, its likely causes and the recent changes."""
    commanders = [r.person for r in incident.roles if r.role == "commander"]
    commander = None
    if commanders:
        person = policy.person(commanders[0])
        commander = person.display_name if person else commanders[0]
    return {
        "id": format_incident_id(incident.number),
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "commander": commander,
        "services": sorted(s.service for s in incident.services),
        **(_cause(session, policy, incident) if session is not None else {}),
    }


def _cause(session: Session, policy: Policy, incident: Incident) -> dict[str, Any]:
    overview = hints.overview(session=session, policy=policy, incident=incident)
    verdicts = {"confirmed": "confirmed: ", "rejected": "ruled out: ", "open": ""}
    return {
        "downstream_of": [f"{u.incident} ({u.reason})" for u in overview.downstream_of],
        "hints": [
            f"{verdicts.get(h.status, '')}{h.explanation} ({h.confidence:.0%})"
            for h in overview.hints[:HINTS_SHOWN]
        ],
        "recent_changes": [
            f"{c.timestamp:%H:%M} UTC {c.service}: {c.summary}"
            for c in overview.recent_changes[:CHANGES_SHOWN]
        ],
    }


def _qualifies(policy: Policy, settings: SlackChannel, incident: Incident) -> bool:
    if settings.incident_channel_min_severity is None:
        return False
    try:
        threshold = policy.severity(settings.incident_channel_min_severity)
    except UnknownSeverity:  # the policy check refuses this; be safe anyway
        return False
    return incident.severity_rank <= threshold.rank


def _responders(*, session: Session, policy: Policy, incident: Incident) -> list[str]:
    """Slack ids of the people paged for the incident and of its role holders."""
    names = {r.person for r in incident.roles}
    names.update(
        person
        for person in session.scalars(
            select(Notification.person).where(
                Notification.incident_id == incident.id,
                Notification.kind == NotificationKind.page.value,
            )
        )
        if person
    )
    ids = []
    for name in sorted(names):
        person = policy.person(name)
        if person is not None and person.slack:
            ids.append(person.slack)
    return sorted(set(ids))


def _reserve_name(
    *,
    session: Session,
    channel: str,
    settings: SlackChannel,
    incident: Incident,
    subject: str,
    now: datetime,
) -> str:
    name = incident_channel_name(settings.channel_prefix, incident.created_at, incident.title)
    holder = find_subject(session=session, system=SYSTEM, kind=NAME_REF, external_id=name)
    if holder is not None and holder != subject:
        name = incident_channel_name(
            settings.channel_prefix,
            incident.created_at,
            incident.title,
            suffix=f"-{incident.number}",
        )
    put_ref(
        session=session,
        system=SYSTEM,
        kind=NAME_REF,
        subject=subject,
        external_id=name,
        now=now,
        data={"via": channel},
        new_subject=True,  # callers open a channel only for an incident that has none
    )
    return name


def _open(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    channel: str,
    settings: SlackChannel,
    now: datetime,
) -> None:
    # Callers open a channel only for an incident that has none: a new one, or one
    # whose severity now qualifies and that they found without a channel.
    subject = incident_subject(incident.id)
    name = _reserve_name(
        session=session,
        channel=channel,
        settings=settings,
        incident=incident,
        subject=subject,
        now=now,
    )
    ref = format_incident_id(incident.number)
    enqueue(
        session=session,
        key=f"slack:{channel}/{subject}/open",
        person="",
        kind=NotificationKind.broadcast,
        subject=f"[{incident.severity}] {ref}: incident channel #{name}",
        body=f"Incident channel #{name} for {ref}: {incident.title}",
        reason=f"incident channel: {incident.severity} is at or above "
        f"{settings.incident_channel_min_severity}",
        now=now,
        incident_id=incident.id,
        channel=channel,
        lane=incident.lane,
        data={
            "target": f"#{name}",
            "slack": {
                "op": OPEN_CHANNEL,
                "subject": subject,
                "channel_name": name,
                "summary": incident_summary(policy, incident, session=session),
                "invite": _responders(session=session, policy=policy, incident=incident),
                "announce_to": settings.broadcast_channel,
            },
        },
    )


def _post(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    event: str,
    text: str,
    now: datetime,
    blocks: list[dict[str, Any]] | None = None,
) -> None:
    """Queue ``text`` (and ``blocks``, if given) for the incident's channel, if it has
    one, through the Slack channel (workspace) that opened it."""
    subject = incident_subject(incident.id)
    reserved = find_ref(session=session, system=SYSTEM, kind=NAME_REF, subject=subject)
    if reserved is None:
        return
    name = reserved.external_id
    ref = format_incident_id(incident.number)
    channel = str(reserved.data.get("via") or "slack")
    enqueue(
        session=session,
        key=f"slack:{channel}/{subject}/{event}",
        person="",
        kind=NotificationKind.broadcast,
        subject=f"[{incident.severity}] {ref}: {text}"[:300],
        body=text,
        reason=f"incident channel #{name}",
        now=now,
        incident_id=incident.id,
        channel=channel,
        lane=incident.lane,
        data={
            "target": f"#{name}",
            "slack": {
                "op": POST_TO_CHANNEL,
                "subject": subject,
                "channel_name": name,
                "text": text,
                "summary": incident_summary(policy, incident, session=session),
                **({"blocks": blocks} if blocks else {}),
            },
        },
    )


# ---------------------------------------------------------------- the hooks


def on_declared(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    for channel, settings in slack_settings(policy):
        if _qualifies(policy, settings, incident):
            _open(
                session=session,
                policy=policy,
                incident=incident,
                channel=channel,
                settings=settings,
                now=now,
            )
            return  # one incident channel, even with several Slack channels configured


def on_severity_changed(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    subject = incident_subject(incident.id)
    if find_ref(session=session, system=SYSTEM, kind=NAME_REF, subject=subject) is None:
        on_declared(session=session, policy=policy, incident=incident, actor=actor, now=now)
        return
    text = f"Severity is now *{incident.severity}* (changed by {actor})"
    _post(
        session=session,
        policy=policy,
        incident=incident,
        event=f"severity/{now.isoformat()}",
        text=text,
        now=now,
    )


def on_update_posted(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    update: StatusUpdate,
    actor: str,
    now: datetime,
) -> None:
    visibility = "Public update" if update.public else "Update"
    text = f"*{visibility}* ({update.status}) from {actor}: {update.message}"
    _post(
        session=session,
        policy=policy,
        incident=incident,
        event=f"update/{update.id}",
        text=text,
        now=now,
    )


def on_acknowledged(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    text = f"Acknowledged by {actor} ({incident.status})"
    _post(
        session=session,
        policy=policy,
        incident=incident,
        event=f"acknowledged/{now.isoformat()}",
        text=text,
        now=now,
    )


def on_resolved(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    text = f":white_check_mark: *Resolved* by {actor}"
    _post(
        session=session,
        policy=policy,
        incident=incident,
        event=f"resolved/{now.isoformat()}",
        text=text,
        now=now,
    )


def on_hint_decided(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    hint: IncidentHint,
    actor: str,
    now: datetime,
) -> None:
    """A responder confirmed a hint as the cause, or ruled it out: say so in the
    incident's channel (the pinned summary follows)."""
    verdict = "Cause confirmed" if hint.status == "confirmed" else "Ruled out"
    _post(
        session=session,
        policy=policy,
        incident=incident,
        event=f"hint/{hint.id}/{hint.status}",
        text=f"*{verdict}* by {actor}: {hint.explanation}",
        now=now,
    )


def on_playbook_proposed(
    *, session: Session, policy: Policy, incident: Incident, run: RunbookRun, now: datetime
) -> None:
    """A proposed playbook, its rendered actions, and Approve / Decline buttons (for
    the commander) in the incident's channel."""
    ref = format_incident_id(incident.number)
    lines = [
        f"{i}. {step['name']}: `{step.get('error') or step.get('display')}`"
        for i, step in enumerate(run.rendered, 1)
    ]
    waits = run.state == "proposed"
    head = (
        f"*Playbook {run.name}* proposed for {ref}; the commander approves or declines:"
        if waits
        else f"*Playbook {run.name}* runs by itself (read-only, approval: none):"
    )
    text = "\n".join([head, *lines])
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _escape_mrkdwn(text)[:2900]}}
    ]
    if waits:
        value = f"{ref}/{run.name}"
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": PLAYBOOK_APPROVE_ACTION,
                        "text": {"type": "plain_text", "text": "Approve"},
                        "style": "primary",
                        "value": value,
                    },
                    {
                        "type": "button",
                        "action_id": PLAYBOOK_DECLINE_ACTION,
                        "text": {"type": "plain_text", "text": "Decline"},
                        "value": value,
                    },
                ],
            }
        )
    _post(
        session=session,
        policy=policy,
        incident=incident,
        event=f"playbook/{run.id}",
        text=text,
        now=now,
        blocks=blocks,
    )


def _escape_mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
