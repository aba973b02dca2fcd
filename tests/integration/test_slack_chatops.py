"""Slack's requests to a running Tocsin: button clicks and ``/incident`` commands,
signed as Slack signs them (``v0`` HMAC-SHA256 of ``v0:{timestamp}:{body}``), through
the HTTP endpoints; the effects are checked through the services the API uses."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from tests.conftest import LiveServer
from tests.support.slack_api import SlackApi

from tocsin.db import session_scope
from tocsin.incidents import service
from tocsin.notify.refs import incident_subject, put_ref
from tocsin.notify.service import list_notifications

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ALICE, BOB, STRANGER = "U0ALICE01", "U0BOB0001", "U0NOBODY1"
CLIENT = httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0))

POLICY = """
severities:
  - {name: SEV1, aliases: [P0], respond_within: 5m, escalate_after: 15m, update_every: 15m,
     resolve_target: 1h}
  - {name: SEV2, aliases: [P1], respond_within: 15m, escalate_after: 30m, update_every: 30m,
     resolve_target: 4h}
people:
  - {name: alice, full_name: Alice Anders, slack: U0ALICE01}
  - {name: bob, full_name: Bob Baker, slack: U0BOB0001, chat: "@bobby"}
  - {name: carol, full_name: Carol Chen}
escalation_policies:
  - name: main
    tiers:
      - {timeout: 30m, targets: [{person: alice}]}
      - {timeout: 30m, targets: [{person: bob}]}
services:
  - {name: checkout, escalation_policy: main}
channels:
  slack:
    type: slack
    token_env: TOCSIN_TEST_SLACK_TOKEN
    signing_secret_env: TOCSIN_TEST_SLACK_SIGNING_SECRET
    base_url: "http://127.0.0.1:9/api/"
runbooks:
  db-pool:
    description: Connection pool exhausted
    services: [checkout]
    steps:
      - Check the pool metrics on the database dashboard
      - title: Find who holds the connections
        command: "SELECT pid, state FROM pg_stat_activity"
