"""Jira for incidents, through the official ``jira`` client driven by the delivery
worker, against a local Jira that records every call: one issue per incident, created
once even when Jira took the request but the answer was lost; updates and the
resolution as comments, once each; the issue key kept as the incident's reference."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from tests.support.delivery_harness import ChannelHarness
from tests.support.jira_api import JiraApi

from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.notify.channels.services import ChannelServices
from tocsin.notify.refs import find_ref, incident_subject
from tocsin.web.context import AppContext

TOKEN = "jira-token-123"
ENV = {"TOCSIN_TEST_JIRA_TOKEN": TOKEN, "TOCSIN_PUBLIC_URL": "https://tocsin.example.com"}

BROADCAST = """
broadcasts:
  - name: tickets
    severities: [SEV1, SEV2]
    events: {declared: initial_announcement, update_posted: update, resolved: resolution}
    to: [{channel: jira, target: OPS}]
"""


def channel(api: JiraApi, **extra: str) -> str:
    settings = "".join(f", {k}: {v}" for k, v in extra.items())
    return (
        "channels:\n"
        f"  jira: {{type: jira, base_url: '{api.url}', email: tocsin@example.com, "
        f"api_token_env: TOCSIN_TEST_JIRA_TOKEN, issue_type: Incident{settings}}}\n"
    )


pytestmark = pytest.mark.postgres  # every test here runs on PostgreSQL only


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def jira() -> Iterator[JiraApi]:
    api = JiraApi(token=TOKEN).start()
    yield api
    api.stop()


@pytest.fixture
def h(app_context: AppContext, clock: FakeClock) -> Iterator[ChannelHarness]:
    harness = ChannelHarness(app_context, clock, ENV)
    yield harness
    harness.delivery.shutdown()


def issue_ref(h: ChannelHarness, ref: str) -> tuple[str, str | None]:
    with session_scope(h.context.sessions, write=False) as session:
        found = find_ref(
            session=session,
            system="jira",
            kind="issue",
            subject=incident_subject(h.incident_pk(ref)),
        )
        assert found is not None
        return found.external_id, found.url


def test_an_incident_gets_one_issue_then_comments_and_the_resolve_transition(
    h: ChannelHarness, jira: JiraApi
) -> None:
    h.configure(channel(jira, resolve_transition="Done", labels="[incident]") + BROADCAST)
    ref = h.declare("SEV1", title="Checkout API 5xx")
    h.at(1)
    h.act(ref, "update", "Rolled back deploy 4711")
    h.at(2)
    h.act(ref, "resolve")
    h.at(3)

    assert jira.writes() == [
        "POST /rest/api/2/issue",
        "POST /rest/api/2/issue/OPS-1/comment",
        "POST /rest/api/2/issue/OPS-1/comment",
        "POST /rest/api/2/issue/OPS-1/transitions",
    ]
    fields = jira.issues["OPS-1"]["fields"]
    assert fields["project"] == {"key": "OPS"}
    assert fields["issuetype"] == {"name": "Incident"}
    assert fields["summary"] == f"[SEV1] {ref}: Checkout API 5xx"
    assert fields["labels"] == [f"tocsin-{ref.lower()}", "incident"]
    description = fields["description"]
    assert "Incident declared: Checkout API 5xx" in description
    assert "Service: api" in description and "Severity: SEV1" in description
    assert f"Tocsin: https://tocsin.example.com/dashboard/incidents/{ref}" in description
    update, resolution = jira.comments("OPS-1")
    assert "Progress: Rolled back deploy 4711" in update
    assert f"INCIDENT RESOLVED - {ref}" in resolution
    assert jira.status("OPS-1") == "Done"
    assert issue_ref(h, ref) == ("OPS-1", f"{jira.url}/browse/OPS-1")
    assert [d.state for d in h.deliveries("jira")] == ["sent"] * 3


def test_lost_answers_never_make_a_second_issue_or_comment(
    h: ChannelHarness, jira: JiraApi
) -> None:
    h.configure(channel(jira) + BROADCAST)
    jira.script = [("POST", "/rest/api/2/issue", "drop")]  # created, answer lost
    ref = h.declare("SEV2")
    h.at(1)
    jira.script = [("GET", "/comment", 503), ("POST", "/comment", "drop")]
    h.act(ref, "update", "Still digging")
    h.at(5)

    assert jira.writes() == ["POST /rest/api/2/issue", "POST /rest/api/2/issue/OPS-1/comment"]
    assert len(jira.issues) == 1 and len(jira.comments("OPS-1")) == 1
    assert issue_ref(h, ref)[0] == "OPS-1"
    declared, update = h.deliveries("jira")
    assert (declared.state, declared.attempts) == ("sent", 2)
    assert (update.state, update.attempts) == ("sent", 3)


def test_server_deployments_and_refusals(h: ChannelHarness, jira: JiraApi) -> None:
    jira.cloud = False
    h.configure(channel(jira).replace("issue_type: Incident", "issue_type: Epic") + BROADCAST)
    h.declare("SEV1")
    h.at(1)
    [refused] = h.deliveries("jira")
    assert refused.state == "failed"
    assert refused.last_error == "Jira: HTTP 400: issuetype: Specify a valid issue type"

    jira.token = "rotated"
    h.configure(channel(jira) + BROADCAST)
    h.declare("SEV1")
    h.at(2)
    last = h.deliveries("jira")[-1]
    assert last.state == "failed"
    assert last.last_error == "Jira refused the credentials or the permission (HTTP 401)"
    assert TOKEN not in (last.last_error or "")


def test_a_second_worker_process_waits_for_the_first_ones_issue(
    h: ChannelHarness, jira: JiraApi
) -> None:
    """Another process's delivery worker claimed the incident's issue first (and is still
    creating it): this one does not create a second, it waits and then comments."""
    h.configure(channel(jira) + BROADCAST)
    ref = h.declare("SEV1", title="Checkout API 5xx")
    services = ChannelServices(h.context.sessions, h.clock)
    subject = incident_subject(h.incident_pk(ref))
    assert services.claim(
        system="jira", subject=subject, holder="other-worker", stale_after=timedelta(minutes=10)
    )
    h.delivery.run_due()
    [waiting] = h.deliveries("jira")
    assert waiting.state == "pending"
    assert "another sender is creating" in (waiting.delay_reason or "")
    assert jira.writes() == []

    # The other worker created it meanwhile (as its adapter would have): this one comments.
    h.act(ref, "update", "Rolled back deploy 4711")
    services.put(system="jira", kind="issue", subject=subject, external_id="OPS-1")
    jira.issues["OPS-1"] = {
        "id": "9001",
        "key": "OPS-1",
        "fields": {"summary": "Checkout API 5xx", "labels": [], "status": {"name": "To Do"}},
        "comments": [],
    }
    h.at(15)
    assert [d.state for d in h.deliveries("jira")] == ["sent", "sent"]
    assert "POST /rest/api/2/issue" not in jira.writes()


def test_a_claim_left_by_a_dead_worker_is_taken_over(h: ChannelHarness) -> None:
    services = ChannelServices(h.context.sessions, h.clock)
    claim = {"system": "jira", "subject": "incident:1", "stale_after": timedelta(minutes=10)}
    assert services.claim(holder="a", **claim)
    assert services.claim(holder="a", **claim)  # its own retry
    assert not services.claim(holder="b", **claim)
    h.clock.advance(timedelta(minutes=11))
    assert services.claim(holder="b", **claim)
    assert not services.claim(holder="a", **claim)
