"""Pure parts of the Slack support: channel names, Block Kit, signatures, policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.chatops.slack_channels import incident_channel_name
from tocsin.chatops.slack_signature import sign, verify
from tocsin.clock import FakeClock
from tocsin.notify.channels.slack_blocks import message_blocks, summary_blocks
from tocsin.policy import PolicyError, parse_policy

DECLARED = datetime(2026, 3, 2, 23, 59, tzinfo=UTC)


def test_channel_name_is_prefix_date_and_slug() -> None:
    name = incident_channel_name("incident", DECLARED, "Checkout API: 5xx (EU)!")
    assert name == "incident-2026-03-02-checkout-api-5xx-eu"
    assert (
        incident_channel_name("inc", DECLARED, "Zürich DB — lent")
        == "inc-2026-03-02-zurich-db-lent"
    )
    assert incident_channel_name("incident", DECLARED, "🔥🔥") == "incident-2026-03-02"


def test_channel_name_fits_slacks_80_characters_and_keeps_the_suffix() -> None:
    name = incident_channel_name("incident", DECLARED, "very long title " * 10, suffix="-42")
    assert len(name) <= 80
    assert name.startswith("incident-2026-03-02-very-long-title")
    assert name.endswith("-42") and "--" not in name


def _action_ids(blocks: list[dict[str, object]]) -> list[object]:
    return [
        element["action_id"]  # type: ignore[index]
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]  # type: ignore[attr-defined]
    ]


@pytest.mark.parametrize(
    ("status", "buttons"),
    [
        ("triggered", ["tocsin_acknowledge", "tocsin_resolve"]),
        ("acknowledged", ["tocsin_resolve"]),
        ("resolved", []),
    ],
)
def test_summary_buttons_follow_the_status(status: str, buttons: list[str]) -> None:
    summary = {
        "id": "INC-7",
        "title": "API <down> & out",
        "severity": "SEV1",
        "status": status,
        "commander": None,
        "services": ["api"],
    }
    blocks = summary_blocks(summary, url="https://tocsin.example.com/dashboard/incidents/INC-7")
    assert _action_ids(blocks) == buttons
    assert blocks[0]["text"] == {"type": "plain_text", "text": "INC-7: API <down> & out"}
    fields = [f["text"] for f in blocks[1]["fields"]]  # type: ignore[index]
    assert fields == [
        "*Severity*\nSEV1",
        f"*Status*\n{status}",
        "*Commander*\nnot assigned",
        "*Services*\napi",
    ]
    assert "<https://tocsin.example.com/dashboard/incidents/INC-7|Open INC-7 in Tocsin>" in str(
        blocks
    )


def test_message_text_is_escaped_for_mrkdwn() -> None:
    blocks = message_blocks(
        subject="[SEV1] INC-7", text="a <b> & c", incident_id=None, status=None, url=None
    )
    assert blocks == [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*[SEV1] INC-7*\na &lt;b&gt; &amp; c"},
        }
    ]


def test_signature_valid_within_five_minutes_only() -> None:
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    body = b"token=x&text=status"
    stamp = str(int(clock.now().timestamp()))
    headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sign("s3", stamp, body)}
    assert verify("s3", body=body, headers=headers, clock=clock)
    assert not verify("other", body=body, headers=headers, clock=clock)
    assert not verify("s3", body=body + b"&more", headers=headers, clock=clock)
    clock.advance(timedelta(minutes=5, seconds=1))
    assert not verify("s3", body=body, headers=headers, clock=clock)
    clock.advance(timedelta(minutes=-10, seconds=-2))  # from the future, too
    assert not verify("s3", body=body, headers=headers, clock=clock)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=1"},
        {"X-Slack-Request-Timestamp": "99999999999999999999", "X-Slack-Signature": "v0=1"},
    ],
)
def test_signature_garbage_is_refused(headers: dict[str, str]) -> None:
    assert not verify("s3", body=b"", headers=headers, clock=FakeClock())


BASE = """
severities:
  - {name: SEV1, respond_within: 5m, escalate_after: 15m, update_every: 15m, resolve_target: 1h}
  - {name: SEV2, respond_within: 15m, escalate_after: 30m, update_every: 30m, resolve_target: 4h}
services:
  - {name: api}
"""


def test_policy_accepts_slack_settings_people_and_runbooks() -> None:
    policy = parse_policy(
        BASE
        + """
people:
  - {name: alice, slack: U012ABCDEF}
channels:
  slack:
    type: slack
    token_env: SLACK_TOKEN
    signing_secret_env: SLACK_SIGNING_SECRET
    incident_channel_min_severity: sev2
runbooks:
  api-down:
    services: [api]
    steps:
      - Look at the dashboards
      - {title: Roll back, command: "deploy rollback api"}
"""
    )
    person = policy.person("alice")
    assert person is not None and person.slack == "U012ABCDEF"
    steps = policy.runbooks["api-down"].steps
    assert [(s.title, s.command) for s in steps] == [
        ("Look at the dashboards", None),
        ("Roll back", "deploy rollback api"),
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("people:\n  - {name: alice, slack: alice}\n", "is not a valid Slack member id"),
        (
            "channels:\n  slack: {type: slack, token_env: T, "
            "incident_channel_min_severity: SEV9}\n",
            "channels.slack.incident_channel_min_severity: unknown severity 'SEV9'",
        ),
        (
            "runbooks:\n  x:\n    services: [apl]\n    steps: [one]\n",
            "runbooks.x.services[0]: unknown service 'apl'; did you mean 'api'?",
        ),
        ("runbooks:\n  x:\n    steps: []\n", "runbooks.x.steps"),
    ],
)
def test_policy_refuses_bad_slack_settings(extra: str, message: str) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy(BASE + extra)
    assert message in str(raised.value)