"""


@pytest.fixture
def server(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    monkeypatch.setenv("TOCSIN_TEST_SLACK_SIGNING_SECRET", SECRET)
    path = live_server.context.policy.path
    assert path is not None
    path.write_text(POLICY, encoding="utf-8")
    live_server.context.policy.reload()
    return live_server


@pytest.fixture
def slack_api() -> Iterator[SlackApi]:
    with SlackApi() as api:
        yield api


def signed(body: bytes, timestamp: int, secret: str = SECRET) -> dict[str, str]:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature,
    }


def now_ts(server: LiveServer) -> int:
    return int(server.clock.now().timestamp())


def click(
    server: LiveServer,
    action: str,
    incident: str,
    *,
    user: str = ALICE,
    response_url: str | None = None,
    signed_at: int | None = None,
    secret: str = SECRET,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Click a button; signed like Slack does unless ``headers`` replace the signature."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": "someone"},
        "channel": {"id": "C0INCIDENT", "name": "incident-2026-03-02-checkout"},
        "actions": [{"action_id": action, "value": incident, "type": "button"}],
    }
    if response_url:
        payload["response_url"] = response_url
    body = urlencode({"payload": json.dumps(payload)}).encode()
    if headers is None:
        headers = signed(body, now_ts(server) if signed_at is None else signed_at, secret)
    return CLIENT.post(
        f"{server.url}/api/v1/chatops/slack/interactions", content=body, headers=headers
    )


def command(
    server: LiveServer, text: str, *, user: str = ALICE, channel: str = "C0GENERAL"
) -> dict[str, Any]:
    body = urlencode(
        {
            "command": "/incident",
            "text": text,
            "user_id": user,
            "channel_id": channel,
            "channel_name": "general",
            "team_id": "T0TEAM",
            "response_url": "https://hooks.slack.com/commands/T0TEAM/1/abc",
        }
    ).encode()
    response = CLIENT.post(
        f"{server.url}/api/v1/chatops/slack/commands",
        content=body,
        headers=signed(body, now_ts(server)),
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def declare(server: LiveServer, title: str = "Checkout 5xx", severity: str = "SEV2") -> str:
    response = CLIENT.post(
        f"{server.url}/api/v1/incidents",
        json={"title": title, "severity": severity, "services": ["checkout"]},
        headers={"Authorization": f"Bearer {server.admin_token}"},
    )
    assert response.status_code == 201, response.text
    ref: str = response.json()["id"]
    return ref


def incident(server: LiveServer, ref: str) -> dict[str, Any]:
    response = CLIENT.get(
        f"{server.url}/api/v1/incidents/{ref}",
        headers={"Authorization": f"Bearer {server.admin_token}"},
    )
    result: dict[str, Any] = response.json()
    return result


def timeline(server: LiveServer, ref: str) -> list[tuple[str, str, str]]:
    response = CLIENT.get(
        f"{server.url}/api/v1/incidents/{ref}/timeline",
        headers={"Authorization": f"Bearer {server.admin_token}"},
    )
    return [(e["kind"], e["actor"], e["summary"]) for e in response.json()["items"]]


# ---------------------------------------------------------------- buttons


def test_acknowledge_button_acts_as_the_slack_users_person(
    server: LiveServer, slack_api: SlackApi
) -> None:
    ref = declare(server)
    response = click(server, "tocsin_acknowledge", ref, response_url=slack_api.response_url())
    assert response.status_code == 200
    assert incident(server, ref)["status"] == "acknowledged"
    assert ("acknowledged", "alice", "Acknowledged by alice") in timeline(server, ref)
    assert slack_api.responses == [
        {
            "text": f"{ref} acknowledged by Alice Anders.",
            "response_type": "ephemeral",
            "replace_original": False,
        }
    ]


def test_resolve_button_resolves(server: LiveServer) -> None:
    ref = declare(server)
    response = click(server, "tocsin_resolve", ref, user=BOB)
    assert response.status_code == 200
    assert response.json()["text"] == f"{ref} resolved by Bob Baker."
    assert incident(server, ref)["status"] == "resolved"
    assert any(kind == "resolved" and actor == "bob" for kind, actor, _ in timeline(server, ref))


def test_a_second_acknowledgement_is_answered_not_failed(server: LiveServer) -> None:
    ref = declare(server)
    click(server, "tocsin_acknowledge", ref)
    response = click(server, "tocsin_acknowledge", ref, user=BOB)
    assert response.status_code == 200
    assert "already acknowledged (acknowledged by alice)" in response.json()["text"]


def test_unknown_slack_user_is_told_to_link_the_account(server: LiveServer) -> None:
    ref = declare(server)
    response = click(server, "tocsin_acknowledge", ref, user=STRANGER)
    assert response.status_code == 200
    assert "Link your account" in response.json()["text"]
    assert f"slack: {STRANGER}" in response.json()["text"]
    assert incident(server, ref)["status"] == "triggered"


def test_bad_signatures_are_refused_and_change_nothing(server: LiveServer) -> None:
    ref = declare(server)
    six_minutes_ago = now_ts(server) - 301
    for response in [
        click(server, "tocsin_acknowledge", ref, secret="not-the-secret"),  # forged
        click(server, "tocsin_acknowledge", ref, signed_at=six_minutes_ago),  # stale
        click(server, "tocsin_acknowledge", ref, headers={}),  # missing
        click(
            server,
            "tocsin_acknowledge",
            ref,
            headers={"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=zz"},
        ),
    ]:
        assert response.status_code == 401
    assert "invalid Slack signature" in response.json()["detail"]
    undecodable = httpx.post(
        f"{server.url}/api/v1/chatops/slack/commands",
        content=b"\xff\xfe",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": str(now_ts(server)),
            "X-Slack-Signature": "v0=" + "0" * 64,
        },
    )
    assert undecodable.status_code == 401
    assert incident(server, ref)["status"] == "triggered"


def test_a_request_signed_four_minutes_ago_is_accepted(server: LiveServer) -> None:
    ref = declare(server)
    sent_at = now_ts(server)
    server.clock.advance(timedelta(minutes=4))
    response = click(server, "tocsin_acknowledge", ref, signed_at=sent_at)
    assert response.status_code == 200
    assert incident(server, ref)["status"] == "acknowledged"


def test_signed_but_malformed_payloads_are_400(server: LiveServer) -> None:
    for body in [b"nothing=here", urlencode({"payload": "{not json"}).encode()]:
        response = CLIENT.post(
            f"{server.url}/api/v1/chatops/slack/interactions",
            content=body,
            headers=signed(body, now_ts(server)),
        )
        assert response.status_code == 400
        assert response.json()["detail"].startswith("payload:")


# ---------------------------------------------------------------- slash commands


def test_create_declares_with_severity_and_service(server: LiveServer) -> None:
    answer = command(server, 'create "Checkout is slow" sev2 checkout')
    assert answer["response_type"] == "in_channel"
    assert answer["text"].startswith("Alice Anders declared *INC-1* [SEV2] Checkout is slow")
    created = incident(server, "INC-1")
    assert (created["severity"], created["services"], created["created_by"]) == (
        "SEV2",
        ["checkout"],
        "alice",
    )
    p0 = command(server, 'create "Everything is down" P0')
    assert "[SEV1] Everything is down" in p0["text"]


def test_create_with_drill_declares_a_drill_that_pages_its_responder(server: LiveServer) -> None:
    answer = command(server, 'create "Failover rehearsal" sev2 checkout --drill --responder bob')
    assert answer["text"].startswith("Alice Anders declared a drill, *INC-1* [SEV2]")
    created = incident(server, "INC-1")
    assert (created["drill"], created["drill_responders"]) == (True, ["bob"])
    paged = [(kind, summary) for kind, _, summary in timeline(server, "INC-1") if kind == "paged"]
    assert paged == [("paged", "Paged bob: named in the drill")]
    refused = command(server, 'create "Title" sev2 --responder bob')["text"]
    assert "add --drill" in refused
    assert "unknown option --dril" in command(server, 'create "Title" sev2 --dril')["text"]
    assert incident(server, "INC-2").get("id") is None  # neither was declared


def test_commands_on_an_incident_named_or_from_its_channel(server: LiveServer) -> None:
    ref = declare(server)
    with session_scope(server.context.sessions) as session:
        found = service.get(session=session, ref=ref)
        put_ref(
            session=session,
            system="slack",
            kind="channel",
            subject=incident_subject(found.id),
            external_id="C0INCIDENT",
            now=server.clock.now(),
        )

    status = command(server, f"status {ref}")
    assert status["response_type"] == "ephemeral"
    assert f"*{ref}* [SEV2] Checkout 5xx" in status["text"]
    assert "Status: *triggered*" in status["text"]

    update = command(server, "update We're rolling back deploy 4711", channel="C0INCIDENT")
    assert update["response_type"] == "in_channel"
    assert ("update_posted", "alice") in [(k, a) for k, a, _ in timeline(server, ref)]
    assert any("We're rolling back deploy 4711" in s for _, _, s in timeline(server, ref))

    escalated = command(server, "escalate", channel="C0INCIDENT")
    assert "escalated" in escalated["text"] and "bob" in escalated["text"]
    assert any(k == "escalated" and a == "alice" for k, a, _ in timeline(server, ref))

    lines = command(server, f"timeline {ref}")["text"].splitlines()
    assert lines[0] == f"*{ref}* timeline (UTC):"
    assert any("*declared*" in line for line in lines)
    assert any("*escalated* (alice)" in line for line in lines)

    resolved = command(server, "resolve Rolled back", channel="C0INCIDENT")
    assert resolved["text"] == f"Alice Anders resolved *{ref}*: Rolled back"
    assert incident(server, ref)["status"] == "resolved"


def test_page_pages_that_person(server: LiveServer) -> None:
    ref = declare(server)
    answer = command(server, f"page <@{BOB}|bob> {ref} please look at the DB")
    assert answer["text"] == f"Alice Anders paged Bob Baker for *{ref}*: please look at the DB"
    with session_scope(server.context.sessions, write=False) as session:
        found = service.get(session=session, ref=ref)
        rows, _ = list_notifications(session=session, incident_id=found.id)
    [page] = [r for r in rows if r.person == "bob"]
    assert page.kind == "page" and "please look at the DB" in page.body
    assert any("Reassigned to bob: please look at the DB" in s for _, _, s in timeline(server, ref))
    by_handle = command(server, f"page @bobby {ref}")
    assert by_handle["text"] == f"Alice Anders paged Bob Baker for *{ref}*"


def test_runbook_lists_its_steps(server: LiveServer) -> None:
    answer = command(server, "runbook db-pool")
    assert answer["text"].splitlines() == [
        "*Runbook db-pool*: Connection pool exhausted",
        "1. Check the pool metrics on the database dashboard",
        "2. Find who holds the connections",
        "    `SELECT pid, state FROM pg_stat_activity`",
    ]
    assert "`db-pool`: Connection pool exhausted" in command(server, "runbook")["text"]
    assert "No runbook called `nope`. Known: `db-pool`" in command(server, "runbook nope")["text"]


def test_help_unknown_command_and_unknown_user(server: LiveServer) -> None:
    assert command(server, "")["text"].startswith("*Tocsin* `/incident` commands:")
    unknown = command(server, "dance")
    assert unknown["text"].startswith("I don't know `dance`.")
    assert "/incident runbook" in unknown["text"]
    stranger = command(server, "status INC-1", user=STRANGER)
    assert "Link your account" in stranger["text"]


def test_bad_input_gets_a_helpful_reply(server: LiveServer) -> None:
    assert 'put the title in "quotes"' in command(server, 'create "unfinished sev2')["text"]
    assert command(server, 'create "Only a title"')["text"].startswith("Usage:")
    assert "unknown severity 'sev9'" in command(server, 'create "Title" sev9')["text"]
    assert "unknown service 'nope'" in command(server, 'create "Title" sev2 nope')["text"]
    assert command(server, "status")["text"].startswith("Which incident?")
    assert "not found" in command(server, "status INC-99")["text"]
    assert "I don't know @nobody" in command(server, "page @nobody INC-1")["text"]
