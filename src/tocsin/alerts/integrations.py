"""Integration keys: the secret in an inbound URL (or PagerDuty's ``routing_key``)
that says which service an alert is for.

Integrations live in the database only (created with the API or
``tocsin integration create``); the policy file does not declare them, so that no key
ever sits in a file under version control. A key is shown once, when it is created;
afterwards only its SHA-256 (for lookup) and a short prefix (to tell keys apart) are
stored, and nothing here logs it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.alerts.heartbeats import HEARTBEAT_MISSED, heartbeat_key_prefixes
from tocsin.alerts.models import INTEGRATION_KINDS, Integration, IntegrationCreated, IntegrationRead
from tocsin.db.jobs import cancel_jobs
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.policy import Policy

__all__ = [
    "KEY_PREFIX",
    "create_integration",
    "disable_integration",
    "find_integration",
    "get_integration",
    "hash_key",
    "integration_created",
    "integration_to_read",
    "list_integrations",
]

KEY_PREFIX = "tcsi_"
#: Characters of the random part kept for display (with the ``tcsi_`` prefix).
_SHOWN = 6
#: Keys are ``tcsi_`` + 32 URL-safe characters; anything much longer is not a key.
_MAX_KEY = 200
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MIN_HEARTBEAT = timedelta(seconds=10)


def hash_key(key: str) -> str:
    """Keys carry 192 random bits, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_integration(
    *,
    session: Session,
    policy: Policy,
    name: str,
    service: str,
    kind: str,
    now: datetime,
    heartbeat_interval: timedelta | None = None,
) -> tuple[Integration, str]:
    """A new integration and its key (``tcsi_...``), which is never shown again.

    ``heartbeat_interval`` is required for ``heartbeat`` integrations (a ping is
    expected at least that often) and refused for the others.
    """
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            "name", "use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if policy.service(service) is None:
        known = ", ".join(s.name for s in policy.services) or "none defined in the policy"
        raise InvalidInput("service", f"unknown service {service!r}; known: {known}")
    if kind not in INTEGRATION_KINDS:
        raise InvalidInput(
            "kind", f"unknown kind {kind!r}; use one of {', '.join(INTEGRATION_KINDS)}"
        )
    seconds: int | None = None
    if kind == "heartbeat":
        if heartbeat_interval is None:
            raise InvalidInput("heartbeat_interval", "a heartbeat integration needs an interval")
        if heartbeat_interval < MIN_HEARTBEAT:
            raise InvalidInput("heartbeat_interval", "must be at least 10 seconds")
        seconds = int(heartbeat_interval.total_seconds())
    elif heartbeat_interval is not None:
        raise InvalidInput("heartbeat_interval", "only heartbeat integrations take an interval")
    if session.scalar(select(Integration.id).where(Integration.name == name)) is not None:
        raise Conflict(f"an integration named {name!r} already exists")
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    integration = Integration(
        name=name,
        service=service,
        kind=kind,
        key_hash=hash_key(key),
        key_prefix=key[: len(KEY_PREFIX) + _SHOWN],
        heartbeat_seconds=seconds,
        created_at=now,
    )
    session.add(integration)
    session.flush()
    return integration, key


def find_integration(*, session: Session, key: str) -> Integration | None:
    """The enabled integration with this key, or None (unknown, malformed or disabled)."""
    if not key or len(key) > _MAX_KEY:
        return None
    return session.scalar(
        select(Integration).where(
            Integration.key_hash == hash_key(key), Integration.disabled_at.is_(None)
        )
    )


def get_integration(*, session: Session, name: str) -> Integration:
    found = session.scalar(select(Integration).where(Integration.name == name))
    if found is None:
        raise NotFound(f"integration {name!r} not found")
    return found


def list_integrations(*, session: Session) -> list[Integration]:
    return list(session.scalars(select(Integration).order_by(Integration.name)))


def disable_integration(*, session: Session, name: str, now: datetime) -> Integration:
    """Refuse its key from now on and stop its heartbeat timers. Its alerts stay."""
    integration = get_integration(session=session, name=name)
    if integration.disabled_at is None:
        integration.disabled_at = now
        for prefix in heartbeat_key_prefixes(session=session, integration=integration):
            cancel_jobs(session=session, key_prefix=prefix, now=now, kinds=(HEARTBEAT_MISSED,))
    return integration


def integration_to_read(integration: Integration) -> IntegrationRead:
    return IntegrationRead(
        id=integration.id,
        name=integration.name,
        service=integration.service,
        kind=integration.kind,
        key_prefix=integration.key_prefix,
        heartbeat_interval_seconds=integration.heartbeat_seconds,
        created_at=integration.created_at,
        last_seen_at=integration.last_seen_at,
        disabled_at=integration.disabled_at,
    )


def integration_created(integration: Integration, key: str) -> IntegrationCreated:
    """The one answer that carries the key."""
    return IntegrationCreated(**integration_to_read(integration).model_dump(), key=key)
