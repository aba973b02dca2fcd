"""The delivery worker against real receivers, on SQLite and PostgreSQL.

Email goes through a real SMTP server (aiosmtpd) and webhooks to a real HTTP receiver
that checks the signature and drops repeats by ``Idempotency-Key``. Time is a fake
clock: the harness jumps from one due moment to the next, so twenty minutes of retries
take milliseconds; the sends themselves are real network round trips.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from tests.support.delivery_harness import ChannelHarness
from tests.support.receivers import SmtpReceiver, WebhookReceiver

from tocsin.clock import FakeClock
from tocsin.db import session as db_session
from tocsin.db import session_scope
from tocsin.engine.delivery import Outcome
from tocsin.incidents import service
from tocsin.notify import outbox
from tocsin.notify.channels import OutboundMessage
from tocsin.notify.models import NotificationKind
from tocsin.notify.service import enqueue, list_notifications
from tocsin.web.context import AppContext

SECRET = "s3cret-signing-key"
SMTP_PASSWORD = "hunter2-smtp"
ENV = {"TOCSIN_TEST_WEBHOOK_SECRET": SECRET, "TOCSIN_TEST_SMTP_PASSWORD": SMTP_PASSWORD}

BASE = """
severities:
  - {name: SEV1, aliases: [P0], respond_within: 5m, escalate_after: 15m, update_every: 15m,
     resolve_target: 30m, postmortem_required: true}
  - {name: SEV2, aliases: [P1], respond_within: 15m, escalate_after: 30m, update_every: 30m,
     resolve_target: 2h}
people:
  - {name: alice, full_name: Alice Anders, email: alice@example.com, chat: "@alice",
     phone: "+15555550101"}
  - {name: bob, full_name: Bob Baker, email: bob@example.com}
teams:
  - {name: platform, members: [alice, bob], lead: alice}
escalation_policies:
  - name: main
    tiers:
      - {timeout: 1h, targets: [{person: alice}]}
services:
  - {name: api, team: platform, escalation_policy: main, customer_facing: true}
