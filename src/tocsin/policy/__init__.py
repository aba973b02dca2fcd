"""Policy as code: the ``tocsin.yaml`` file, its models, loader, checks and schema."""

from tocsin.policy.durations import Duration, format_duration, parse_duration
from tocsin.policy.loader import (
    PolicyError,
    PolicyIssue,
    example_policy_text,
    load_policy,
    parse_policy,
)
from tocsin.policy.models import Policy
from tocsin.policy.people import Person, Team
from tocsin.policy.roles import DEFAULT_ROLES, RoleDef
from tocsin.policy.rules import compute_tags
from tocsin.policy.schema import policy_json_schema
from tocsin.policy.services import Service, StatusPageComponent
from tocsin.policy.severities import Severity, UnknownSeverity
from tocsin.policy.store import PolicyStore
from tocsin.policy.tagging import TaggingRule

__all__ = [
    "DEFAULT_ROLES",
    "Duration",
    "Person",
    "Policy",
    "PolicyError",
    "PolicyIssue",
    "PolicyStore",
    "RoleDef",
    "Service",
    "Severity",
    "StatusPageComponent",
    "TaggingRule",
    "Team",
    "UnknownSeverity",
    "compute_tags",
    "example_policy_text",
    "format_duration",
    "load_policy",
    "parse_duration",
    "parse_policy",
    "policy_json_schema",
]
