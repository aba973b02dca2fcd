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
3. **feed** broadcasts from the incident timeline (`tocsin.engine.comms`), to the
   channels that can send;
4. **dispatch**, channel by channel: skip delayed steps made moot (the incident was
   acknowledged) and deliveries left on a channel that is no longer configured, delay
   the ones a rate limit or a Retry-After holds back (with the reason on the row), and
   claim the rest — ``pending`` → ``sending`` with a deadline — in one transaction;
   only after it commits do the sends start.

Each channel has its own pool of ``concurrency`` threads and claims no more than it has
free threads, so a slow or failing channel never holds up another. The outcomes
(:mod:`tocsin.engine.outcomes`, several a transaction): ``sent``; a retry at exponential
backoff with jitter for errors the adapter calls temporary (up to ``max_attempts``); or
``failed``, the dead letter (``GET /api/v1/notifications?state=failed``, and
``notification_failed`` on the incident's timeline).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tocsin.clock import Clock
from tocsin.db import SessionFactory, session_scope
from tocsin.db.faults import database_fault
from tocsin.engine.comms import BroadcastFeed
from tocsin.engine.delivery_timeline import fail_delivery, record_failure, record_page_delivered
from tocsin.engine.expansion import expand, outbound_message, recipient
from tocsin.engine.holdbacks import cancel_if_moot, delay_if_throttled
from tocsin.engine.outcomes import OutcomeRecorder
from tocsin.engine.worker import BATCH_BUDGET_SECONDS
from tocsin.incidents.service import hold_incidents
from tocsin.notify import deliveries, outbox
from tocsin.notify.channels import (
    Channel,
    ChannelServices,
    OutboundMessage,
    OutcomeUnknown,
    SendError,
    SendReceipt,
    build_channel,
)
from tocsin.notify.models import Delivery, DeliveryState
from tocsin.notify.retry import after_error, after_lost_send, error_kind
from tocsin.policy import Policy, PolicyStore
from tocsin.policy.channels import ChannelConfig, RetrySettings
from tocsin.policy.reach import ChannelStatus, channel_status

__all__ = ["AfterSend", "DeliveryWorker", "Outcome"]

log = logging.getLogger("tocsin.delivery")

#: How long a stopping worker waits for its sends under way to finish before it hands
#: them back (each send is also bounded by its channel's timeout).
DRAIN_SECONDS = 5.0


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
    #: The channels that can send (configured: settings and secrets present).
    adapters: dict[str, Channel]
    status: ChannelStatus
    #: The channels whose leftover deliveries were skipped (said once in the log).
    skipped: set[str]


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:send-{uuid.uuid4().hex[:6]}"


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
        #: Channels whose every send slot was taken at the last dispatch.
        self._full: set[str] = set()
        self._outcomes = OutcomeRecorder(
            transaction=self._transaction,
            write=self._write_outcome,
            key=lambda sent: sent[0].delivery_id,
        )
        self._lock = threading.Lock()
        self._woken = threading.Event()

    # ------------------------------------------------------------ the loop

    def run_due(self, *, wait: bool = True) -> int:
        """Recover, expand, feed and dispatch everything due now; with ``wait``, also wait
        for the sends and go round again until nothing is left. Returns sends started."""
        started = 0
        while True:
            # Look first, read-only: an idle worker must not take the write lock each round.
            with session_scope(self.sessions, write=False) as session:
                now = self.clock.now()
                work = outbox.pending_work(session=session, now=now)
                feed = self.feed.needed(session=session, policy=self.policy.current, now=now)
            if work.expired_sends:
                self._recover()
            dispatched = 0
            more = False
            if work.unexpanded:
                more, dispatched = self._expand_all()
            if feed:  # after the pages: the feed's pass would have delayed them
                fed_more, fed = self._expand_all(feed=True)
                more, dispatched = more or fed_more, dispatched + fed
            dispatched += self._dispatch()
            started += dispatched
            if not wait:
                return started
            futures = self._futures()
            if not futures and not dispatched and not more:
                return started
            wait_futures(futures)

    def run_forever(self, stop: threading.Event, *, poll: float = 0.5) -> None:
        outbox.wakeup(self._woken)
        log.info("delivery worker %s started", self.name)
        try:
            while not stop.is_set():
                try:
                    self.run_due(wait=False)
                    with self._lock:
                        full = set(self._full)
                    with session_scope(self.sessions, write=False) as session:
                        due = outbox.next_wakeup_at(session=session, waiting=full)
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

    def shutdown(self, *, wait: bool = True, drain: float = DRAIN_SECONDS) -> None:
        """Stop the send pools. Sends not started yet are handed back at once; with
        ``wait``, the sends under way have ``drain`` seconds to finish and record their
        outcome, and those still running then are handed back too (presumed lost now:
        another worker's recovery takes them at once, not after their deadline)."""
        with self._lock:
            pools = [pool for _, pool in self._pools.values()]
            self._pools.clear()
            claimed = dict(self._inflight)
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        if not wait:
            return
        wait_futures(claimed.values(), timeout=drain)
        left = {
            delivery_id: not future.cancelled()
            for delivery_id, future in claimed.items()
            if future.cancelled() or not future.done()
        }
        if left:
            try:
                self._hand_back(left)
            except SQLAlchemyError as exc:
                log.warning(
                    "delivery: %d claims not handed back (%s); they are recovered after "
                    "their deadline",
                    len(left),
                    type(exc).__name__,
                )

    def _hand_back(self, claims: Mapping[int, bool]) -> None:
        """Give up the claims of ``claims`` (delivery id → whether its send started)."""
        with self._transaction() as session:
            now = self.clock.now()
            for delivery_id, started in sorted(claims.items()):
                row = outbox.lock_delivery(session=session, delivery_id=delivery_id)
                if row is None or row.state != DeliveryState.sending.value:
                    continue
                if row.claimed_by != self.name:
                    continue
                deliveries.hand_back(session=session, row=row, started=started, now=now)
        log.info("delivery worker %s handed back %d claimed sends", self.name, len(claims))

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A writing transaction that, before it commits, brings the notifications whose
        deliveries changed up to date, in id order (so two workers never deadlock)."""
        with session_scope(self.sessions, background=True) as session:
            yield session
            deliveries.refresh_touched(session=session)

    def _futures(self) -> list[Future[None]]:
        with self._lock:
            return list(self._inflight.values())

    # ------------------------------------------------------------ channels

    def _channels(self) -> _Configured:
        policy = self.policy.current
        configured = self._configured
        if configured is not None and configured.policy is policy:
            return configured
        status = channel_status(policy, self.environ)
        services = ChannelServices(self.sessions, self.clock)
        adapters = {
            name: build_channel(name, config, self.environ, services=services)
            for name, config in status.configured.items()
        }
        configured = _Configured(policy, adapters, status, set())
        self._configured = configured
        return configured

    def _config(self, channel: str) -> ChannelConfig | None:
        return self._channels().status.configured.get(channel)

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
            for row in outbox.expired_sends(session=session, now=now, exclude=mine):
                adapter = self._channels().adapters.get(row.channel)
                decision = after_lost_send(
                    attempts=row.attempts,
                    retry=self._retry(row.channel),
                    configured=adapter is not None,
                    idempotent=adapter is not None and adapter.idempotent,
                    channel=row.channel,
                    now=now,
                )
                if decision.retry:
                    assert decision.at is not None
                    deliveries.schedule_retry(
                        session=session, row=row, at=decision.at, reason=decision.reason
                    )
                else:
                    fail_delivery(session=session, row=row, error=decision.reason, now=now)

    # ------------------------------------------------------------ 2. expand

    def _expand_all(self, *, feed: bool = False) -> tuple[bool, int]:
        """Expand due messages, a batch per transaction, for about
        :data:`BATCH_BUDGET_SECONDS`; whether some are left (for after the dispatch of
        those expanded, which a deep backlog must not hold up), and how many sends
        started. With ``feed``, the first transaction first turns new timeline events
        into broadcasts (see :meth:`_announce`), expanded with the rest. The last
        transaction also claims what is due (see :meth:`_claim_due`): a page goes out
        one turn of the writer after it was queued, and the announcement of its
        incident one turn after that, not two (on the worst day each turn is waited
        for)."""
        started = time.monotonic()
        sends = 0
        while True:
            claimed: list[tuple[str, int, list[_Claim]]] = []
            with self._transaction() as session:
                now = self.clock.now()
                if feed:
                    self._announce(session, now)
                    feed = False
                rows = outbox.claim_expansions(session=session, now=now, limit=self.batch)
                _held = hold_incidents(session=session, ids=(r.incident_id for r in rows))
                configured = self._channels()
                for done, row in enumerate(rows):
                    if done and time.monotonic() - started > BATCH_BUDGET_SECONDS:
                        return True, sends  # left pending for the next round
                    expand(
                        session=session,
                        policy=configured.policy,
                        adapters=configured.adapters,
                        notification=row,
                        now=now,
                        fallback=configured.status.fallback,
                    )
                last = len(rows) < self.batch
                if last and rows:
                    claimed = self._claim_due(session, now)
            sends += self._start(claimed)  # only after the claims committed
            if last:
                return False, sends
            if time.monotonic() - started > BATCH_BUDGET_SECONDS:
                return True, sends

    # ------------------------------------------------------------ 3. feed

    def _announce(self, session: Session, now: datetime) -> None:
        """One pass of the broadcast feed, in a savepoint of the expansion's transaction:
        a feed that fails (a broken template, say) is logged and tried again next round,
        and never holds back the pages expanded after it."""
        configured = self._channels()
        try:
            with session.begin_nested():
                self.feed.run(
                    session=session,
                    policy=configured.policy,
                    now=now,
                    can_send=configured.status.can_send,
                )
        except Exception as exc:
            if database_fault(exc) is not None:
                raise  # the transaction is lost: retried whole, like any other
            log.exception("delivery: announcing new timeline events failed; retrying shortly")

    # ------------------------------------------------------------ 4. dispatch

    def _dispatch(self) -> int:
        """Claim what is due on every channel in one transaction (one turn of the
        writer, however many channels: on the worst day each turn is waited for), and
        start the sends once it has committed."""
        with session_scope(self.sessions, write=False) as session:
            channels = outbox.due_channels(session=session, now=self.clock.now())
        if not channels:
            return 0
        try:
            with self._transaction() as session:
                claimed = self._claim_channels(session, channels, self.clock.now())
        except SQLAlchemyError:
            log.exception("delivery: dispatching failed; trying again shortly")
            return 0
        return self._start(claimed)

    def _claim_due(self, session: Session, now: datetime) -> list[tuple[str, int, list[_Claim]]]:
        """Claim what is due on every channel in ``session``'s transaction (the one that
        expanded the messages), in a savepoint: if claiming fails, what was expanded
        still commits and the dispatch claims it."""
        channels = outbox.due_channels(session=session, now=now)
        if not channels:
            return []
        try:
            with session.begin_nested():
                return self._claim_channels(session, channels, now)
        except SQLAlchemyError:
            log.exception("delivery: claiming with the expansion failed; dispatching instead")
            return []

    def _claim_channels(
        self, session: Session, channels: Iterable[str], now: datetime
    ) -> list[tuple[str, int, list[_Claim]]]:
        """Each channel's sends to start: (the channel, its concurrency, the claims)."""
        return [(channel, *self._claim_channel(session, channel, now)) for channel in channels]

    def _start(self, claimed: list[tuple[str, int, list[_Claim]]]) -> int:
        """Start the sends of committed claims; how many."""
        for channel, concurrency, claims in claimed:
            for claim in claims:
                self._submit(channel, concurrency, claim)
        return sum(len(claims) for _, _, claims in claimed)

    def _claim_channel(
        self, session: Session, channel: str, now: datetime
    ) -> tuple[int, list[_Claim]]:
        """The sends of ``channel`` to start: (its concurrency, the claims)."""
        configured = self._channels()
        adapter = configured.adapters.get(channel)
        config = self._config(channel)
        claims: list[_Claim] = []
        if adapter is None or config is None:
            # Queued before the channel lost its settings (a policy reload): skipped
            # like every step on a channel that is not configured, and said once.
            reason = f"skipped: {channel} is not configured"
            for row in outbox.due_candidates(
                session=session, channel=channel, now=now, limit=self.batch
            ):
                deliveries.cancel(session=session, row=row, reason=reason)
            if channel not in configured.skipped:
                configured.skipped.add(channel)
                why = configured.status.not_configured.get(channel, "not in the policy")
                log.warning(
                    "channel %s is not configured (%s): skipping its messages", channel, why
                )
            return 0, []
        block = outbox.channel_block(session=session, channel=channel, now=now)
        if block is not None:
            for row in outbox.due_candidates(
                session=session, channel=channel, now=now, limit=self.batch
            ):
                deliveries.delay(
                    session=session, row=row, until=block.blocked_until, reason=block.reason
                )
            return 0, []
        free = self._free_slots(channel, config.concurrency)
        if free <= 0:
            with self._lock:
                self._full.add(channel)
            return config.concurrency, []
        rows = outbox.due_candidates(session=session, channel=channel, now=now, limit=free + 20)
        # What the messages need, read once for all of them.
        _held = hold_incidents(session=session, ids=(r.incident_id for r in rows))
        _notes = outbox.hold_notifications(session=session, ids=(r.notification_id for r in rows))
        for row in rows:
            if len(claims) >= free:
                break
            if cancel_if_moot(session=session, row=row):
                continue
            if row.target is None and row.person:
                person = recipient(self.policy.current, row.person)
                row.target = adapter.address(person) if person else None
            # A person needs an address on the channel; a broadcast without a
            # target goes to the channel's own destination (a webhook's url, a
            # Jira project...), and the adapter refuses it if it has none.
            if not row.target and row.person:
                error = f"{row.person} has no address for {channel}"
                fail_delivery(session=session, row=row, error=error, now=now)
                continue
            if delay_if_throttled(
                session=session, row=row, channel=channel, config=config, now=now
            ):
                continue
            claims.append(self._claim(session, row, adapter, config, now))
        with self._lock:
            if len(claims) >= free:
                self._full.add(channel)
            else:
                self._full.discard(channel)
        return config.concurrency, claims

    def _claim(
        self,
        session: Session,
        row: Delivery,
        adapter: Channel,
        config: ChannelConfig,
        now: datetime,
    ) -> _Claim:
        # Generous: an SMTP send is several round trips, each bounded by the timeout.
        deadline = now + config.timeout * 3 + timedelta(seconds=30)
        deliveries.claim(session=session, row=row, worker=self.name, deadline=deadline, now=now)
        message = outbound_message(session=session, policy=self.policy.current, row=row)
        return _Claim(row.id, row.attempts, adapter, message)

    def _submit(self, channel: str, size: int, claim: _Claim) -> None:
        pool = self._pool(channel, size)
        with self._lock:
            self._inflight_by_channel.setdefault(channel, set()).add(claim.delivery_id)
            future = pool.submit(self._deliver, claim)
            self._inflight[claim.delivery_id] = future

    # ------------------------------------------------------------ sending (pool threads)

    def _deliver(self, claim: _Claim) -> None:
        """Send and record the outcome; wake the loop only for a freed slot on a full
        channel or a retry (a round per success cost more than the sends themselves)."""
        settled = False
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
            recorded = self._outcomes.record((claim, outcome))
            settled = recorded and outcome.receipt is not None
        except Exception:
            log.exception(
                "delivery %s: outcome not recorded; it is recovered after its deadline",
                claim.delivery_id,
            )
        finally:
            with self._lock:
                self._inflight.pop(claim.delivery_id, None)
                self._inflight_by_channel.get(claim.channel.name, set()).discard(claim.delivery_id)
                wake = not settled or claim.channel.name in self._full
            if wake:
                self._woken.set()

    def _write_outcome(self, session: Session, sent: tuple[_Claim, Outcome]) -> None:
        """One send's outcome, in the recorder's transaction (:mod:`.outcomes`)."""
        claim, outcome = sent
        now = self.clock.now()
        row = outbox.lock_delivery(session=session, delivery_id=claim.delivery_id)
        if row is None:
            return
        if row.claimed_by != self.name or row.attempts != claim.attempt or row.state != "sending":
            # Recovered meanwhile (we were presumed dead). A success is still the truth.
            if outcome.receipt is not None and row.state != DeliveryState.sent.value:
                deliveries.mark_sent(session=session, row=row, now=now)
                record_page_delivered(session=session, row=row, now=now)
            return
        if outcome.receipt is not None:
            deliveries.mark_sent(session=session, row=row, now=now)
            record_page_delivered(session=session, row=row, now=now)
            return
        error = outcome.error
        assert error is not None
        message = str(error) or type(error).__name__
        decision = after_error(
            kind=error_kind(error),
            message=message,
            retry_after=getattr(error, "retry_after", None),
            attempts=row.attempts,
            retry=self._retry(row.channel),
            idempotent=claim.channel.idempotent,
            channel=row.channel,
            now=now,
            jitter=self.rand,
        )
        failed = deliveries.apply(
            session=session, row=row, decision=decision, error=message, now=now
        )
        if failed:
            record_failure(session=session, row=row, error=decision.reason, now=now)

    def _retry(self, channel: str) -> RetrySettings:
        config = self._config(channel)
        return config.retry if config is not None else RetrySettings()