"""


def email_channel(port: int, **extra: str) -> str:
    settings = ", ".join(f"{k}: {v}" for k, v in extra.items())
    return (
        f"  email: {{type: email, host: 127.0.0.1, port: {port}, security: none, "
        f'from: "Tocsin <tocsin@example.com>"{", " + settings if settings else ""}}}\n'
    )


def webhook_channel(name: str, url: str, **extra: str) -> str:
    settings = ", ".join(f"{k}: {v}" for k, v in extra.items())
    return (
        f"  {name}: {{type: webhook, url: {url!r}, secret_env: TOCSIN_TEST_WEBHOOK_SECRET"
        f"{', ' + settings if settings else ''}}}\n"
    )


class Harness(ChannelHarness):
    def __init__(self, context: AppContext, clock: FakeClock) -> None:
        super().__init__(context, clock, ENV, after_send=self._after_send)
        self.crash_next = 0

    def _after_send(self, message: OutboundMessage, outcome: Outcome) -> None:
        if self.crash_next:
            self.crash_next -= 1
            raise RuntimeError("simulated crash between the send and the commit")

    def configure(self, channels: str = "", rest: str = "") -> None:
        path = self.context.policy.path
        assert path is not None
        text = BASE + (f"channels:\n{channels}" if channels else "") + rest
        path.write_text(text, encoding="utf-8")
        self.context.policy.reload()

    def declare(self, severity: str = "SEV2", title: str = "API down") -> str:
        return super().declare(severity, title)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(BASE, encoding="utf-8")
    return path


@pytest.fixture
def h(app_context: AppContext, clock: FakeClock) -> Iterator[Harness]:
    harness = Harness(app_context, clock)
    yield harness
    harness.delivery.shutdown()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver(users={"tocsin": SMTP_PASSWORD}) as receiver:
        yield receiver


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret=SECRET).start()
    yield receiver
    receiver.stop()


# ---------------------------------------------------------------- email


def test_a_page_arrives_by_email_through_a_real_smtp_server(h: Harness, smtp: SmtpReceiver) -> None:
    h.configure(
        email_channel(smtp.port, username="tocsin", password_env="TOCSIN_TEST_SMTP_PASSWORD")
    )
    ref = h.declare("SEV2", title="Checkout <errors> & timeouts")
    h.at(1)

    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail.rcpt_tos == ["alice@example.com"]
    assert mail.authenticated_as == "tocsin"
    msg = mail.message
    assert msg["From"] == "Tocsin <tocsin@example.com>"
    assert msg["To"] == "Alice Anders <alice@example.com>"
    assert msg["Subject"] == f"[SEV2] {ref}: Checkout <errors> & timeouts"
    assert msg["X-Tocsin-Incident"] == ref
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"].endswith("@example.com>")
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "Why you: tier 1 of main (incident triggered)" in text.get_content()
    assert "Checkout &lt;errors&gt; &amp; timeouts" in html.get_content()

    [delivery] = h.deliveries()
    assert (delivery.channel, delivery.target, delivery.state) == (
        "email",
        "alice@example.com",
        "sent",
    )
    assert delivery.attempts == 1 and delivery.sent_at == h.when(0)
    [page] = h.notifications()
    assert (page.state, page.sent_at, page.last_error) == ("sent", h.when(0), None)
    # The password never shows in what users can read.
    assert SMTP_PASSWORD not in repr([(d.last_error, d.delay_reason) for d in h.deliveries()])


def test_email_over_starttls_with_a_trusted_certificate(h: Harness, tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    server_context = cert.server_context() if hasattr(cert, "server_context") else None
    if server_context is None:
        import ssl

        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with SmtpReceiver(
        users={"tocsin": SMTP_PASSWORD}, tls_context=server_context, require_starttls=True
    ) as smtp:
        h.configure(
            f"  email: {{type: email, host: 127.0.0.1, port: {smtp.port}, security: starttls, "
            f'username: tocsin, password_env: TOCSIN_TEST_SMTP_PASSWORD, ca_file: "{ca_file}", '
            'from: "tocsin@example.com"}\n'
        )
        h.declare()
        h.at(1)
        assert len(smtp.messages) == 1
        assert smtp.messages[0].tls and smtp.messages[0].authenticated_as == "tocsin"
    assert [d.state for d in h.deliveries()] == ["sent"]


def test_wrong_smtp_password_fails_at_once_without_leaking_it(
    h: Harness, smtp: SmtpReceiver
) -> None:
    smtp.users["tocsin"] = "another-password"
    h.configure(
        email_channel(smtp.port, username="tocsin", password_env="TOCSIN_TEST_SMTP_PASSWORD")
    )
    ref = h.declare()
    h.at(1)
    [delivery] = h.deliveries()
    assert delivery.state == "failed" and delivery.attempts == 1
    assert "authentication refused (535)" in (delivery.last_error or "")
    failed = [s for k, s in h.timeline(ref) if k == "notification_failed"]
    assert failed and "by email: SMTP authentication refused" in failed[0]
    assert all(SMTP_PASSWORD not in s for _, s in h.timeline(ref))
    assert smtp.messages == []


def test_an_unknown_outcome_by_email_is_not_resent(h: Harness, smtp: SmtpReceiver) -> None:
    """The worker dies after the SMTP server took the message, before recording it: the
    delivery stays `sending` until its deadline, then fails as "outcome unknown" — email
    has no idempotency key, so it is not sent a second time."""
    h.configure(email_channel(smtp.port))
    ref = h.declare()
    h.crash_next = 1
    h.delivery.run_due()
    [delivery] = h.deliveries()
    assert delivery.state == "sending" and delivery.deadline_at is not None
    assert len(smtp.messages) == 1

    h.at(5)
    [delivery] = h.deliveries()
    assert delivery.state == "failed"
    assert "outcome unknown" in (delivery.last_error or "")
    assert "not resent: email has no idempotency key" in (delivery.last_error or "")
    assert len(smtp.messages) == 1
    assert [n.state for n in h.notifications()] == ["failed"]
    assert any(k == "notification_failed" for k, _ in h.timeline(ref))


# ---------------------------------------------------------------- webhooks


def test_a_signed_webhook_carries_the_message(h: Harness, hook: WebhookReceiver) -> None:
    h.configure(
        webhook_channel("ops", hook.url),
        rest="notification_rules:\n  '*':\n    - notify: [{channel: ops}]\n",
    )
    ref = h.declare("SEV1")
    h.at(1)
    [request] = hook.requests
    assert request.signature_ok is True and request.status == 200
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Tocsin-Event"] == "page"
    [delivery] = h.deliveries()
    assert headers["Idempotency-Key"] == delivery.key
    body = request.json()
    assert body["id"] == delivery.key and body["kind"] == "page" and body["attempt"] == 1
    assert body["incident"] == {
        "id": ref,
        "title": "API down",
        "severity": "SEV1",
        "status": "triggered",
    }
    assert body["recipient"]["name"] == "alice" and body["recipient"]["phone"] == "+15555550101"
    assert body["subject"] == f"[SEV1] {ref}: API down"
    assert SECRET not in request.body.decode()


def test_a_page_is_claimed_in_the_transaction_that_expands_it(
    h: Harness, hook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the outbox to the send is one turn of the writer: on the worst day each
    turn is waited for, so a second one (claiming apart from expanding) made every page
    wait twice."""
    h.configure(
        webhook_channel("ops", hook.url),
        rest="notification_rules:\n  '*':\n    - notify: [{channel: ops}]\n",
    )
    h.declare("SEV1")
    turns: list[str] = []
    caller = threading.get_ident()

    def count(_session: object, writer: str, _seconds: float) -> None:
        if threading.get_ident() == caller:  # not the send's outcome, in the pool
            turns.append(writer)

    monkeypatch.setattr(db_session, "WAIT_OBSERVERS", [*db_session.WAIT_OBSERVERS, count])
    monkeypatch.setattr(h.delivery.feed, "needed", lambda **_: False)  # broadcasts aside
    assert h.delivery.run_due(wait=False) == 1  # the page's send started...
    assert turns == ["background"]  # ...after one write transaction
    h.delivery.run_due()
    [request] = hook.requests
    assert request.status == 200
    [delivery] = h.deliveries()
    assert delivery.state == "sent" and delivery.attempts == 1


