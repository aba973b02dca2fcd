"""PagerDuty's Events API v2, as PagerDuty answers it: ``POST /v2/enqueue`` (alert
events) and ``POST /v2/change/enqueue`` (change events).

Every answer has PagerDuty's status and body, so that PagerDuty's own clients and
libraries (and Alertmanager's ``pagerduty_configs``) behave as they do with PagerDuty:

- 202 ``{"status": "success", "message": "Event processed", "dedup_key": ...}`` once
  the event is committed (a change event: ``"Change event processed"`` and its id);
  an acknowledge or resolve for a ``dedup_key`` that has no open alert is accepted and
  changes nothing, as at PagerDuty;
- 400 ``{"status": "invalid event", "message": "Event object is invalid", "errors":
  [...]}`` for anything the client must fix: a body that is not JSON or is larger
  than 512 KiB, a missing or wrong field, and a routing key no enabled integration
  has (PagerDuty knows no 404 here, and its clients do not expect one);
- 429 with PagerDuty's "throttle event" body when the policy's per-key rate limit
  (``alerting.pagerduty``) is exceeded; clients retry later;
- 503 with ``Retry-After`` when the database cannot be reached (clients retry 5xx).
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from tocsin.alerts import service as alerts
from tocsin.changes import service as changes
from tocsin.db import session_scope
from tocsin.db.faults import DATABASE_DOWN
from tocsin.errors import InvalidInput, TocsinError
from tocsin.hints import service as hints
from tocsin.ingest import (
    PD_MAX_BODY_BYTES,
    ChangeEvent,
    IngestError,
    parse_pd_change,
    parse_pd_event,
    pd_change_accepted,
    pd_error_body,
    pd_error_for,
    pd_success_body,
    pd_throttled_body,
)
from tocsin.web.groupcommit import DatabaseUnavailable, Delivery, GroupCommitter, UnknownKey

__all__ = ["PagerDutyEvents", "RateLimiter"]

_UNKNOWN_KEY = "routing_key: no enabled integration has this key"
_HEARTBEAT_KEY = "routing_key: this is a heartbeat integration's key; it takes pings, not events"
_RETRY_AFTER = "5"

#: ``(status, body, headers)`` as the inbound lane sends them.
Reply = tuple[int, dict[str, Any], tuple[tuple[str, str], ...]]


def invalid(*errors: str) -> Reply:
    return 400, pd_error_body(list(errors)), ()


def too_large(size: int) -> Reply:
    return invalid(f"body: {size} bytes is larger than the limit of 512 KiB")


class RateLimiter:
    """At most ``limit`` events per routing key in any ``window`` (a sliding window,
    in this process's memory). Keys are only held while they have recent events."""

    #: Past this many keys, keys without events in their window are dropped.
    SWEEP_AT = 4096

    def __init__(self) -> None:
        self._seen: dict[str, deque[datetime]] = {}

    def allow(self, key: str, *, limit: int, window: timedelta, now: datetime) -> bool:
        since = now - window
        seen = self._seen.get(key)
        if seen is None:
            if len(self._seen) >= self.SWEEP_AT:
                self._sweep(since)
            seen = self._seen[key] = deque()
        while seen and seen[0] <= since:
            seen.popleft()
        if len(seen) >= limit:
            return False
        seen.append(now)
        return True

    def _sweep(self, since: datetime) -> None:
        for key in [k for k, seen in self._seen.items() if not seen or seen[-1] <= since]:
            del self._seen[key]


class PagerDutyEvents:
    """The two endpoints of one application (alert events go through its
    :class:`GroupCommitter`, like every inbound alert)."""

    def __init__(self, committer: GroupCommitter) -> None:
        self.committer = committer
        self.limiter = RateLimiter()

    async def enqueue(self, data: object, size: int) -> Reply:
        if size > PD_MAX_BODY_BYTES:
            return too_large(size)
        try:
            routing_key, event = parse_pd_event(data)
        except IngestError as exc:
            return 400, pd_error_for(exc), ()
        throttled = self._throttled(routing_key)
        if throttled is not None:
            return throttled
        try:
            results = await self.committer.submit(Delivery(routing_key, [event]))
        except UnknownKey:
            return invalid(_UNKNOWN_KEY)
        except InvalidInput as exc:
            return invalid(_HEARTBEAT_KEY if exc.field == "key" else str(exc))
        except DatabaseUnavailable:
            return _unavailable()
        except TocsinError as exc:
            return 500, {"status": "error", "message": f"Not stored ({exc})"}, ()
        assert isinstance(results, list)
        return 202, pd_success_body(results[0].dedup_key), ()

    async def change(self, data: object, size: int) -> Reply:
        if size > PD_MAX_BODY_BYTES:
            return too_large(size)
        try:
            routing_key, change = parse_pd_change(data)
        except IngestError as exc:
            return 400, pd_error_for(exc), ()
        throttled = self._throttled(routing_key)
        if throttled is not None:
            return throttled
        loop = asyncio.get_running_loop()
        try:
            change_id = await loop.run_in_executor(None, self._store_change, routing_key, change)
        except DATABASE_DOWN:
            return _unavailable()
        if change_id is None:
            return invalid(_UNKNOWN_KEY)
        if change_id < 0:
            return invalid(_HEARTBEAT_KEY)
        return 202, pd_change_accepted(change_id), ()

    def _throttled(self, routing_key: str) -> Reply | None:
        """PagerDuty's 429 when the policy limits events per key and this one is over."""
        context = self.committer.context
        settings = context.policy.current.alerting.pagerduty
        if settings.rate_limit is None or self.limiter.allow(
            routing_key,
            limit=settings.rate_limit,
            window=settings.rate_window,
            now=context.clock.now(),
        ):
            return None
        seconds = max(1, round(settings.rate_window.total_seconds()))
        return 429, pd_throttled_body(), (("Retry-After", str(seconds)),)

    def _store_change(self, routing_key: str, change: ChangeEvent) -> int | None:
        """The stored change's id; None for an unknown key, -1 for a heartbeat key."""
        context = self.committer.context
        with session_scope(context.sessions, bulk=True) as session:
            integration = alerts.find_integration(session=session, key=routing_key)
            if integration is None:
                return None
            if integration.kind == "heartbeat":
                return -1
            now = context.clock.now()
            integration.last_seen_at = now
            stored = changes.record_change(
                session=session,
                service=integration.service,
                integration=integration.name,
                summary=change.summary,
                source=change.source,
                timestamp=change.timestamp,
                links=change.links,
                custom_details=change.custom_details,
                now=now,
            )
            hints.on_change_recorded(
                session=session, policy=context.policy.current, change=stored, now=now
            )
            return stored.id


def _unavailable() -> Reply:
    return (
        503,
        {"status": "unavailable", "message": "Database unavailable; retry later"},
        (("Retry-After", _RETRY_AFTER),),
    )
