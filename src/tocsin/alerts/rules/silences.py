"""Silences and maintenance windows: alerts that are stored but page nobody.

A silence mutes alerts by label, like Alertmanager's: it is active from
``starts_at`` (inclusive) until ``ends_at`` (exclusive). A maintenance window mutes
one service for a planned period, with the same bounds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tocsin.policy.alerting import MaintenanceWindowConfig
from tocsin.policy.matchers import Matcher, matches

__all__ = [
    "InvalidSilence",
    "MaintenanceWindow",
    "Silence",
    "SilenceState",
    "in_maintenance",
    "silenced_by",
]


class InvalidSilence(ValueError):
    """A silence or maintenance window that could never be right (see the message)."""


class SilenceState(StrEnum):
    pending = "pending"
    active = "active"
    expired = "expired"


def _check_bounds(starts_at: datetime, ends_at: datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidSilence("starts_at and ends_at must be timezone-aware")
    if ends_at <= starts_at:
        raise InvalidSilence("ends_at must be after starts_at")


def _state(starts_at: datetime, ends_at: datetime, now: datetime) -> SilenceState:
    if now < starts_at:
        return SilenceState.pending
    if now >= ends_at:
        return SilenceState.expired
    return SilenceState.active


@dataclass(frozen=True)
class Silence:
    """Mutes every alert whose labels all ``matchers`` match, between the two times.

    As in Alertmanager, at least one matcher must not match the empty string, so a
    silence cannot mute everything by accident (``foo=~".*"`` alone is refused).
    """

    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str = ""
    comment: str = ""
    id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "matchers", tuple(self.matchers))
        _check_bounds(self.starts_at, self.ends_at)
        if not self.matchers:
            raise InvalidSilence("a silence needs at least one matcher")
        if all(m.matches({}) for m in self.matchers):
            raise InvalidSilence(
                "at least one matcher must not match an empty or missing label, "
                "or the silence would mute every alert"
            )

    def state(self, now: datetime) -> SilenceState:
        return _state(self.starts_at, self.ends_at, now)

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.state(now) is SilenceState.active and matches(self.matchers, labels)


def silenced_by(
    silences: Iterable[Silence], labels: Mapping[str, str], now: datetime
) -> Silence | None:
    """The first active silence that mutes ``labels``, or None."""
    return next((s for s in silences if s.mutes(labels, now)), None)


@dataclass(frozen=True)
class MaintenanceWindow:
    service: str
    starts_at: datetime
    ends_at: datetime
    comment: str = ""

    def __post_init__(self) -> None:
        _check_bounds(self.starts_at, self.ends_at)

    @classmethod
    def from_policy(cls, config: MaintenanceWindowConfig) -> MaintenanceWindow:
        return cls(config.service, config.start, config.end, config.comment)

    @classmethod
    def all_from_policy(
        cls, configs: Sequence[MaintenanceWindowConfig]
    ) -> tuple[MaintenanceWindow, ...]:
        return tuple(cls.from_policy(c) for c in configs)

    def state(self, now: datetime) -> SilenceState:
        return _state(self.starts_at, self.ends_at, now)


def in_maintenance(
    windows: Iterable[MaintenanceWindow], service: str | None, now: datetime
) -> MaintenanceWindow | None:
    """The maintenance window ``service`` is in at ``now``, or None (also for no service)."""
    if service is None:
        return None
    return next(
        (w for w in windows if w.service == service and w.state(now) is SilenceState.active),
        None,
    )
