"""SMS and voice pages through Twilio, and acknowledging them by SMS reply or key press.

Outbound: the delivery worker sends through the official ``twilio`` client to a local
server speaking Twilio's REST wire format (``tests/support/twilio_api.py``); the tests
assert the exact requests. Inbound: Twilio's webhooks are posted to a live server,
signed with ``RequestValidator.compute_signature`` as Twilio signs them. Time is a fake
clock. Only the first test runs on PostgreSQL too: the rest do nothing the database
decides.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from tests.conftest import LiveServer
from tests.support.delivery_harness import ChannelHarness
from tests.support.twilio_api import TwilioApi
from twilio.request_validator import RequestValidator

from tocsin.clock import FakeClock
from tocsin.config import Settings
from tocsin.db import session_scope
from tocsin.incidents import service
from tocsin.incidents.models import IncidentCreate
from tocsin.web.context import AppContext

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-not-for-logs"
TOKEN_ENV = "TOCSIN_TEST_TWILIO_TOKEN"
FROM = "+15555550100"
ALICE = "+15555550101"
PUBLIC = "https://tocsin.example.com"
ENV = {TOKEN_ENV: TOKEN, "TOCSIN_PUBLIC_URL": PUBLIC}
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

POLICY = """
severities:
  - {name: SEV1, aliases: [P0], respond_within: 5m, escalate_after: 15m, update_every: 15m,
     resolve_target: 30m, postmortem_required: true}
  - {name: SEV2, aliases: [P1], respond_within: 15m, escalate_after: 30m, update_every: 30m,
     resolve_target: 2h}
people:
  - {name: alice, full_name: Alice Anders, email: alice@example.com, phone: "+15555550101"}
  - {name: bob, full_name: Bob Baker, email: bob@example.com, phone: "+15555550102"}
teams:
  - {name: platform, members: [alice, bob], lead: alice}
escalation_policies:
  - name: main
    tiers:
      - {timeout: 1h, targets: [{person: alice}]}
services:
  - {name: api, team: platform, escalation_policy: main}
notification_rules:
  "*":
    - notify: [{channel: sms}]
