"""Jira issues for incidents (``type: jira``), with the official ``jira`` client.

A broadcast sends an incident's events here; its ``target`` is the project key (else
the channel's ``project``)::

    broadcasts:
      - name: tickets
        severities: [SEV1, SEV2]
        events: {declared: initial_announcement, update_posted: update,
                 resolved: resolution}
        to: [{channel: jira, target: OPS}]

The first message about an incident creates its issue (summary ``[SEV1] INC-7: title``,
the announcement, severity, status and a link back as description, the label
``tocsin-inc-7``); every later one becomes a comment, and ``resolved`` / ``reopened``
also apply the channel's ``resolve_transition`` / ``reopen_transition`` if set.

**Once only.** The issue key is kept in ``external_refs`` (system ``jira``, kind
``issue``, subject ``incident:<id>``), which the API and other adapters read. When an
earlier attempt of the message may have created the issue or added the comment (any
attempt after the first), the adapter first looks for it, by the issue's label and by
the reference line each comment ends with, so the channel is idempotent: a send whose
outcome is unknown is repeated without making a second issue or comment. Sends go one at
a time by default (``concurrency: 1``), so that two messages of one incident never race
to create its issue.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from tocsin.notify.channels.base import (
    OutboundMessage,
    PermanentError,
    Recipient,
    SendReceipt,
    TemporaryError,
)
from tocsin.notify.channels.jira_client import IssueFacts, JiraTracker, comment_marker
from tocsin.notify.channels.links import incident_url
from tocsin.notify.channels.services import ChannelServices
from tocsin.notify.refs import incident_subject
from tocsin.policy.channels import JiraChannel

__all__ = ["SYSTEM", "JiraAdapter", "incident_label"]

SYSTEM = "jira"
_PROJECT_KEY = re.compile(r"^[A-Z][A-Z0-9_]+$")

#: A claim to create an incident's issue older than this is taken over (its holder died).
_CLAIM_STALE = timedelta(minutes=10)


def incident_label(prefix: str, incident_id: str) -> str:
    return f"{prefix}-{incident_id}".lower()


class JiraAdapter:
    """One configured Jira channel, for incidents."""

    idempotent = True

    def __init__(
        self, name: str, config: JiraChannel, environ: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.config = config
        self._environ = os.environ if environ is None else environ
        self.tracker = JiraTracker(config, self._environ)
        self._services: ChannelServices | None = None

    def use_services(self, services: ChannelServices) -> None:
        self._services = services

    def address(self, person: Recipient) -> str | None:
        return person.name

    def _project(self, target: str | None) -> str:
        if target and _PROJECT_KEY.match(target):
            return target
        if self.config.project:
            return self.config.project
        raise PermanentError(
            f"no Jira project: the broadcast target {target!r} is not a project key and the "
            f"{self.name} channel sets no project"
        )

    def issue_fields(self, message: OutboundMessage, project: str) -> dict[str, Any]:
        incident = message.incident
        assert incident is not None
        lines = [message.text.rstrip(), "", f"Severity: {incident.severity}"]
        lines.append(f"Status: {incident.status}")
        url = incident_url(self._environ, incident.id)
        if url:
            lines.append(f"Tocsin: {url}")
        label = incident_label(self.config.label_prefix, incident.id)
        return {
            "project": {"key": project},
            "issuetype": {"name": self.config.issue_type},
            "summary": f"[{incident.severity}] {incident.id}: {incident.title}"[:255],
            "description": "\n".join(lines),
            "labels": [label, *self.config.labels],
        }

    def send(self, message: OutboundMessage) -> SendReceipt:
        incident = message.incident
        if incident is None or message.kind != "broadcast":
            raise PermanentError(
                "the Jira channel takes an incident's broadcasts (declared, updates, resolved)"
            )
        event = str(message.data.get("event") or "")
        project = self._project(message.target)
        subject = self._subject(message)
        retry = message.attempt > 1
        with self.tracker.session() as client:
            issue = self._known(subject)
            created = False
            if issue is None and (retry or subject is None):
                issue = self.tracker.find_by_label(
                    client, incident_label(self.config.label_prefix, incident.id)
                )
                self._remember(subject, issue, project)
            if issue is None:
                self._claim(subject, message.key)
                issue = self.tracker.create(client, self.issue_fields(message, project))
                created = True
                self._remember(subject, issue, project)
            done = [f"created {issue.key}" if created else issue.key]
            if not created and event != "declared":
                marker = comment_marker(message.key)
                # Always looked for first: a rate-limited attempt does not count, so
                # ``attempt`` alone cannot tell whether this comment went out already.
                if self.tracker.comment_once(client, issue.key, message.text, marker, check=True):
                    done.append("commented")
            transition = {
                "resolved": self.config.resolve_transition,
                "reopened": self.config.reopen_transition,
            }.get(event)
            if transition and self.tracker.transition(client, issue.key, transition):
                done.append(f"moved by {transition!r}")
        return SendReceipt(detail="Jira " + ", ".join(done))

    def _claim(self, subject: str | None, key: str) -> None:
        """One creator per incident, across every worker process (see
        :meth:`ChannelServices.claim`); the others wait for its issue."""
        if self._services is None or subject is None:
            return
        if not self._services.claim(
            system=SYSTEM, subject=subject, holder=key, stale_after=_CLAIM_STALE
        ):
            raise TemporaryError("another sender is creating this incident's Jira issue")

    def _subject(self, message: OutboundMessage) -> str | None:
        if self._services is None:
            return None
        pk = self._services.incident_pk(message.key)
        return incident_subject(pk) if pk is not None else None

    def _known(self, subject: str | None) -> IssueFacts | None:
        if self._services is None or subject is None:
            return None
        ref = self._services.find(system=SYSTEM, kind="issue", subject=subject)
        if ref is None:
            return None
        return IssueFacts(ref.external_id, ref.url or self.tracker.browse_url(ref.external_id))

    def _remember(self, subject: str | None, issue: IssueFacts | None, project: str) -> None:
        if self._services is None or subject is None or issue is None:
            return
        self._services.put(
            system=SYSTEM,
            kind="issue",
            subject=subject,
            external_id=issue.key,
            url=issue.url,
            data={"project": project, "channel": self.name},
        )
