"""The ``severities`` section of the policy: the levels incidents are ranked by."""

from __future__ import annotations

from pydantic import ConfigDict, Field, PrivateAttr

from tocsin.policy.base import PolicyModel, SeverityName
from tocsin.policy.durations import Duration

__all__ = ["Severity", "UnknownSeverity"]


class UnknownSeverity(ValueError):
    """A severity name or alias that the policy does not define."""


class Severity(PolicyModel):
    """One severity level. Levels are listed worst first; ``rank`` 1 is the worst."""

    # Each Policy gets its own copies, because the rank is set from the position.
    model_config = ConfigDict(revalidate_instances="always")

    name: SeverityName = Field(description="Canonical name shown everywhere, e.g. SEV1.")
    aliases: tuple[SeverityName, ...] = Field(
        default=(), description="Other names accepted for this level (case-insensitive)."
    )
    description: str = Field(default="", description="What this level means.")
    respond_within: Duration = Field(description="Target time to acknowledge / respond.")
    escalate_after: Duration = Field(description="Escalate when unacknowledged this long.")
    update_every: Duration = Field(description="Status update cadence while open.")
    resolve_target: Duration = Field(description="Target time to resolve (MTTR target).")
    postmortem_required: bool = Field(default=False, description="Require a post-mortem.")

    _rank: int = PrivateAttr(default=0)

    @property
    def rank(self) -> int:
        """1 for the worst level, increasing by position in ``severities``."""
        return self._rank

    @property
    def labels(self) -> tuple[str, ...]:
        """The name followed by the aliases."""
        return (self.name, *self.aliases)
