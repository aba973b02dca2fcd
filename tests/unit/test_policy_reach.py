"""Which channels can send and who they leave unreached: the checks behind the policy
warnings, and the step planning that skips channels that are not configured."""

from __future__ import annotations

from datetime import timedelta

from tests.support.example_env import EXAMPLE_CHANNEL_ENV

from tocsin.notify.rules import PlannedStep, deliverable_steps, plan_steps
from tocsin.policy import example_policy_text, parse_policy
from tocsin.policy.base import format_loc
from tocsin.policy.reach import channel_status, channel_warnings, message_noun

BASE = """\
severities:
  - {name: SEV1, respond_within: 5m, escalate_after: 15m, update_every: 15m, resolve_target: 1h}
  - {name: SEV2, respond_within: 15m, escalate_after: 30m, update_every: 30m, resolve_target: 2h}
people:
  - {name: alice, email: alice@example.com, phone: "+15555550101"}
  - {name: bob, email: bob@example.com}
"""

CHANNELS = """\
channels:
  mail: {type: email, host: smtp.example.com, from: tocsin@example.com,
         username: tocsin, password_env: T_SMTP}
  sms: {type: twilio, account_sid_env: T_SID, auth_token_env: T_TOKEN, from_number: "+15555550100"}
  hook: {type: webhook, url: "https://hooks.example.com/x"}
"""


def _warnings(text: str, env: dict[str, str]) -> list[tuple[str, str]]:
    return [
        (format_loc(loc), message) for loc, message in channel_warnings(parse_policy(text), env)
    ]


def test_a_channel_is_configured_once_every_variable_it_needs_is_set() -> None:
    policy = parse_policy(BASE + CHANNELS)
    status = channel_status(policy, {"T_SID": "AC1", "T_SMTP": " "})
    assert sorted(status.configured) == ["console", "hook"]  # console is built in
    assert status.not_configured == {
        "mail": "T_SMTP is not set",  # blank counts as not set
        "sms": "T_TOKEN is not set",
        "email": "it is not defined under channels",  # people without rules get email
    }
    assert status.fallback == "console"
    full = channel_status(policy, {"T_SID": "AC1", "T_TOKEN": "t", "T_SMTP": "p"})
    assert sorted(full.configured) == ["console", "hook", "mail", "sms"]
    assert list(full.not_configured) == ["email"]


def test_the_example_says_once_which_channels_wait_for_settings_and_who_is_unreached() -> None:
    found = _warnings(example_policy_text(), {})
    assert [path for path, _ in found if path.startswith("channels.")] == [
        "channels.email",
        "channels.sms",
        "channels.voice",
        "channels.slack",
        "channels.pagerduty",
        "channels.jira",
    ]
    messages = dict(found)
    assert messages["channels.sms"] == (
        "channel 'sms' is not configured (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not "
        "set): nothing is sent by it"
    )
    assert messages["notification_rules.*"] == (
        "everyone without rules of their own cannot be reached by sms, voice, slack or email "
        "(not configured): their SEV1 pages, SEV2 pages and SEV3/SEV4 messages go to the "
        "console channel instead"
    )
    assert messages["notification_rules"].startswith(
        "a message no notification rule matches goes by email (the default)"
    )
    assert messages["broadcasts"] == (
        "broadcasts pager (by pagerduty), incidents-channel and team-channel (by slack) and "
        "ticket (by jira) are not sent until their channels are configured"
    )
    assert messages["status_page.subscriptions"] == (
        "status-page subscribers get no email (confirmations, updates) until the email "
        "channel is configured"
    )
    assert len(found) == len({path for path, _ in found})  # each said once
    # With every variable set, the example is clean: everyone has the addresses their
    # rules need.
    assert _warnings(example_policy_text(), EXAMPLE_CHANNEL_ENV) == []