"""


def channels(base_url: str, sms: str = "", voice: str = "") -> str:
    common = (
        f'account_sid: {SID}, auth_token_env: {TOKEN_ENV}, from_number: "{FROM}", '
        f"base_url: {base_url!r}"
    )
    return (
        "channels:\n"
        f"  sms: {{type: twilio, mode: sms, {common}{', ' + sms if sms else ''}}}\n"
        f"  voice: {{type: twilio, mode: voice, {common}{', ' + voice if voice else ''}}}\n"
    )


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(POLICY + channels("http://127.0.0.1:9"), encoding="utf-8")
    return path


class Harness(ChannelHarness):
    def __init__(self, context: AppContext, clock: FakeClock, api: TwilioApi) -> None:
        self.environ = dict(ENV)  # a test may take a secret away or rotate it
        super().__init__(context, clock, self.environ)
        self.api = api

    def configure(self, rules: str = "", sms: str = "", voice: str = "") -> None:
        path = self.context.policy.path
        assert path is not None
        text = POLICY.replace('notification_rules:\n  "*":\n    - notify: [{channel: sms}]\n', "")
        text += channels(self.api.url, sms, voice)
        text += rules or 'notification_rules:\n  "*":\n    - notify: [{channel: sms}]\n'
        path.write_text(text, encoding="utf-8")
        self.context.policy.reload()

    def declare(self, severity: str = "SEV2", title: str = "API down") -> str:
        return super().declare(severity, title)


@pytest.fixture
def api() -> Iterator[TwilioApi]:
    with TwilioApi(accounts={SID: TOKEN}) as server:
        yield server


@pytest.fixture
def h(app_context: AppContext, clock: FakeClock, api: TwilioApi) -> Iterator[Harness]:
    harness = Harness(app_context, clock, api)
    yield harness
    harness.delivery.shutdown()


# ---------------------------------------------------------------- outbound


def test_a_page_arrives_as_an_sms_through_the_twilio_client(h: Harness, api: TwilioApi) -> None:
    h.configure()
    ref = h.declare("SEV2", title="Checkout 5xx")
    number = ref.removeprefix("INC-")
    h.at(1)

    [request] = api.requests
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert (request.user, request.password) == (SID, TOKEN)
    assert request.user_agent.startswith("tocsin/")
    assert request.form == {
        "To": ALICE,
        "From": FROM,
        "Body": f"[SEV2] {ref}: Checkout 5xx\nReply 'ack {number}' to acknowledge",
    }
    [delivery] = h.deliveries()
    assert (delivery.channel, delivery.target, delivery.state) == ("sms", ALICE, "sent")
    assert delivery.attempts == 1 and delivery.last_error is None
    assert [n.state for n in h.notifications()] == ["sent"]


@SQLITE_ONLY
def test_a_voice_page_reads_the_incident_and_gathers_one_digit(h: Harness, api: TwilioApi) -> None:
    h.configure(
        rules='notification_rules:\n  "*":\n    - notify: [{channel: voice}]\n',
        voice="language: en-GB, status_callback: https://tocsin.example.com/twilio-status",
    )
    ref = h.declare("SEV1", title="Payments <down> & out")
    number = ref.removeprefix("INC-")
    h.at(1)

    [call] = api.calls()
    assert api.requests[0].path == f"/2010-04-01/Accounts/{SID}/Calls.json"
    assert (call["To"], call["From"]) == (ALICE, FROM)
    assert call["StatusCallback"] == "https://tocsin.example.com/twilio-status"
    twiml = call["Twiml"]
    assert twiml.startswith("<Response><Gather ")
    assert (
        f'action="{PUBLIC}/api/v1/chatops/twilio/voice?incident={number}"' in twiml
        and 'numDigits="1"' in twiml
        and 'method="POST"' in twiml
    )
    assert (
        f'<Say language="en-GB">This is Tocsin. SEV1 incident {number}: '
        "Payments &lt;down&gt; &amp; out.</Say>" in twiml
    )
    assert "Press 1 to acknowledge." in twiml
    assert [d.state for d in h.deliveries()] == ["sent"]


@SQLITE_ONLY
def test_an_invalid_number_fails_at_once_and_says_why(h: Harness, api: TwilioApi) -> None:
    api.script = [400]
    h.configure()
    ref = h.declare()
    h.at(5)
    [delivery] = h.deliveries()
    assert (delivery.state, delivery.attempts) == ("failed", 1)
    assert delivery.last_error == (
        f"Twilio HTTP 400, error 21211: The 'To' number {ALICE} is not a valid phone number."
    )
    failed = [s for k, s in h.timeline(ref) if k == "notification_failed"]
    assert len(failed) == 1 and "to alice by sms: Twilio HTTP 400, error 21211" in failed[0]
    assert len(api.requests) == 1
    assert TOKEN not in repr([(k, s) for k, s in h.timeline(ref)] + [delivery.last_error])


@SQLITE_ONLY
def test_a_twilio_outage_is_retried_and_a_429_holds_the_channel(h: Harness, api: TwilioApi) -> None:
    api.script = [503, 429]
    h.configure()
    h.declare()
    h.delivery.run_due()
    [delivery] = h.deliveries()
    assert delivery.state == "pending" and "Twilio HTTP 503, error 20503" in (
        delivery.delay_reason or ""
    )
    h.at(0.2)  # the retry meets the 429: the whole channel waits its Retry-After
    [delivery] = h.deliveries()
    assert delivery.state == "pending" and delivery.attempts == 1
    assert delivery.due_at == h.when(0) + timedelta(seconds=7.5 + 30)
    assert delivery.delay_reason == "rate-limited by the receiver: retry after 30s"
    h.at(1)
    assert [d.state for d in h.deliveries()] == ["sent"]
    assert len(api.requests) == 3 and len(api.messages()) == 1


@SQLITE_ONLY
def test_a_dropped_connection_is_not_resent(h: Harness, api: TwilioApi) -> None:
    """Twilio has no idempotency key: a text that may have gone out is not sent again."""
    api.script = ["drop"]
    h.configure()
    h.declare()
    h.at(5)
    [delivery] = h.deliveries()
    assert delivery.state == "failed"
    assert (delivery.last_error or "").startswith("connection to Twilio lost")
    assert "not resent: sms has no idempotency key" in (delivery.last_error or "")
    assert len(api.requests) == 1


@SQLITE_ONLY
def test_without_the_auth_token_sms_is_skipped_and_the_page_goes_to_the_console(
    h: Harness, api: TwilioApi
) -> None:
    del h.environ[TOKEN_ENV]
    h.configure()
    ref = h.declare()
    h.at(1)
    [delivery] = h.deliveries()
    assert (delivery.channel, delivery.state) == ("console", "sent")
    assert not [k for k, _ in h.timeline(ref) if k == "notification_failed"]
    assert api.requests == []


@SQLITE_ONLY
def test_a_refused_auth_token_fails_at_once_without_showing_it(h: Harness, api: TwilioApi) -> None:
    h.environ[TOKEN_ENV] = "an-old-rotated-token"
    h.configure()
    h.declare()
    h.at(5)
    [delivery] = h.deliveries()
    assert (delivery.state, delivery.attempts) == ("failed", 1)
    assert delivery.last_error == "Twilio HTTP 401, error 20003: Authenticate"
    assert len(api.requests) == 1 and api.accepted == []


@SQLITE_ONLY
def test_the_sixth_sms_to_one_person_in_fifteen_minutes_waits_and_says_why(
    h: Harness, api: TwilioApi
) -> None:
    h.configure(sms="person_rate_limit: {count: 5, per: 15m}")
    for minute in range(6):
        h.at(minute)
        h.declare(title=f"Outage {minute}")
    h.at(5)
    assert len(api.messages()) == 5
    [waiting] = h.notifications("pending")
    assert waiting.person == "alice"
    assert waiting.due_at == h.when(15)  # when the first of the five leaves the window
    assert waiting.delay_reason == "throttled: 5 sms to alice in 15m"
    h.at(14)
    assert len(api.messages()) == 5
    h.at(16)
    assert len(api.messages()) == 6
    assert api.messages()[5]["Body"].startswith("[SEV2] INC-6: Outage 5")
    assert h.notifications("pending") == []


# ---------------------------------------------------------------- inbound


def _post(
    server: LiveServer,
    path: str,
    form: dict[str, str],
    *,
    signed_url: str | None = None,
    token: str = TOKEN,
    signature: str | None = None,
) -> httpx.Response:
    url = server.url + path
    if signature is None:
        signature = RequestValidator(token).compute_signature(signed_url or url, form)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return httpx.post(url, data=form, headers=headers, timeout=10)


def _sms(reply: str, sender: str = ALICE) -> dict[str, str]:
    return {
        "MessageSid": "SM" + "f" * 32,
        "AccountSid": SID,
        "From": sender,
        "To": FROM,
        "Body": reply,
        "NumMedia": "0",
    }


@pytest.fixture
def server(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return live_server


def _declare(server: LiveServer) -> str:
    with session_scope(server.context.sessions) as session:
        incident = service.declare(
            session=session,
            policy=server.context.policy.current,
            actor="bob",
            data=IncidentCreate(title="API down", severity="SEV2", services=["api"]),
            now=server.clock.now(),
        )
        return f"INC-{incident.number}"


def _incident(server: LiveServer, ref: str) -> tuple[str, list[tuple[str, str, str]]]:
    with session_scope(server.context.sessions, write=False) as session:
        incident = service.get(session=session, ref=ref)
        events = service.timeline(session=session, incident=incident)
        return incident.status, [(e.kind, e.actor, e.summary) for e in events]


@SQLITE_ONLY
def test_replying_ack_acknowledges_as_the_person_with_that_phone(server: LiveServer) -> None:
    ref = _declare(server)
    number = ref.removeprefix("INC-")
    response = _post(server, "/api/v1/chatops/twilio/sms", _sms(f"ACK {ref}"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
        f"Tocsin: {ref} acknowledged by alice: API down</Message></Response>"
    )
    status, events = _incident(server, ref)
    assert status == "acknowledged"
    assert events[-2:] == [
        ("chatops_command", "alice", f"alice replied by SMS: ACK {ref}"),
        ("acknowledged", "alice", "Acknowledged by alice"),
    ]
    again = _post(server, "/api/v1/chatops/twilio/sms", _sms(f"ack {number}"))
    assert f"Tocsin: {ref} is already acknowledged; nothing was changed." in again.text
    assert _incident(server, ref)[1] == events

    resolved = _post(server, "/api/v1/chatops/twilio/sms", _sms(f"resolve {number}"))
    assert f"{ref} resolved by alice" in resolved.text
    assert _incident(server, ref)[0] == "resolved"


@SQLITE_ONLY
def test_a_forged_or_missing_signature_is_refused_and_changes_nothing(
    server: LiveServer,
) -> None:
    ref = _declare(server)
    before = _incident(server, ref)
    path = "/api/v1/chatops/twilio/sms"
    forged = _post(server, path, _sms(f"ack {ref}"), token="not-the-auth-token")
    assert forged.status_code == 403
    assert forged.json()["detail"] == "X-Twilio-Signature invalid: request refused"
    missing = _post(server, path, _sms(f"ack {ref}"), signature="")
    assert missing.status_code == 403
    # Signed for other fields than the ones sent: a tampered body.
    good = RequestValidator(TOKEN).compute_signature(server.url + path, _sms("help"))
    tampered = _post(server, path, _sms(f"ack {ref}"), signature=good)
    assert tampered.status_code == 403
    as_json = httpx.post(server.url + path, json=_sms(f"ack {ref}"), timeout=10)
    assert as_json.status_code == 415
    assert _incident(server, ref) == before
    assert TOKEN not in forged.text + missing.text + tampered.text


@SQLITE_ONLY
def test_an_unknown_number_gets_a_polite_reply_and_changes_nothing(server: LiveServer) -> None:
    ref = _declare(server)
    before = _incident(server, ref)
    response = _post(server, "/api/v1/chatops/twilio/sms", _sms(f"ack {ref}", "+15555559999"))
    assert response.status_code == 200
    assert "does not belong to anyone in the Tocsin policy" in response.text
    assert _incident(server, ref) == before


@SQLITE_ONLY
def test_anything_else_gets_the_help_text(server: LiveServer) -> None:
    ref = _declare(server)
    response = _post(server, "/api/v1/chatops/twilio/sms", _sms("who is on call?"))
    assert "reply 'ack 4711' to acknowledge incident INC-4711" in response.text
    missing = _post(server, "/api/v1/chatops/twilio/sms", _sms("ack 999"))
    assert "INC-999 does not exist; nothing was changed." in missing.text
    assert _incident(server, ref)[0] == "triggered"


@SQLITE_ONLY
def test_pressing_1_in_the_page_call_acknowledges(server: LiveServer) -> None:
    """Signed over the public URL Twilio called (a proxy in front of Tocsin)."""
    settings = server.context.settings
    server.context.settings = Settings(
        policy=settings.policy, database_url=settings.database_url, public_url=PUBLIC
    )
    ref = _declare(server)
    number = ref.removeprefix("INC-")
    path = f"/api/v1/chatops/twilio/voice?incident={number}"
    form = {
        "CallSid": "CA" + "e" * 32,
        "AccountSid": SID,
        "From": FROM,
        "To": ALICE,
        "Direction": "outbound-api",
        "Digits": "1",
    }
    local = _post(server, path, form)  # signed for the URL Tocsin sees, not the public one
    assert local.status_code == 403
    response = _post(server, path, form, signed_url=PUBLIC + path)
    assert response.status_code == 200
    assert response.text == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="en-US">'
        f"incident {number} acknowledged by alice: API down. Goodbye.</Say><Hangup /></Response>"
    )
    status, events = _incident(server, ref)
    assert status == "acknowledged"
    assert events[-2:] == [
        ("chatops_command", "alice", "alice pressed 1 in the page call"),
        ("acknowledged", "alice", "Acknowledged by alice"),
    ]


@SQLITE_ONLY
def test_a_500_may_have_sent_the_text_so_it_is_not_sent_again(h: Harness, api: TwilioApi) -> None:
    api.script = [500]
    h.configure()
    ref = h.declare()
    h.at(1)  # a temporary error would have been retried after 10s
    delivery = h.deliveries()[0]
    assert delivery.state == "failed" and "Twilio HTTP 500" in (delivery.last_error or "")
    assert delivery.attempts == 1 and len(api.requests) == 1
    assert any(k == "notification_failed" for k, _ in h.timeline(ref))
