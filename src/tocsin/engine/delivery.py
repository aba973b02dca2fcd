"""The delivery worker: sends what the outbox holds, through each channel's adapter.

One loop, next to the job worker, does four short database passes and hands sends to
per-channel thread pools:

1. **recover** deliveries left ``sending`` past their deadline by a worker that died or
   hung: their outcome is unknown, so they are sent again only on a channel that
   honours an idempotency key (webhook); otherwise they fail ("outcome unknown"), and the
   escalation, not a blind resend, covers the person;
2. **expand** due messages into deliveries: a person-level message by the person's
   notification rules (several channels, some delayed), a channel-level one (a
   broadcast) into one delivery;
3. **feed** broadcasts from the incident timeline (`tocsin.engine.comms`);
4. **dispatch**, channel by channel: skip delayed steps made moot (the incident was
   acknowledged), fail deliveries to channels that are not configured ("no slack
   channel configured"), delay the ones a rate limit or a Retry-After holds back (with
   the reason on the row), and claim the rest — ``pending`` → ``sending`` with a
   deadline — in one transaction; only after it commits do the sends start.

Each channel has its own pool of ``concurrency`` threads and claims no more than it has
free threads, so a slow or failing channel never holds up another. A send's outcome is
recorded in its own transaction: ``sent``; a retry at exponential backoff with jitter
for errors the adapter calls temporary (up to the channel's ``max_attempts``); or
``failed``, the dead letter, which shows in ``GET /api/v1/notifications?state=failed``
and as ``notification_failed`` on the incident's timeline.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tocsin.clock import Clock
from tocsin.db import SessionFactory, session_scope
from tocsin.engine.comms import BroadcastFeed, person_facts, render_for_incident
from tocsin.incidents.models import Incident
from tocsin.incidents.rules import IncidentStatus, format_incident_id
from tocsin.incidents.service import get_by_id
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.notify import outbox
from tocsin.notify.channels import (
    Channel,
    ChannelServices,
    IncidentSummary,
    OutboundMessage,
    OutcomeUnknown,
    RateLimited,
    Recipient,
    SendError,
    SendReceipt,
    TemporaryError,
    build_channel,
)
from tocsin.notify.models import Delivery, DeliveryState, Notification
from tocsin.notify.rules import (
    PlannedStep,
    backoff,
    plan_steps,
    rate_limit_text,
    throttled_until,
)
from tocsin.notify.service import PERSON_CHANNEL
from tocsin.policy import Policy, PolicyStore, format_duration
from tocsin.policy.channels import ChannelConfig, RateLimit, RetrySettings
from tocsin.templating import TemplateError, message_extras

__all__ = ["AfterSend", "DeliveryWorker", "Outcome"]

log = logging.getLogger("tocsin.delivery")

#: No retry comes back sooner than this, whatever the settings or the receiver say.
_MIN_WAIT = timedelta(seconds=1)
_DONE_STATES = {IncidentStatus.resolved.value, IncidentStatus.closed.value}


@dataclass(frozen=True)
class Outcome:
    """What became of one send: a receipt, or the adapter's error."""

    receipt: SendReceipt | None = None
    error: SendError | None = None


#: Test hook, called after the adapter returned and before the outcome is recorded.
#: Raising from it simulates a worker that dies between the send and the commit.
AfterSend = Callable[[OutboundMessage, Outcome], None]


@dataclass(frozen=True)
class _Claim:
    delivery_id: int
    attempt: int
    channel: Channel
    message: OutboundMessage


@dataclass
class _Configured:
    """The adapters of one policy object, built once when the policy changes."""

    policy: Policy
    adapters: dict[str, Channel]
    problems: dict[str, str]  # channel name -> why it has no adapter


_TOUCHED = "tocsin_delivery_touched"


def _touch(session: Session, notification_id: int) -> None:
    """Note a notification whose deliveries changed; `_transaction` sums it up at the end."""
    session.info.setdefault(_TOUCHED, set()).add(notification_id)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:send-{uuid.uuid4().hex[:6]}"


def _fmt(delta: timedelta) -> str:
    return format_duration(timedelta(seconds=max(0, round(delta.total_seconds()))))


