"""Everything a running server shares: settings, clock, policy and database."""

from __future__ import annotations

from dataclasses import dataclass, field

from tocsin.clock import Clock, SystemClock
from tocsin.config import Settings
from tocsin.db import SessionFactory, create_db_engine
from tocsin.metrics.cache import IncidentTableCache
from tocsin.policy import PolicyStore
from tocsin.web.redaction import install_log_masking

__all__ = ["AppContext"]


@dataclass
class AppContext:
    settings: Settings
    policy: PolicyStore
    sessions: SessionFactory
    clock: Clock = field(default_factory=SystemClock)
    #: Incident facts kept between metrics requests (:mod:`tocsin.metrics.cache`).
    metrics_cache: IncidentTableCache = field(default_factory=IncidentTableCache)

    def __post_init__(self) -> None:
        install_log_masking()  # a process with a context serves or works: no secret in its logs

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> AppContext:
        """Load the policy (refusing a bad one) and connect to the configured database."""
        store = PolicyStore(settings.policy)
        engine = create_db_engine(settings.resolved_database_url())
        return cls(
            settings=settings,
            policy=store,
            sessions=SessionFactory(engine),
            clock=clock or SystemClock(),
        )