def test_partly_configured_rules_name_only_what_is_missing() -> None:
    text = example_policy_text()
    env = {"TOCSIN_SLACK_BOT_TOKEN": "x", "TOCSIN_SMTP_PASSWORD": "y"}
    messages = dict(_warnings(text, env))
    # Slack reaches SEV1 and SEV2 pages at once, email the rest: nothing falls back.
    assert messages["notification_rules.*"] == (
        "everyone without rules of their own cannot be reached by sms or voice (not configured)"
    )
    assert "notification_rules" not in messages
    assert "channels.slack" not in messages and "channels.email" not in messages


def test_a_channel_named_but_never_defined_is_not_configured() -> None:
    text = BASE + "notification_rules:\n  alice:\n    - notify: [{channel: pager, after: 1m}]\n"
    found = _warnings(text, {})
    assert found[0] == (
        "notification_rules.alice[0].notify[0].channel",
        "channel 'pager' is not configured (it is not defined under channels): "
        "nothing is sent by it",
    )
    assert (
        "notification_rules.alice",
        "alice cannot be reached by pager (not configured): their messages go to the "
        "console channel instead",
    ) in found


def test_people_without_an_address_on_a_configured_channel_are_named() -> None:
    text = (
        BASE
        + CHANNELS
        + "notification_rules:\n  '*':\n    - notify: [{channel: sms}]\n"
        + "status_page: {subscriptions: false}\n"
    )
    env = {"T_SID": "AC1", "T_TOKEN": "t", "T_SMTP": "p"}
    assert _warnings(text, env) == [
        ("people[1]", "person 'bob' has no phone number: sms cannot reach them")
    ]


def test_without_any_console_channel_the_warning_says_pages_reach_nobody() -> None:
    # "console" names a webhook here, so there is no console to fall back to.
    text = (
        BASE
        + "channels:\n  console: {type: webhook, url: 'https://x.example.com', secret_env: S}\n"
        + "notification_rules:\n  bob:\n    - kinds: [page]\n      notify: [{channel: console}]\n"
    )
    status = channel_status(parse_policy(text), {})
    assert status.fallback is None and "console" in status.not_configured
    messages = dict(_warnings(text, {}))
    assert messages["notification_rules.bob"].endswith(
        "their pages reach them at once by no channel"
    )


def test_steps_on_channels_that_cannot_send_are_dropped_and_the_console_added() -> None:
    policy = parse_policy(example_policy_text())
    steps = plan_steps(policy, person="alice", kind="page", severity="SEV1")
    assert [s.channel for s in steps] == ["sms", "voice", "slack", "email"]

    nothing = deliverable_steps(
        steps, can_send=lambda c: c == "console", reaches=lambda c: c == "console",
        fallback="console",
    )  # fmt: skip
    assert [(s.channel, s.after) for s in nothing] == [("console", timedelta(0))]

    slack = deliverable_steps(
        steps, can_send=lambda c: c in ("slack", "console"), reaches=lambda c: True,
        fallback="console",
    )  # fmt: skip
    assert [s.channel for s in slack] == ["slack"]  # reached at once: no console

    # Only a delayed step can reach: the console carries the page meanwhile.
    later = deliverable_steps(
        steps, can_send=lambda c: c in ("email", "console"), reaches=lambda c: True,
        fallback="console",
    )  # fmt: skip
    assert [(s.channel, s.after) for s in later] == [
        ("console", timedelta(0)),
        ("email", timedelta(minutes=2)),
    ]
    # A configured channel the person has no address on does not count as reaching them.
    no_phone = deliverable_steps(
        [PlannedStep(0, "sms", timedelta(0), None)],
        can_send=lambda c: True, reaches=lambda c: c != "sms", fallback="console",
    )  # fmt: skip
    assert [s.channel for s in no_phone] == ["console", "sms"]


def test_messages_are_named_in_words() -> None:
    assert message_noun("page") == "page"
    assert message_noun("broadcast") == "announcement"
    assert message_noun("stakeholder", plural=True) == "stakeholder updates"
    assert message_noun("custom") == "custom message"