def test_an_announcement_starts_one_write_transaction_after_the_page(
    h: Harness, hook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page is claimed in the transaction that expands it; the broadcast feed then
    queues, expands and claims the announcement in one more (it had two of its own), and
    never delays the page."""
    h.configure(
        webhook_channel("ops", hook.url),
        rest="notification_rules:\n  '*':\n    - notify: [{channel: ops}]\n"
        "broadcasts:\n  - {name: ops, severities: [SEV1], to: [{channel: ops}]}\n",
    )
    h.declare("SEV1")
    turns: list[list[tuple[str, str]]] = []
    caller = threading.get_ident()

    def count(_session: object, _writer: str, _seconds: float) -> None:
        if threading.get_ident() == caller:  # not the sends' outcomes, in the pool
            turns.append(sorted((d.channel, d.state) for d in h.deliveries()))

    monkeypatch.setattr(db_session, "WAIT_OBSERVERS", [*db_session.WAIT_OBSERVERS, count])
    assert h.delivery.run_due(wait=False) == 2  # the page's send and the announcement's...
    assert len(turns) == 2  # ...after two write transactions
    assert turns[0] == []  # the first expands the page and claims it...
    assert turns[1] == [("ops", "sending")]  # ...before the feed's pass
    h.delivery.run_due()
    assert sorted(p["kind"] for p in hook.processed) == ["broadcast", "page"]


def test_a_failing_broadcast_feed_holds_back_no_page(
    h: Harness,
    hook: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The feed shares the page's transaction, in a savepoint of its own: when it fails,
    the page still goes, and the announcement follows once the feed works again."""
    h.configure(
        webhook_channel("ops", hook.url),
        rest="notification_rules:\n  '*':\n    - notify: [{channel: ops}]\n"
        "broadcasts:\n  - {name: ops, severities: [SEV1], to: [{channel: ops}]}\n",
    )
    h.declare("SEV1")
    working = h.delivery.feed.run

    def broken(**_kwargs: object) -> int:
        raise RuntimeError("a template that cannot render")

    monkeypatch.setattr(h.delivery.feed, "run", broken)
    h.delivery.run_due()
    assert [p["kind"] for p in hook.processed] == ["page"]
    assert "announcing new timeline events failed" in caplog.text
    monkeypatch.setattr(h.delivery.feed, "run", working)
    h.delivery.run_due()
    assert sorted(p["kind"] for p in hook.processed) == ["broadcast", "page"]


def test_a_receiver_that_fails_twice_gets_the_message_exactly_once(
    h: Harness, hook: WebhookReceiver
) -> None:
    hook.script = [500, 503]
    h.configure(
        webhook_channel("ops", hook.url),
        rest="notification_rules:\n  '*':\n    - notify: [{channel: ops}]\n",
    )
    h.declare()
    h.delivery.run_due()
    [waiting] = h.notifications("pending")
    assert waiting.due_at == h.when(0) + timedelta(seconds=7.5)  # 10s backoff, jitter 0.5
    assert waiting.delay_reason == "retry 2 of 10 in 8s (HTTP 500)"
    h.at(5)
    assert [r.status for r in hook.requests] == [500, 503, 200]
    assert len(hook.processed) == 1
    [delivery] = h.deliveries()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("sent", 3, None)
    assert delivery.sent_at == h.when(0) + timedelta(seconds=7.5 + 15)
    assert len({r.headers["Idempotency-Key"] for r in hook.requests}) == 1


def test_a_receiver_down_for_twenty_minutes_gets_the_message_when_it_is_back(
    h: Harness,
) -> None:
    hook = WebhookReceiver(secret=SECRET)  # not started: nothing listens on its port
    h.configure(
        webhook_channel("ops", hook.url),
        rest="notification_rules:\n  '*':\n    - notify: [{channel: ops}]\n",
    )
    h.declare()
    h.at(20)
    [delivery] = h.deliveries()
    assert delivery.state == "pending" and delivery.attempts == 8
    assert "cannot connect" in (delivery.last_error or "")
    pending = h.notifications("pending")
    assert len(pending) == 1 and pending[0].due_at > h.when(20)
    hook.start()
    try:
        h.at(25)
    finally:
        hook.stop()
    [delivery] = h.deliveries()
    assert delivery.state == "sent" and delivery.attempts == 9
    assert len(hook.requests) == 1 and len(hook.processed) == 1
    assert h.notifications("failed") == []


def test_a_receiver_that_never_answers_becomes_a_dead_letter(h: Harness) -> None:
    hook = WebhookReceiver(secret=SECRET)  # never started
    h.configure(
        webhook_channel("ops", hook.url, retry="{max_attempts: 3, backoff: 10s}"),
        rest="notification_rules:\n  '*':\n    - notify: [{channel: ops}]\n",
    )
    ref = h.declare()
    h.at(25)
    [delivery] = h.deliveries()
    assert delivery.state == "failed" and delivery.attempts == 3
    assert (delivery.last_error or "").startswith("gave up after 3 attempts: cannot connect")
    [dead] = h.notifications("failed")
    assert dead.person == "alice" and "ops: gave up after 3 attempts" in (dead.last_error or "")
    failures = [s for k, s in h.timeline(ref) if k == "notification_failed"]
    assert len(failures) == 1 and "Could not deliver the page to alice by ops" in failures[0]


def test_a_crash_between_send_and_commit_is_resent_under_the_same_key(
    h: Harness, hook: WebhookReceiver
) -> None:
    h.configure(
        webhook_channel("ops", hook.url),
        rest="notification_rules:\n  '*':\n    - notify: [{channel: ops}]\n",
    )
    h.declare()
    h.crash_next = 1
    h.delivery.run_due()
    [delivery] = h.deliveries()
    assert delivery.state == "sending"  # the outcome was never recorded
    assert len(hook.requests) == 1
    h.at(5)  # past the deadline: the next worker pass recovers it
    [delivery] = h.deliveries()
    assert (delivery.state, delivery.attempts) == ("sent", 2)
    assert len(hook.requests) == 2
    assert (
        hook.requests[0].headers["Idempotency-Key"] == hook.requests[1].headers["Idempotency-Key"]
    )
    assert len(hook.processed) == 1  # the receiver dropped the second copy


def test_a_429_holds_the_whole_channel_for_retry_after(h: Harness, hook: WebhookReceiver) -> None:
    hook.script = [(429, {"Retry-After": "120"})]
    h.configure(webhook_channel("ops", hook.url, concurrency="1"))
    h.message("m1", channel="ops")
    h.delivery.run_due()
    h.message("m2", channel="ops")
    h.delivery.run_due()
    first, second = h.deliveries()
    assert first.state == "pending" and first.attempts == 0  # a 429 is not the message's fault
    assert first.due_at == h.when(2) and "rate-limited by the receiver" in (
        first.delay_reason or ""
    )
    assert second.state == "pending" and second.due_at == h.when(2)
    assert len(hook.requests) == 1
    h.at(3)
    assert [d.state for d in h.deliveries()] == ["sent", "sent"]
    assert len(hook.processed) == 2


# ---------------------------------------------------------------- throttles


def test_the_sixth_sms_in_fifteen_minutes_waits_and_says_why(
    h: Harness, hook: WebhookReceiver
) -> None:
    h.configure(webhook_channel("sms", hook.url, rate_limit="{count: 5, per: 15m}"))
    for n in range(5):
        h.message(f"m{n}", channel="sms")
        h.at(n)  # one a minute
    h.message("m5", channel="sms")
    h.at(5)
    assert len(hook.processed) == 5
    [waiting] = h.notifications("pending")
    assert waiting.due_at == h.when(15)  # when the first of the five leaves the window
    assert waiting.delay_reason == "throttled: 5 sms in 15m"
    assert [d.delay_reason for d in h.deliveries() if d.state == "pending"] == [
        "throttled: 5 sms in 15m"
    ]
    h.at(14)
    assert len(hook.processed) == 5
    h.at(16)
    assert len(hook.processed) == 6
    assert h.notifications("pending") == []


def test_a_per_person_limit_delays_only_that_person(h: Harness, hook: WebhookReceiver) -> None:
    h.configure(webhook_channel("sms", hook.url, person_rate_limit="{count: 2, per: 10m}"))
    for key in ("a1", "a2", "a3"):
        h.message(key, person="alice", channel="sms")
    h.message("b1", person="bob", channel="sms")
    h.at(1)
    assert sorted(p["subject"] for p in hook.processed) == [
        "message a1",
        "message a2",
        "message b1",
    ]
    [waiting] = h.notifications("pending")
    assert waiting.person == "alice" and waiting.delay_reason == "throttled: 2 sms to alice in 10m"
    h.at(11)
    assert len(hook.processed) == 4


# ---------------------------------------------------------------- who gets what


SEV1_RULES = """
notification_rules:
  alice:
    - severities: [P0]
      kinds: [page]
      notify:
        - {channel: chat}
        - {channel: sms}
        - {channel: email, after: 2m}
"""


def _sev1_channels(hook: WebhookReceiver, smtp: SmtpReceiver) -> str:
    return (webhook_channel("chat", hook.url) + webhook_channel("sms", hook.url)) + email_channel(
        smtp.port
    )


def test_sev1_chat_and_sms_at_once_then_email_after_two_minutes(
    h: Harness, hook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    h.configure(_sev1_channels(hook, smtp), SEV1_RULES)
    h.declare("SEV1")
    h.at(1)
    assert sorted(p["channel"] for p in hook.processed) == ["chat", "sms"]
    assert smtp.messages == []
    [page] = h.notifications("pending")  # the email step is still to come
    assert page.due_at == h.when(2)
    h.at(3)
    assert len(smtp.messages) == 1
    email = h.deliveries("email")[0]
    assert email.sent_at == h.when(2) and email.step == 2
    assert [n.state for n in h.notifications()] == ["sent"]


def test_the_delayed_email_is_skipped_once_the_incident_is_acknowledged(
    h: Harness, hook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    h.configure(_sev1_channels(hook, smtp), SEV1_RULES)
    ref = h.declare("SEV1")
    h.at(1)
    h.act(ref, "ack")
    h.at(10)
    assert smtp.messages == []
    email = h.deliveries("email")[0]
    assert email.state == "cancelled"
    assert [n.state for n in h.notifications()] == ["sent"]


def test_a_delayed_step_of_another_kind_is_skipped_when_moot(
    h: Harness, hook: WebhookReceiver
) -> None:
    h.configure(
        webhook_channel("ops", hook.url),
        "notification_rules:\n  bob:\n    - notify: [{channel: ops, after: 5m}]\n",
    )
    ref = h.declare("SEV2")
    with session_scope(h.context.sessions) as session:
        incident = service.get(session=session, ref=ref)
        enqueue(
            session=session,
            key="stakeholder/bob",
            person="bob",
            kind=NotificationKind.stakeholder,
            subject="FYI",
            body="FYI",
            reason="test",
            now=h.clock.now(),
            incident_id=incident.id,
        )
    h.at(1)
    h.act(ref, "ack")  # acknowledging cancels pages, not stakeholder messages...
    h.at(10)
    [delivery] = h.deliveries("ops")
    assert delivery.person == "bob" and delivery.state == "cancelled"  # ...the rule's step is
    assert delivery.delay_reason == f"skipped: {ref} was acknowledged"
    assert hook.requests == []


def test_a_channel_nobody_configured_is_skipped_quietly(h: Harness, smtp: SmtpReceiver) -> None:
    h.configure(
        email_channel(smtp.port),
        "notification_rules:\n  alice:\n    - notify: [{channel: slack}, {channel: email}]\n",
    )
    ref = h.declare()
    h.at(1)
    [email] = h.deliveries()  # no delivery, no attempt and no failure on slack
    assert (email.channel, email.state) == ("email", "sent")
    [page] = h.notifications()
    assert (page.state, page.last_error) == ("sent", None)
    story = h.timeline(ref)
    assert ("page_delivered", "Page to alice delivered by email") in story
    assert not [k for k, _ in story if k == "notification_failed"]


def test_without_any_channel_a_page_goes_to_the_console(
    h: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = h.declare()  # alice has no rules: email by default, and no email channel
    h.at(1)
    [delivery] = h.deliveries()
    assert (delivery.channel, delivery.state, delivery.target) == ("console", "sent", "alice")
    [page] = h.notifications()
    assert page.state == "sent" and page.last_error is None
    assert ("page_delivered", "Page to alice delivered by console") in h.timeline(ref)
    assert not [k for k, _ in h.timeline(ref) if k == "notification_failed"]
    lines = capsys.readouterr().err.splitlines()
    assert f"page for alice (Alice Anders) by console: [SEV2] {ref}: API down" in "\n".join(lines)


def test_a_page_no_channel_can_carry_is_a_dead_letter_not_a_silent_drop(
    h: Harness, hook: WebhookReceiver
) -> None:
    # "console" is taken by a webhook whose secret is missing: nothing at all can send.
    h.configure(
        webhook_channel("console", hook.url).replace(
            "TOCSIN_TEST_WEBHOOK_SECRET", "TOCSIN_TEST_UNSET"
        ),
        "notification_rules:\n  alice:\n    - notify: [{channel: console}]\n",
    )
    ref = h.declare()
    h.at(1)
    [page] = h.notifications("failed")
    assert page.person == "alice"
    assert page.last_error == "console: no configured channel can reach alice"
    assert any(k == "notification_failed" for k, _ in h.timeline(ref))
    assert hook.processed == []


def test_a_page_whose_steps_are_all_delayed_also_goes_to_the_console_at_once(
    h: Harness, hook: WebhookReceiver
) -> None:
    h.configure(
        webhook_channel("ops", hook.url),
        "notification_rules:\n  alice:\n    - notify: [{channel: ops, after: 5m}]\n",
    )
    h.declare()
    h.at(1)
    assert [(d.channel, d.state) for d in h.deliveries()] == [
        ("console", "sent"),
        ("ops", "pending"),
    ]
    h.at(6)
    assert [(d.channel, d.state) for d in h.deliveries()] == [("console", "sent"), ("ops", "sent")]


# ---------------------------------------------------------------- broadcasts


BROADCASTS = """
broadcasts:
  - name: incidents-channel
    severities: [SEV1, SEV2]
    to:
      - {channel: incidents, target: "#incidents"}
      - {channel: slack, target: "#team-{team}"}
"""


def test_broadcasts_announce_declaration_updates_and_resolution(
    h: Harness, hook: WebhookReceiver
) -> None:
    h.configure(webhook_channel("incidents", hook.url), BROADCASTS)
    ref = h.declare("SEV1")
    h.at(1)
    h.act(ref, "update", "Rolled back the deploy")
    h.at(2)
    h.act(ref, "resolve")
    h.at(3)
    posts = [p for p in hook.processed if p["kind"] == "broadcast"]
    assert [p["target"] for p in posts] == ["#incidents"] * 3
    declared, update, resolved = posts
    assert declared["subject"] == "[SEV1] Incident declared: API down"
    assert f"Incident ID: {ref}" in declared["text"]
    assert "Incident Channel: #incident-2026-03-02-api-down" in declared["text"]
    assert "Progress: Rolled back the deploy" in update["text"]
    assert resolved["subject"] == f"[RESOLVED] {ref}: API down"
    assert "Duration: 2026-03-02 09:00 UTC - 2026-03-02 09:02 UTC (2m)" in resolved["text"]
    # Slack is not configured here: nothing is queued for it, and nothing fails.
    assert h.deliveries("slack") == []
    assert not [k for k, _ in h.timeline(ref) if k == "notification_failed"]


def test_failures_say_what_was_not_delivered_to_whom_in_words(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    gone = WebhookReceiver(script=[410] * 10).start()
    try:
        h.configure(
            webhook_channel("incidents", gone.url) + webhook_channel("ops", gone.url),
            BROADCASTS.replace('      - {channel: slack, target: "#team-{team}"}\n', "")
            + "  - name: pager\n    to: [{channel: ops}]\n"  # no target: the URL's
            + "notification_rules:\n  alice:\n    - notify: [{channel: ops}]\n",
        )
        with caplog.at_level("WARNING", logger="tocsin.delivery"):
            ref = h.declare("SEV1")
            h.at(1)
    finally:
        gone.stop()
    failures = sorted(s for k, s in h.timeline(ref) if k == "notification_failed")
    assert failures == [
        "Could not deliver the announcement by ops: HTTP 410",
        "Could not deliver the announcement to #incidents by incidents: HTTP 410",
        "Could not deliver the page to alice by ops: HTTP 410",
    ]
    logged = sorted(r.getMessage().split(" (", 1)[1] for r in caplog.records)
    assert logged == [
        "announcement by ops) failed: HTTP 410",
        "announcement to #incidents by incidents) failed: HTTP 410",
        "page to alice by ops) failed: HTTP 410",
    ]


def test_a_broadcast_without_a_target_goes_to_the_webhook_url(
    h: Harness, hook: WebhookReceiver
) -> None:
    h.configure(
        webhook_channel("announce", hook.url),
        "broadcasts:\n  - {name: ops, severities: [SEV1], to: [{channel: announce}]}\n",
    )
    ref = h.declare("SEV1")
    h.at(1)
    [post] = [p for p in hook.processed if p["kind"] == "broadcast"]
    assert post["subject"] == "[SEV1] Incident declared: API down"
    assert post["target"] is None
    assert [(d.state, d.last_error) for d in h.deliveries("announce")] == [("sent", None)]
    assert ref in post["text"]


def test_broadcasts_skip_other_severities_and_never_replay_history(
    h: Harness, hook: WebhookReceiver
) -> None:
    h.declare("SEV1")  # before any broadcast was configured
    h.at(1)
    h.configure(webhook_channel("incidents", hook.url), BROADCASTS.replace("SEV1, SEV2", "SEV1"))
    h.declare("SEV2")
    h.at(2)
    assert hook.processed == []


# ---------------------------------------------------------------- isolation


def test_a_slow_channel_does_not_hold_up_another(
    h: Harness, smtp: SmtpReceiver, hook: WebhookReceiver
) -> None:
    release = threading.Event()
    hook.on_request = lambda _r: release.wait(10)
    h.configure(
        webhook_channel("slow", hook.url) + email_channel(smtp.port),
        "notification_rules:\n  alice:\n    - notify: [{channel: slow}, {channel: email}]\n",
    )
    h.declare()
    h.delivery.run_due(wait=False)
    deadline = time.monotonic() + 10
    while not smtp.messages and time.monotonic() < deadline:
        time.sleep(0.02)
        h.delivery.run_due(wait=False)
    assert len(smtp.messages) == 1
    assert [d.state for d in h.deliveries("slow")] == ["sending"]
    release.set()
    h.delivery.run_due()
    assert [d.state for d in h.deliveries()] == ["sent", "sent"]


def test_the_pending_view_shows_when_and_why(h: Harness, hook: WebhookReceiver) -> None:
    hook.script = [500]
    h.configure(
        webhook_channel("ops", hook.url),
        rest="notification_rules:\n  '*':\n    - notify: [{channel: ops}]\n",
    )
    h.declare()
    h.delivery.run_due()
    with session_scope(h.context.sessions, write=False) as session:
        rows, total = list_notifications(session=session, states=["pending"])
        deliveries = outbox.deliveries_of(session=session, notification_ids=[r.id for r in rows])
    assert total == 1
    [delivery] = deliveries[rows[0].id]
    assert delivery.due_at == rows[0].due_at > h.when(0)
    assert delivery.last_error == "HTTP 500"
