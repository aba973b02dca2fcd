"""Opsgenie's Alert API, as Opsgenie answers it, so that monitoring configured for
Opsgenie moves by changing its base URL:

- ``POST /v2/alerts`` creates an alert (a repeat of an open alias only counts);
- ``POST /v2/alerts/{identifier}/close`` and ``.../acknowledge`` with
  ``identifierType=alias`` or ``id`` (the default, Tocsin's alert id; ``tiny`` is the
  same number);
- ``GET /v2/alerts/requests/{requestId}`` tells what became of a request.

Every request carries ``Authorization: GenieKey <integration key>``. Opsgenie
processes alert requests asynchronously and answers 202 ``{"result": "Request will
be processed", "took": ..., "requestId": ...}``; here the request is committed before
that answer, so its outcome is already known and the request id carries it (the
alert's id, the action and when it was processed): the status endpoint needs no
table of its own and answers the same from every process.

Refusals have Opsgenie's shape ``{"message": ..., "took": ..., "requestId": ...}``:
400 for a body that is not JSON, 401 for a missing or unknown key, 403 for a
heartbeat key, 422 (with ``errors``) for a field to fix, 503 with ``Retry-After``
when the database cannot be reached.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tocsin.alerts import service as alerts
from tocsin.db import session_scope
from tocsin.db.faults import DATABASE_DOWN
from tocsin.errors import InvalidInput, TocsinError
from tocsin.ingest import AlertEvent, IngestError
from tocsin.ingest.events import Action
from tocsin.ingest.opsgenie import (
    could_be_alias,
    og_error_body,
    og_error_for,
    og_success_body,
    parse_og_action,
    parse_og_create,
)
from tocsin.web.groupcommit import DatabaseUnavailable, Delivery, GroupCommitter, UnknownKey

__all__ = ["OG_MAX_BODY_BYTES", "OpsgenieAlerts", "RequestStatus", "genie_key"]

#: Opsgenie's own limit on a request body.
OG_MAX_BODY_BYTES = 256 * 1024
_RETRY_AFTER = "5"
_ACTION_CODES: dict[str, str] = {"c": "Create", "x": "Close", "a": "Acknowledge"}
_CODE_OF: dict[Action, str] = {"trigger": "c", "resolve": "x", "acknowledge": "a"}
_IDENTIFIER_TYPES = ("id", "alias", "tiny")
_HEARTBEAT = "This is a heartbeat integration's key; it takes pings, not alerts"

#: ``(status, body, headers)``, as the inbound lane sends them.
Reply = tuple[int, dict[str, Any], tuple[tuple[str, str], ...]]


def genie_key(authorization: str | None) -> str | None:
    """The key of an ``Authorization: GenieKey <key>`` header (None otherwise)."""
    if not authorization:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    if scheme.lower() != "geniekey" or not key.strip():
        return None
    return key.strip()


@dataclass(frozen=True)
class RequestStatus:
    """What became of one request, as its id carries it."""

    alert_id: int  # 0: no such alert
    action: str  # Create, Close, Acknowledge
    processed_at: datetime

    def encode(self) -> str:
        code = next(c for c, name in _ACTION_CODES.items() if name == self.action)
        millis = int(self.processed_at.timestamp() * 1000)
        return f"{self.alert_id:08x}-{code}{millis:x}-{secrets.token_hex(6)}"

    @classmethod
    def decode(cls, request_id: str) -> RequestStatus | None:
        parts = request_id.split("-")
        if len(parts) != 3 or not parts[1] or parts[1][0] not in _ACTION_CODES:
            return None
        try:
            alert_id = int(parts[0], 16)
            millis = int(parts[1][1:], 16)
            processed_at = datetime.fromtimestamp(millis / 1000, UTC)
        except (ValueError, OverflowError, OSError):
            return None
        return cls(alert_id, _ACTION_CODES[parts[1][0]], processed_at)


class _Refused(Exception):
    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class OpsgenieAlerts:
    """The endpoints of one application; alert events go through its
    :class:`GroupCommitter`, like every inbound alert."""

    def __init__(self, committer: GroupCommitter) -> None:
        self.committer = committer

    async def create(self, key: str | None, data: object, size: int) -> Reply:
        started = time.perf_counter()
        try:
            key = _require_key(key)
            _check_size(size)
            event = parse_og_create(data)
            status = await self._submit(key, event, "Create")
        except _Refused as refused:
            return _refusal(refused, started)
        except IngestError as exc:
            return 422, og_error_for(exc, _plain_id(), _took(started)), ()
        return 202, og_success_body(status.encode(), _took(started)), ()

    async def act(
        self,
        key: str | None,
        identifier: str,
        identifier_type: str | None,
        action: Action,
        data: object,
        size: int,
    ) -> Reply:
        """Close (``resolve``) or acknowledge the alert that ``identifier`` names."""
        started = time.perf_counter()
        name = "Close" if action == "resolve" else "Acknowledge"
        kind = identifier_type or "id"
        try:
            key = _require_key(key)
            _check_size(size)
            if kind not in _IDENTIFIER_TYPES:
                raise IngestError(
                    "identifierType", f"must be one of {', '.join(_IDENTIFIER_TYPES)}, not {kind!r}"
                )
            if kind == "alias":
                alias = identifier if could_be_alias(identifier) else None
            else:
                alias = await self._alias_of(key, identifier)
            if alias is None:  # no such alert: accepted, and its status says so
                status = RequestStatus(0, name, self.committer.context.clock.now())
            else:
                status = await self._submit(key, parse_og_action(data, action, alias), name)
        except _Refused as refused:
            return _refusal(refused, started)
        except IngestError as exc:
            return 422, og_error_for(exc, _plain_id(), _took(started)), ()
        return 202, og_success_body(status.encode(), _took(started)), ()

    async def request_status(self, key: str | None, request_id: str) -> Reply:
        """``GET /v2/alerts/requests/{requestId}``: the outcome of an earlier request."""
        started = time.perf_counter()
        try:
            key = _require_key(key)
            status = RequestStatus.decode(request_id)
            loop = asyncio.get_running_loop()
            found = await loop.run_in_executor(None, self._lookup, key, status)
        except _Refused as refused:
            return _refusal(refused, started)
        except DATABASE_DOWN:
            return _refusal(_unavailable(), started)
        if status is None or found is None:
            body = og_error_body(
                "Request not found. It might not be processed, yet.", _plain_id(), _took(started)
            )
            return 404, body, ()
        integration_id, alias = found
        data: dict[str, Any] = {
            "success": status.alert_id != 0,
            "action": status.action,
            "processedAt": status.processed_at.isoformat().replace("+00:00", "Z"),
            "integrationId": str(integration_id),
            "isSuccess": status.alert_id != 0,
            "status": _status_text(status),
            "alertId": str(status.alert_id) if status.alert_id else "",
            "alias": alias,
        }
        return 200, {"data": data, "took": _took(started), "requestId": _plain_id()}, ()

    async def _submit(self, key: str, event: AlertEvent, action: str) -> RequestStatus:
        try:
            results = await self.committer.submit(Delivery(key, [event]))
        except UnknownKey:
            raise _Refused(401, "Could not authenticate") from None
        except InvalidInput:  # a heartbeat key
            raise _Refused(403, _HEARTBEAT) from None
        except DatabaseUnavailable:
            raise _unavailable() from None
        except TocsinError as exc:
            raise _Refused(500, f"Not stored ({exc})") from None
        assert isinstance(results, list)
        alert_id = results[0].alert_id or 0
        return RequestStatus(alert_id, action, self.committer.context.clock.now())

    async def _alias_of(self, key: str, identifier: str) -> str | None:
        """The dedup key of the alert with this id, when the key's integration has it."""
        if not identifier.isdigit() or len(identifier) > 18:
            return None
        loop = asyncio.get_running_loop()
        try:
            found = await loop.run_in_executor(
                None, self._lookup, key, RequestStatus(int(identifier), "Close", _epoch())
            )
        except DATABASE_DOWN:
            raise _unavailable() from None
        return None if found is None else found[1]

    def _lookup(self, key: str, status: RequestStatus | None) -> tuple[int, str] | None:
        """``(integration id, alert's dedup key)`` for the alert a status names (an
        empty dedup key for "no such alert"); raises 401 for an unknown key."""
        context = self.committer.context
        with session_scope(context.sessions) as session:
            integration = alerts.find_integration(session=session, key=key)
            if integration is None:
                raise _Refused(401, "Could not authenticate")
            if integration.kind == "heartbeat":
                raise _Refused(403, _HEARTBEAT)
            if status is None:
                return None
            if status.alert_id == 0:
                return integration.id, ""
            try:
                alert = alerts.get_alert(session=session, alert_id=status.alert_id)
            except TocsinError:
                return None
            if alert.integration_id != integration.id:
                return None
            return integration.id, alert.dedup_key


def _status_text(status: RequestStatus) -> str:
    if status.alert_id == 0:
        return "Alert does not exist"
    return {"Create": "Created alert", "Close": "Closed alert"}.get(
        status.action, "Acknowledged alert"
    )


def _require_key(key: str | None) -> str:
    if key is None:
        raise _Refused(401, "Could not authenticate")
    return key


def _check_size(size: int) -> None:
    if size > OG_MAX_BODY_BYTES:
        raise IngestError("body", f"{size} bytes is larger than the limit of 256 KiB")


def _unavailable() -> _Refused:
    return _Refused(503, "Database unavailable; retry later", (("Retry-After", _RETRY_AFTER),))


def _refusal(refused: _Refused, started: float) -> Reply:
    return (
        refused.status,
        og_error_body(refused.message, _plain_id(), _took(started)),
        refused.headers,
    )


def _took(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _plain_id() -> str:
    """A request id for an answer that has no outcome to carry."""
    return secrets.token_hex(16)


def _epoch() -> datetime:
    return datetime.fromtimestamp(0, UTC)
