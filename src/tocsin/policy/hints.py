"""The ``hints`` section of the policy: how root-cause hints are weighed, which changes
count as recent, and whether a downstream incident's pages wait for its upstream."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from tocsin.policy.base import PolicyModel
from tocsin.policy.channels import EnvName
from tocsin.policy.durations import Duration

__all__ = ["ChangeSettings", "HintSettings", "HintWeights"]


class HintWeights(PolicyModel):
    """The confidence of each kind of hint at its strongest (0 turns a kind off)."""

    change: float = Field(
        default=0.85, ge=0, le=1, description="A change shortly before impact began."
    )
    upstream: float = Field(
        default=0.90, ge=0, le=1, description="A dependency with an open incident or firing alerts."
    )
    resource: float = Field(
        default=0.75, ge=0, le=1, description="Memory, CPU, disk, connections, saturation."
    )
    similar: float = Field(
        default=0.60, ge=0, le=1, description="A similar past incident on the same services."
    )


class HintSettings(PolicyModel):
    weights: HintWeights = HintWeights()
    change_close: Duration = Field(
        default=timedelta(minutes=10),
        description="A change this close before impact start counts fully.",
    )
    change_window: Duration = Field(
        default=timedelta(hours=2),
        description="Changes further back than this before impact start are not suspected.",
    )
    recent_changes: Duration = Field(
        default=timedelta(hours=24),
        description="How far back the incident page and chat list recent changes.",
    )
    hold_downstream_pages: bool = Field(
        default=False,
        description="A downstream incident pages only when its upstream incident resolves "
        "(and it is still open).",
    )


class ChangeSettings(PolicyModel):
    """Where changes come from."""

    github_secret_env: EnvName = Field(
        default="TOCSIN_GITHUB_WEBHOOK_SECRET",
        description="Holds the secret of GitHub's deployment_status webhooks (the one set "
        "on the webhook); while it is unset, GitHub deliveries are refused.",
    )
