"""Who hears of the outbox's events, inside the transaction that records them.

The outbox sits below the domains that count its work (the metrics); they register
here — through :func:`tocsin.wiring.wire`, never on import — and the outbox calls them
when a message is queued (:func:`tocsin.notify.service.enqueue`) and when a delivery
attempt has an outcome (:mod:`tocsin.notify.deliveries`). An observer runs in the
caller's transaction, so what it writes commits or rolls back with the event; it must
be cheap and must not commit. :data:`OBSERVERS` is the process's registry; a fresh
:class:`OutboxObservers` serves tests.
"""

from __future__ import annotations

import threading
from enum import StrEnum
from typing import Protocol

from sqlalchemy.orm import Session

from tocsin.notify.models import Delivery

__all__ = [
    "OBSERVERS",
    "DeliveryObserver",
    "DeliveryOutcome",
    "OutboxObservers",
    "QueuedObserver",
]


class DeliveryOutcome(StrEnum):
    """What an attempt to deliver came to."""

    #: The channel took the message.
    sent = "sent"
    #: A temporary error (or a send whose outcome is unknown, on a channel that honours
    #: an idempotency key): the delivery is tried again later.
    retry = "retry"
    #: Given up: the dead letter.
    failed = "failed"


class DeliveryObserver(Protocol):
    def __call__(self, *, session: Session, row: Delivery, outcome: DeliveryOutcome) -> None: ...


class QueuedObserver(Protocol):
    """Hears of a message queued for the first time (``kind``: page, stakeholder, ...;
    ``channel``: "person" or the channel of a broadcast)."""

    def __call__(self, *, session: Session, kind: str, channel: str) -> None: ...


class OutboxObservers:
    """The observers of each outbox event, called in the order they were registered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._delivery: tuple[DeliveryObserver, ...] = ()
        self._queued: tuple[QueuedObserver, ...] = ()

    def on_delivery(self, observer: DeliveryObserver) -> None:
        """Add ``observer`` of delivery outcomes, once."""
        with self._lock:
            if observer not in self._delivery:
                self._delivery = (*self._delivery, observer)

    def on_queued(self, observer: QueuedObserver) -> None:
        """Add ``observer`` of queued messages, once."""
        with self._lock:
            if observer not in self._queued:
                self._queued = (*self._queued, observer)

    @property
    def observers(self) -> tuple[tuple[DeliveryObserver, ...], tuple[QueuedObserver, ...]]:
        """(delivery observers, queued-message observers), in the order they run."""
        return self._delivery, self._queued

    def delivered(self, *, session: Session, row: Delivery, outcome: DeliveryOutcome) -> None:
        for observer in self._delivery:
            observer(session=session, row=row, outcome=outcome)

    def queued(self, *, session: Session, kind: str, channel: str) -> None:
        for observer in self._queued:
            observer(session=session, kind=kind, channel=channel)


#: The process's registry: the outbox runs it, :func:`tocsin.wiring.wire` fills it.
OBSERVERS = OutboxObservers()
