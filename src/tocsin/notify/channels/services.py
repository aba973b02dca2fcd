"""What the delivery worker lends an adapter that keeps references to objects it made in
an outside system (a Jira issue per incident): the database and the clock.

An adapter that wants them has a ``use_services(services)`` method
(:class:`UsesServices`); :func:`tocsin.notify.channels.build_channel` calls it. Each
call below runs in its own short transaction, outside the send's network calls, so a
slow outside system never holds a database lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tocsin.clock import Clock
from tocsin.db import SessionFactory, session_scope
from tocsin.notify.models import Delivery
from tocsin.notify.refs import find_ref, put_ref

__all__ = ["ChannelServices", "StoredRef", "UsesServices"]


@dataclass(frozen=True)
class StoredRef:
    external_id: str
    url: str | None
    data: Mapping[str, Any]


@dataclass(frozen=True)
class ChannelServices:
    sessions: SessionFactory
    clock: Clock

    def incident_pk(self, delivery_key: str) -> int | None:
        """The database id of the incident a delivery (by its idempotency key) is about."""
        with session_scope(self.sessions, write=False) as session:
            return session.scalar(select(Delivery.incident_id).where(Delivery.key == delivery_key))

    def find(self, *, system: str, kind: str, subject: str) -> StoredRef | None:
        with session_scope(self.sessions, write=False) as session:
            ref = find_ref(session=session, system=system, kind=kind, subject=subject)
            return None if ref is None else StoredRef(ref.external_id, ref.url, dict(ref.data))

    def put(
        self,
        *,
        system: str,
        kind: str,
        subject: str,
        external_id: str,
        url: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        with session_scope(self.sessions) as session:
            put_ref(
                session=session,
                system=system,
                kind=kind,
                subject=subject,
                external_id=external_id,
                url=url,
                data=data,
                now=self.clock.now(),
            )

    def claim(self, *, system: str, subject: str, holder: str, stale_after: timedelta) -> bool:
        """Whether this sender may create ``subject``'s object in ``system`` now: True for
        the first to ask (a committed row, unique per subject, so two workers in two
        processes cannot both win) and for whoever asks after the claim went stale (its
        holder died between claiming and creating)."""
        now = self.clock.now()
        try:
            with session_scope(self.sessions) as session:
                ref = find_ref(session=session, system=system, kind="claim", subject=subject)
                if ref is not None and ref.updated_at > now - stale_after:
                    return ref.external_id == holder
                put_ref(
                    session=session,
                    system=system,
                    kind="claim",
                    subject=subject,
                    external_id=holder,
                    now=now,
                )
        except IntegrityError:  # another sender inserted the claim a moment ago
            return False
        return True

    def release(self, *, system: str, subject: str, holder: str) -> None:
        """Give up ``holder``'s claim (nothing was created: the next sender may try)."""
        with session_scope(self.sessions) as session:
            ref = find_ref(session=session, system=system, kind="claim", subject=subject)
            if ref is not None and ref.external_id == holder:
                session.delete(ref)


@runtime_checkable
class UsesServices(Protocol):
    def use_services(self, services: ChannelServices) -> None: ...
