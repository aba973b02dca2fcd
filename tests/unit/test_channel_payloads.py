"""What the PagerDuty, Jira and Teams adapters send, and the policy settings they take,
without a network."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from tocsin.notify.channels import (
    IncidentSummary,
    OutboundMessage,
    PermanentError,
    RateLimited,
    SendError,
)
from tocsin.notify.channels.jira import JiraAdapter
from tocsin.notify.channels.jira_client import comment_marker
from tocsin.notify.channels.pagerduty import PagerDutyAdapter, plan_actions
from tocsin.notify.channels.teams import TeamsAdapter, adaptive_card
from tocsin.policy.channels import ChannelConfig, JiraChannel, PagerDutyChannel, TeamsChannel

CONFIG: TypeAdapter[Any] = TypeAdapter(ChannelConfig)


def message(kind: str = "broadcast", status: str = "triggered", **data: str) -> OutboundMessage:
    return OutboundMessage(
        key="bcast:7/pd/0/ops#0:pagerduty",
        channel="pagerduty",
        kind=kind,
        target="ops",
        subject="[SEV2] Incident declared: Disk full",
        text="Incident ID: INC-7\nService: db",
        html=None,
        person=None,
        incident=IncidentSummary("INC-7", "Disk full", "SEV2", status),
        reason="broadcast pd: declared",
        attempt=1,
        created_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        data=data,
    )


@pytest.mark.parametrize(
    ("kind", "event", "status", "actions"),
    [
        ("page", None, "triggered", ("trigger",)),
        ("broadcast", "declared", "triggered", ("trigger",)),
        ("broadcast", "declared", "acknowledged", ("trigger", "acknowledge")),
        ("broadcast", "declared", "resolved", ()),
        ("broadcast", "update_posted", "investigating", ("trigger",)),
        ("broadcast", "acknowledged", "acknowledged", ("acknowledge",)),
        ("broadcast", "acknowledged", "triggered", ()),  # reopened since
        ("broadcast", "acknowledged", "resolved", ()),
        ("broadcast", "resolved", "resolved", ("resolve",)),
        ("broadcast", "resolved", "closed", ("resolve",)),
        ("broadcast", "resolved", "triggered", ()),
        ("broadcast", "reopened", "triggered", ("trigger",)),
    ],
)
def test_pagerduty_never_moves_backwards(
    kind: str, event: str | None, status: str, actions: tuple[str, ...]
) -> None:
    assert plan_actions(kind=kind, event=event, status=status) == actions


def test_pagerduty_refuses_what_it_has_no_action_for() -> None:
    with pytest.raises(PermanentError, match="not stakeholder messages"):
        plan_actions(kind="stakeholder", event=None, status="triggered")


def test_pagerduty_trigger_event() -> None:
    config = PagerDutyChannel(type="pagerduty", routing_key_env="PD_KEY")
    adapter = PagerDutyAdapter("pd", config, {"TOCSIN_PUBLIC_URL": "https://t.example.com"})
    event = adapter.event(message(event="declared"), "trigger")
    assert event["summary"] == "[SEV2] INC-7: Disk full"
    assert (event["severity"], event["dedup_key"], event["source"]) == (
        "error",
        "tocsin-INC-7",
        "tocsin",
    )
    assert event["links"] == [
        {"href": "https://t.example.com/dashboard/incidents/INC-7", "text": "INC-7 in Tocsin"}
    ]
    assert adapter.event(message(), "resolve") == {"dedup_key": "tocsin-INC-7"}


def test_teams_card_without_a_public_url_has_no_button() -> None:
    card = adaptive_card(message(), None)["attachments"][0]["content"]
    assert "actions" not in card
    assert card["body"][0]["color"] == "Attention"  # SEV1 and SEV2 stand out
    linked = adaptive_card(message(), "https://t/x")["attachments"][0]["content"]
    assert linked["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open incident", "url": "https://t/x"}
    ]


def test_jira_issue_fields_and_comment_marker() -> None:
    config = JiraChannel(type="jira", base_url="https://acme.atlassian.net", api_token_env="T")
    adapter = JiraAdapter("jira", config, {})
    fields = adapter.issue_fields(message(), "OPS")
    assert fields["project"] == {"key": "OPS"} and fields["issuetype"] == {"name": "Task"}
    assert fields["labels"] == ["tocsin-inc-7"]
    assert fields["description"].endswith("Severity: SEV2\nStatus: triggered")
    assert comment_marker("a") == comment_marker("a") != comment_marker("b")


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"type": "pagerduty"}, "routing_key_env"),
        (
            {"type": "pagerduty", "routing_key_env": "K", "base_url": "http://pd.local"},
            "base_url",
        ),
        ({"type": "pagerduty", "routing_key_env": "K", "severities": {"SEV1": "p1"}}, "SEV1"),
        (
            {"type": "jira", "base_url": "https://j", "api_token_env": "T", "project": "ops"},
            "project",
        ),
        ({"type": "teams", "url": "https://secret.example.com/hook"}, "url_env"),
    ],
)
def test_channel_settings_are_checked(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        CONFIG.validate_python(settings)
    assert problem in str(refused.value)


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        ("1", None),
        (
            "Webhook message delivery failed with error: Microsoft Teams endpoint returned "
            "HTTP error 429 with ContextId tcid=0,server=msgapi-production",
            RateLimited,
        ),
        ("Webhook message delivery failed with error: the card is too large", PermanentError),
    ],
)
def test_teams_reads_the_failure_inside_a_200(body: str, outcome: type[SendError] | None) -> None:
    """Legacy incoming webhooks answer 200 and say in the body that Teams refused the card."""
    config = TeamsChannel(type="teams", url_env="TEAMS_URL")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text=body))
    adapter = TeamsAdapter(
        "teams", config, {"TEAMS_URL": "https://teams.invalid/hook"}, transport=transport
    )
    if outcome is None:
        assert adapter.send(message()).detail == "HTTP 200"
    else:
        with pytest.raises(outcome):
            adapter.send(message())