class DeliveryWorker:
    """Delivers the outbox. ``run_due`` does one round (tests drive it with a fake
    clock); ``run_forever`` loops until ``stop`` is set."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        policy: PolicyStore,
        clock: Clock,
        name: str | None = None,
        batch: int = 100,
        environ: Mapping[str, str] | None = None,
        rand: Callable[[], float] = random.random,
        after_send: AfterSend | None = None,
    ) -> None:
        self.sessions = sessions
        self.policy = policy
        self.clock = clock
        self.name = name or _worker_name()
        self.batch = batch
        self.environ = os.environ if environ is None else environ
        self.rand = rand
        self.after_send = after_send
        self.feed = BroadcastFeed()
        self._configured: _Configured | None = None
        self._pools: dict[str, tuple[int, ThreadPoolExecutor]] = {}
        self._inflight: dict[int, Future[None]] = {}
        self._inflight_by_channel: dict[str, set[int]] = {}
        self._lock = threading.Lock()
        self._woken = threading.Event()

    # ------------------------------------------------------------ the loop

    def run_due(self, *, wait: bool = True) -> int:
        """Recover, expand, feed and dispatch everything due now; with ``wait``, also wait
        for the sends and go round again until nothing is left. Returns the number of
        sends started."""
        started = 0
        while True:
            # Look first, in a read-only transaction, so that an idle worker does not
            # take SQLite's write lock several times a second.
            with session_scope(self.sessions, write=False) as session:
                now = self.clock.now()
                work = outbox.pending_work(session, now=now)
                feed = self.feed.needed(session=session, policy=self.policy.current, now=now)
            if work.expired_sends:
                self._recover()
            if work.unexpanded:
                self._expand_all()
            if feed:
                self._feed()
            dispatched = self._dispatch()
            started += dispatched
            if not wait:
                return started
            futures = self._futures()
            if not futures and not dispatched:
                return started
            wait_futures(futures)

    def run_forever(self, stop: threading.Event, *, poll: float = 0.5) -> None:
        outbox.wakeup(self._woken)
        log.info("delivery worker %s started", self.name)
        try:
            while not stop.is_set():
                try:
                    self.run_due(wait=False)
                    with session_scope(self.sessions, write=False) as session:
                        due = outbox.next_wakeup_at(session)
                except SQLAlchemyError as exc:
                    log.warning("delivery: database unavailable (%s); retrying", type(exc).__name__)
                    stop.wait(1.0)
                    continue
                pause = poll
                if due is not None:
                    pause = min(poll, max(0.0, (due - self.clock.now()).total_seconds()))
                self._woken.wait(pause)
                self._woken.clear()
        finally:
            outbox.forget_wakeup(self._woken)
            self.shutdown()
            log.info("delivery worker %s stopped", self.name)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop the send pools; sends under way finish (each is bounded by its timeout)."""
        with self._lock:
            pools = [pool for _, pool in self._pools.values()]
            self._pools.clear()
        for pool in pools:
            pool.shutdown(wait=wait)

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A writing transaction that, before it commits, brings the notifications whose
        deliveries changed up to date, in id order (two workers that touch the same
        notifications lock them in the same order, so they never deadlock)."""
        with session_scope(self.sessions) as session:
            yield session
            for notification_id in sorted(session.info.pop(_TOUCHED, ())):
                outbox.refresh_notification(session, notification_id)

    def _futures(self) -> list[Future[None]]:
        with self._lock:
            return list(self._inflight.values())

    # ------------------------------------------------------------ channels

    def _channels(self) -> _Configured:
        policy = self.policy.current
        configured = self._configured
        if configured is not None and configured.policy is policy:
            return configured
        adapters: dict[str, Channel] = {}
        problems: dict[str, str] = {}
        services = ChannelServices(self.sessions, self.clock)
        for name, config in policy.channels.items():
            try:
                adapters[name] = build_channel(name, config, self.environ, services=services)
            except LookupError as exc:
                problems[name] = str(exc)
        configured = _Configured(policy, adapters, problems)
        self._configured = configured
        return configured

    def _config(self, channel: str) -> ChannelConfig | None:
        return self.policy.current.channels.get(channel)

    def _pool(self, channel: str, size: int) -> ThreadPoolExecutor:
        with self._lock:
            found = self._pools.get(channel)
            if found is not None and found[0] == size:
                return found[1]
            pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"tocsin-{channel}")
            self._pools[channel] = (size, pool)
        if found is not None:
            found[1].shutdown(wait=False)  # its sends under way still finish
        return pool

    def _free_slots(self, channel: str, size: int) -> int:
        with self._lock:
            return size - len(self._inflight_by_channel.get(channel, ()))

    # ------------------------------------------------------------ 1. recover

    def _recover(self) -> None:
        now = self.clock.now()
        with self._lock:
            mine = list(self._inflight)
        with self._transaction() as session:
            for row in outbox.expired_sends(session, now=now, exclude=mine):
                adapter = self._channels().adapters.get(row.channel)
                retry = self._retry(row.channel)
                note = "the sender stopped before recording the outcome (crash or timeout)"
                if adapter is not None and adapter.idempotent and row.attempts < retry.max_attempts:
                    row.state = DeliveryState.pending.value
                    row.due_at = now
                    row.delay_reason = (
                        f"outcome unknown: {note}; resending with the same idempotency key"
                    )
                    self._release(row)
                    _touch(session, row.notification_id)
                    continue
                if adapter is None:
                    why = f"not resent: {row.channel} is no longer configured"
                elif adapter.idempotent:
                    why = f"gave up after {row.attempts} attempts"
                else:
                    why = f"not resent: {row.channel} has no idempotency key"
                self._fail(session, row, f"outcome unknown: {note}; {why}", now)

    # ------------------------------------------------------------ 2. expand

    def _expand_all(self) -> None:
        while True:
            with self._transaction() as session:
                now = self.clock.now()
                rows = outbox.claim_expansions(session, now=now, limit=self.batch)
                for row in rows:
                    self._expand(session, row, now)
            if len(rows) < self.batch:
                return

    def _expand(self, session: Session, notification: Notification, now: datetime) -> None:
        policy = self.policy.current
        incident = (
            get_by_id(session=session, incident_id=notification.incident_id, with_related=False)
            if notification.incident_id is not None
            else None
        )
        data = notification.data or {}
        if notification.channel == PERSON_CHANNEL:
            severity = data.get("severity") or (incident.severity if incident else None)
            steps = plan_steps(
                policy, person=notification.person, kind=notification.kind, severity=severity
            )
        else:
            steps = [PlannedStep(0, notification.channel, timedelta(0), None)]
        subject, body, html = self._content(session, policy, notification, incident, now)
        adapters = self._channels().adapters
        recipient = self._recipient(notification.person)
        for step in steps:
            target: str | None = data.get("target")
            adapter = adapters.get(step.channel)
            if notification.channel == PERSON_CHANNEL and adapter is not None and recipient:
                target = adapter.address(recipient)
            delivery = Delivery(
                notification_id=notification.id,
                key=f"{notification.key}#{step.step}:{step.channel}",
                incident_id=notification.incident_id,
                person=notification.person,
                kind=notification.kind,
                channel=step.channel,
                target=target,
                step=step.step,
                unless=step.unless,
                subject=subject[:300],
                body=body,
                html=html,
                state=DeliveryState.pending.value,
                attempts=0,
                due_at=max(now, notification.created_at + step.after),
                created_at=now,
            )
            session.add(delivery)
            problem = data.get("problem")
            if notification.channel == PERSON_CHANNEL and recipient is None:
                problem = f"unknown person {notification.person!r} (not in the policy)"
            if problem:
                session.flush()
                self._fail(session, delivery, str(problem), now, refresh=False)
        notification.expanded_at = now
        session.flush()
        outbox.refresh_notification(session, notification.id)

    def _content(
        self,
        session: Session,
        policy: Policy,
        notification: Notification,
        incident: Incident | None,
        now: datetime,
    ) -> tuple[str, str, str | None]:
        """The message text: a policy template named after the kind ("page") if there is
        one and the message is about an incident, else the text it was queued with."""
        data = notification.data or {}
        html = data.get("html") if isinstance(data.get("html"), str) else None
        if incident is None or notification.kind not in policy.templates:
            return notification.subject, notification.body, html
        extra = message_extras(
            person=person_facts(policy, notification.person),
            reason=notification.reason,
            kind=notification.kind,
            subject=notification.subject,
            body=notification.body,
        )
        try:
            message = render_for_incident(
                session=session,
                policy=policy,
                incident=incident,
                template=notification.kind,
                now=now,
                extra=extra,
            )
        except TemplateError as exc:
            log.warning("notification %s: %s; sending the plain text", notification.id, exc)
            return notification.subject, notification.body, html
        return message.subject, message.text, message.html

    def _recipient(self, name: str) -> Recipient | None:
        person = self.policy.current.person(name) if name else None
        if person is None:
            return None
        return Recipient(
            person.name, person.display_name, person.email, person.chat, person.phone, person.slack
        )

    # ------------------------------------------------------------ 3. feed

    def _feed(self) -> None:
        with self._transaction() as session:
            self.feed.run(session=session, policy=self.policy.current, now=self.clock.now())
        # What the feed queued is expanded at once.
        self._expand_all()

    # ------------------------------------------------------------ 4. dispatch

    def _dispatch(self) -> int:
        with session_scope(self.sessions, write=False) as session:
            channels = outbox.due_channels(session, now=self.clock.now())
        started = 0
        for channel in channels:
            try:
                started += self._dispatch_channel(channel)
            except SQLAlchemyError:
                log.exception("delivery: dispatching %s failed; trying again shortly", channel)
        return started

    def _dispatch_channel(self, channel: str) -> int:
        configured = self._channels()
        adapter = configured.adapters.get(channel)
        config = self._config(channel)
        claims: list[_Claim] = []
        with self._transaction() as session:
            now = self.clock.now()
            if adapter is None or config is None:
                problem = configured.problems.get(channel) or f"no {channel} channel configured"
                for row in outbox.due_candidates(
                    session, channel=channel, now=now, limit=self.batch
                ):
                    if not self._moot(session, row, now):
                        self._fail(session, row, problem, now)
                return 0
            block = outbox.channel_block(session, channel=channel, now=now)
            if block is not None:
                for row in outbox.due_candidates(
                    session, channel=channel, now=now, limit=self.batch
                ):
                    self._delay(session, row, block.blocked_until, block.reason)
                return 0
            free = self._free_slots(channel, config.concurrency)
            if free <= 0:
                return 0
            rows = outbox.due_candidates(session, channel=channel, now=now, limit=free + 20)
            for row in rows:
                if len(claims) >= free:
                    break
                if self._moot(session, row, now):
                    continue
                if row.target is None and row.person:
                    recipient = self._recipient(row.person)
                    row.target = adapter.address(recipient) if recipient else None
                if not row.target:
                    who = row.person or "this broadcast"
                    self._fail(session, row, f"{who} has no address for {channel}", now)
                    continue
                if self._throttled(session, row, channel, config, now):
                    continue
                claims.append(self._claim(session, row, adapter, config, now))
        for claim in claims:  # only after the claims committed
            self._submit(channel, config.concurrency, claim)
        return len(claims)

    def _moot(self, session: Session, row: Delivery, now: datetime) -> bool:
        """Cancel a delayed step the incident's progress made moot; True if it did."""
        if row.unless is None or row.incident_id is None:
            return False
        incident = get_by_id(session=session, incident_id=row.incident_id, with_related=False)
        if incident is None:
            reason = "skipped: the incident no longer exists"
        else:
            moot = incident.status in _DONE_STATES or (
                row.unless == "acknowledged" and incident.status != IncidentStatus.triggered
            )
            if not moot:
                return False
            reason = f"skipped: {format_incident_id(incident.number)} was {incident.status}"
        row.state = DeliveryState.cancelled.value
        row.delay_reason = reason
        _touch(session, row.notification_id)
        return True

    def _throttled(
        self,
        session: Session,
        row: Delivery,
        channel: str,
        config: ChannelConfig,
        now: datetime,
    ) -> bool:
        """Delay ``row`` if a rate limit holds it back; True if it did. (The sends
        claimed earlier in this transaction count: the query autoflushes them.)"""
        checks: list[tuple[RateLimit, list[datetime], str | None]] = []
        if config.rate_limit is not None:
            since = now - config.rate_limit.per
            recent = outbox.recent_starts(session, channel=channel, since=since)
            checks.append((config.rate_limit, recent, None))
        if config.person_rate_limit is not None and row.person:
            since = now - config.person_rate_limit.per
            recent = outbox.recent_starts(session, channel=channel, since=since, person=row.person)
            checks.append((config.person_rate_limit, recent, row.person))
        for limit, recent, person in checks:
            until = throttled_until(limit, recent, now)
            if until is not None:
                self._delay(session, row, until, rate_limit_text(limit, channel, person))
                return True
        return False

    def _delay(self, session: Session, row: Delivery, until: datetime, reason: str) -> None:
        row.due_at = until
        row.delay_reason = reason
        _touch(session, row.notification_id)

    def _claim(
        self,
        session: Session,
        row: Delivery,
        adapter: Channel,
        config: ChannelConfig,
        now: datetime,
    ) -> _Claim:
        row.state = DeliveryState.sending.value
        row.attempts += 1
        row.started_at = now
        row.claimed_by = self.name
        # Generous: an SMTP send is several round trips, each bounded by the timeout.
        row.deadline_at = now + config.timeout * 3 + timedelta(seconds=30)
        row.delay_reason = None
        _touch(session, row.notification_id)
        return _Claim(row.id, row.attempts, adapter, self._message(session, row))

    def _message(self, session: Session, row: Delivery) -> OutboundMessage:
        incident = (
            get_by_id(session=session, incident_id=row.incident_id, with_related=False)
            if row.incident_id is not None
            else None
        )
        notification = session.get(Notification, row.notification_id)
        data = dict(notification.data or {}) if notification is not None else {}
        data.pop("html", None)
        return OutboundMessage(
            key=row.key,
            channel=row.channel,
            kind=row.kind,
            target=row.target,
            subject=row.subject,
            text=row.body,
            html=row.html,
            person=self._recipient(row.person),
            incident=IncidentSummary(
                format_incident_id(incident.number),
                incident.title,
                incident.severity,
                incident.status,
            )
            if incident is not None
            else None,
            reason=notification.reason if notification is not None else "",
            attempt=row.attempts,
            created_at=row.created_at,
            data=data,
        )

    def _submit(self, channel: str, size: int, claim: _Claim) -> None:
        pool = self._pool(channel, size)
        with self._lock:
            self._inflight_by_channel.setdefault(channel, set()).add(claim.delivery_id)
            future = pool.submit(self._deliver, claim)
            self._inflight[claim.delivery_id] = future

    # ------------------------------------------------------------ sending (pool threads)

    def _deliver(self, claim: _Claim) -> None:
        try:
            try:
                outcome = Outcome(receipt=claim.channel.send(claim.message))
            except SendError as exc:
                outcome = Outcome(error=exc)
            except Exception as exc:  # an adapter bug: we cannot tell whether it went out
                log.exception(
                    "delivery %s: the %s adapter failed", claim.delivery_id, claim.channel.name
                )
                outcome = Outcome(error=OutcomeUnknown(f"adapter error: {type(exc).__name__}"))
            if self.after_send is not None:
                self.after_send(claim.message, outcome)
            self._complete(claim, outcome)
        except Exception:
            log.exception(
                "delivery %s: outcome not recorded; it is recovered after its deadline",
                claim.delivery_id,
            )
        finally:
            with self._lock:
                self._inflight.pop(claim.delivery_id, None)
                self._inflight_by_channel.get(claim.channel.name, set()).discard(claim.delivery_id)
            self._woken.set()

    def _complete(self, claim: _Claim, outcome: Outcome) -> None:
        with self._transaction() as session:
            now = self.clock.now()
            row = outbox.lock_delivery(session, claim.delivery_id)
            if row is None:
                return
            if (
                row.claimed_by != self.name
                or row.attempts != claim.attempt
                or row.state != "sending"
            ):
                # Recovered meanwhile (we were presumed dead). A success is still the truth.
                if outcome.receipt is not None and row.state != DeliveryState.sent.value:
                    self._sent(session, row, now)
                return
            if outcome.receipt is not None:
                self._sent(session, row, now)
                return
            error = outcome.error
            assert error is not None
            self._failed_attempt(session, row, claim.channel, error, now)

    def _sent(self, session: Session, row: Delivery, now: datetime) -> None:
        row.state = DeliveryState.sent.value
        row.sent_at = now
        row.last_error = None
        row.delay_reason = None
        self._release(row)
        _touch(session, row.notification_id)

    def _failed_attempt(
        self, session: Session, row: Delivery, channel: Channel, error: SendError, now: datetime
    ) -> None:
        retry = self._retry(row.channel)
        message = str(error) or type(error).__name__
        row.last_error = message[:2000]
        if isinstance(error, RateLimited):
            wait = max(_MIN_WAIT, timedelta(seconds=error.retry_after or 0))
            until = now + wait
            reason = f"rate-limited by the receiver: retry after {_fmt(wait)}"
            row.attempts = max(0, row.attempts - 1)  # not the message's fault
            outbox.block_channel(session, channel=row.channel, until=until, reason=reason, now=now)
            self._retry_at(session, row, until, reason)
            return
        resend = isinstance(error, TemporaryError) or (
            isinstance(error, OutcomeUnknown) and channel.idempotent
        )
        if resend and row.attempts < retry.max_attempts:
            wait = backoff(row.attempts, retry, self.rand)
            if isinstance(error, TemporaryError) and error.retry_after is not None:
                wait = max(wait, timedelta(seconds=error.retry_after))
            wait = max(wait, _MIN_WAIT)
            until = now + wait
            what = (
                "outcome unknown, resending with the same idempotency key"
                if isinstance(error, OutcomeUnknown)
                else message
            )
            reason = f"retry {row.attempts + 1} of {retry.max_attempts} in {_fmt(wait)} ({what})"
            self._retry_at(session, row, until, reason)
            return
        if resend:
            message = f"gave up after {row.attempts} attempts: {message}"
        elif isinstance(error, OutcomeUnknown) and "idempotency" not in message:
            message += f" (not resent: {row.channel} has no idempotency key)"
        self._fail(session, row, message, now)

    def _retry_at(self, session: Session, row: Delivery, until: datetime, reason: str) -> None:
        row.state = DeliveryState.pending.value
        row.due_at = until
        row.delay_reason = reason
        self._release(row)
        _touch(session, row.notification_id)

    def _retry(self, channel: str) -> RetrySettings:
        config = self._config(channel)
        return config.retry if config is not None else RetrySettings()

    @staticmethod
    def _release(row: Delivery) -> None:
        row.claimed_by = None
        row.deadline_at = None

    # ------------------------------------------------------------ the dead letter

    def _fail(
        self, session: Session, row: Delivery, error: str, now: datetime, *, refresh: bool = True
    ) -> None:
        row.state = DeliveryState.failed.value
        row.last_error = error[:2000]
        row.delay_reason = None
        self._release(row)
        log.warning("delivery %s (%s to %s) failed: %s", row.id, row.channel, row.person, error)
        if row.incident_id is not None:
            incident = get_by_id(session=session, incident_id=row.incident_id, with_related=False)
            if incident is not None:
                who = row.person or row.target or "the broadcast"
                record(
                    session,
                    incident,
                    now=now,
                    actor=SYSTEM_ACTOR,
                    kind="notification_failed",
                    summary=f"Could not deliver the {row.kind} to {who} by {row.channel}: {error}",
                    data={
                        "delivery_id": row.id,
                        "notification_id": row.notification_id,
                        "channel": row.channel,
                        "person": row.person,
                        "target": row.target,
                        "attempts": row.attempts,
                        "error": error,
                    },
                )
        if refresh:
            _touch(session, row.notification_id)
