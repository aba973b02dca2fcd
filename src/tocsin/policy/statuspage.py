"""The ``status_page:`` section of the policy: the public status page and its automation.

::

    status_page:
      title: Example Inc. Status
      url: https://status.example.com
      time_zone: UTC
      impact: {SEV1: critical, SEV2: major, SEV3: minor, SEV4: none}
      automation:
        severities: [SEV1, SEV2]   # default: the two worst levels
        draft: false
      templates:
        incident_name: "{components} - service disruption"
        investigating: "We are currently investigating reports of issues with {components}."
        resolved: "The issue affecting {components} has been resolved."

Which services appear, and as which component, is said on each service
(``services[].status_page``). What customers see is decided in
:mod:`tocsin.statuspage`; this module only describes and checks the file.

Templates are plain text with ``{placeholder}`` fields, filled from public facts only
(component names and times). There is deliberately no placeholder for the internal
incident's title, description or people: a template cannot leak them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from tocsin.policy.base import Loc, PolicyModel, mappings, unknown_name

__all__ = [
    "DEFAULT_AUTOMATED_RANKS",
    "DEFAULT_URL",
    "PLACEHOLDERS",
    "SUBSCRIBER_CHANNEL",
    "Impact",
    "StatusPageAutomation",
    "StatusPageSettings",
    "StatusPageTemplates",
    "UptimeWeights",
    "statuspage_reference_issues",
]

#: The channel that carries subscribers' emails (confirmations, updates).
SUBSCRIBER_CHANNEL = "email"

#: Where the page is served by a `tocsin serve` with default settings. Set `url` to the
#: address customers use: links in subscriber emails and feeds are built from it.
DEFAULT_URL = "http://127.0.0.1:8080/status"

#: The fields a template may use; every value is public.
PLACEHOLDERS: dict[str, str] = {
    "components": "the affected components' names, e.g. 'Checkout, Login'",
    "page": "the status page's title",
    "url": "the status page's public URL",
    "started": "when impact began (UTC, e.g. 2026-03-02 09:00 UTC)",
    "resolved": "when the incident was resolved (UTC); empty before",
    "duration": "how long the impact lasted, e.g. '1h 25m'; empty before resolution",
}

_FIELD = re.compile(r"\{([^{}]*)\}")

#: Without `automation.severities`, the levels of rank 1 and 2 are automated
#: (P0 and P1 open a status-page incident).
DEFAULT_AUTOMATED_RANKS = 2


class Impact(StrEnum):
    """Atlassian Statuspage's impact levels, least first."""

    none = "none"
    minor = "minor"
    major = "major"
    critical = "critical"


def _check_template(value: str) -> str:
    unknown = [name for name in _FIELD.findall(value) if name not in PLACEHOLDERS]
    if unknown:
        raise PydanticCustomError(
            "template_field",
            "unknown placeholder {name}; available: {available}",
            {
                "name": "{" + unknown[0] + "}",
                "available": ", ".join(f"{{{p}}}" for p in PLACEHOLDERS),
            },
        )
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone",
            "unknown time zone {value}; use an IANA name such as 'Europe/Berlin' or 'UTC'",
            {"value": repr(value)},
        ) from None
    return value


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise PydanticCustomError(
            "status_page_url",
            "{value} is not an http(s) URL without query or fragment, "
            "e.g. 'https://status.example.com'",
            {"value": repr(value)},
        )
    return value.rstrip("/")


Template = Annotated[str, Field(min_length=1, max_length=5000), AfterValidator(_check_template)]
NameTemplate = Annotated[str, Field(min_length=1, max_length=300), AfterValidator(_check_template)]


class StatusPageTemplates(PolicyModel):
    """Public messages. ``{placeholders}``: see the module docs."""

    incident_name: NameTemplate = Field(
        default="{components} - service disruption",
        description="Name of a status-page incident that automation opens.",
    )
    investigating: Template = (
        "We are currently investigating reports of issues affecting {components}. "
        "Some customers may be experiencing errors or slow responses. "
        "We will post an update as soon as we know more."
    )
    identified: Template = (
        "We have identified the cause of the issue affecting {components} and are working on a fix."
    )
    monitoring: Template = (
        "A fix has been put in place for {components} and we are monitoring the results."
    )
    resolved: Template = (
        "The issue affecting {components} has been resolved as of {resolved} "
        "and all systems are operating normally. Duration: {started} to {resolved} "
        "({duration}). We apologize for any inconvenience."
    )

    def body_for(self, status: str) -> str | None:
        """The template of a public status (investigating ... resolved), if any."""
        value = getattr(self, status, None) if status in _STATUS_TEMPLATES else None
        return value if isinstance(value, str) else None


_STATUS_TEMPLATES = ("investigating", "identified", "monitoring", "resolved")


class StatusPageAutomation(PolicyModel):
    """``status_page_automation``: what the incident lifecycle does by itself."""

    enabled: bool = Field(default=True, description="Switch all automation off with false.")
    severities: tuple[str, ...] = Field(
        default=(),
        description="Declaring (or raising to) one of these on a service with a status "
        "page component opens a status-page incident. Names or aliases; empty (the "
        "default) means the two worst levels, e.g. SEV1 and SEV2.",
    )
    customer_facing_only: bool = Field(
        default=True,
        description="Only services marked `customer_facing` open one automatically.",
    )
    draft: bool = Field(
        default=False,
        description="Open it as a draft that the communications lead publishes "
        "(`tocsin status incident publish`), instead of publishing at once.",
    )
    reuse_title: bool = Field(
        default=False,
        description="Name it after the internal incident's title instead of "
        "`templates.incident_name`. Internal titles often say more than customers should "
        "read; leave this off unless titles are written for customers.",
    )
    mirror_public_updates: bool = Field(
        default=True,
        description="A status update marked public on the internal incident is posted on "
        "its status-page incident (opening one if there is none yet).",
    )
    post_resolved: bool = Field(
        default=True,
        description="Resolving the internal incident resolves its status-page incident "
        "with the `resolved` template.",
    )
    notify_subscribers: bool = Field(
        default=True, description="Email confirmed subscribers about each published update."
    )


Weight = Annotated[float, Field(ge=0, le=1)]


class UptimeWeights(PolicyModel):
    """How much of a minute of each component state counts as downtime (Atlassian's
    convention: a major outage counts fully, a partial outage 30 %, degraded nothing)."""

    major_outage: Weight = 1.0
    partial_outage: Weight = 0.3
    degraded_performance: Weight = 0.0


class StatusPageSettings(PolicyModel):
    """The public status page. Leave the section out for these defaults."""

    title: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        default="Service Status", description="Page title, also the feed's and emails' name."
    )
    url: Annotated[str, AfterValidator(_check_url)] = Field(
        default=DEFAULT_URL,
        description="Public URL of the status page (the `/status` path of this server, or "
        "what a proxy maps to it). Links in feeds and subscriber emails use it.",
    )
    time_zone: Annotated[str, AfterValidator(_check_timezone)] = Field(
        default="UTC", description="IANA zone that times on the page are shown in."
    )
    impact: dict[str, Impact] = Field(
        default_factory=dict,
        description="Severity (name or alias) -> impact (none, minor, major, critical). "
        "Severities left out: critical, major, minor for the three worst, none below.",
    )
    uptime_days: int = Field(default=90, ge=7, le=365, description="Days shown in the uptime bars.")
    uptime_weights: UptimeWeights = UptimeWeights()
    subscriptions: bool = Field(default=True, description="Offer email subscriptions.")
    automation: StatusPageAutomation = StatusPageAutomation()
    templates: StatusPageTemplates = StatusPageTemplates()

    def impact_for(self, severity: str, rank: int, aliases: Sequence[str] = ()) -> Impact:
        """The impact of an incident of ``severity`` (rank 1 = worst)."""
        by_label = {k.casefold(): v for k, v in self.impact.items()}
        for label in (severity, *aliases):
            found = by_label.get(label.casefold())
            if found is not None:
                return found
        defaults = (Impact.critical, Impact.major, Impact.minor)
        return defaults[rank - 1] if 1 <= rank <= len(defaults) else Impact.none

    def automates(self, severity: str, rank: int, aliases: Sequence[str] = ()) -> bool:
        """Whether automation opens a status-page incident for this severity."""
        if not self.automation.enabled:
            return False
        if not self.automation.severities:
            return 1 <= rank <= DEFAULT_AUTOMATED_RANKS
        wanted = {s.casefold() for s in self.automation.severities}
        return any(label.casefold() in wanted for label in (severity, *aliases))


# --- cross-reference checks (on the plain document, like the other sections) ---------


def _severity_labels(data: Mapping[str, Any]) -> set[str]:
    labels: set[str] = set()
    for _, entry in mappings(data.get("severities")):
        name = entry.get("name")
        if isinstance(name, str):
            labels.add(name)
        aliases = entry.get("aliases")
        if isinstance(aliases, Sequence) and not isinstance(aliases, str):
            labels.update(a for a in aliases if isinstance(a, str))
    return labels


def statuspage_reference_issues(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Severities in ``impact`` and ``automation.severities`` that the policy lacks."""
    section = data.get("status_page")
    if not isinstance(section, Mapping):
        return []
    issues: list[tuple[Loc, str]] = []
    labels = _severity_labels(data)
    folded = {label.casefold() for label in labels}
    impact = section.get("impact")
    if isinstance(impact, Mapping):
        for name in impact:
            if isinstance(name, str) and name.casefold() not in folded:
                issues.append(
                    (("status_page", "impact", name), unknown_name("severity", name, labels))
                )
    automation = section.get("automation")
    if isinstance(automation, Mapping):
        severities = automation.get("severities")
        if isinstance(severities, Sequence) and not isinstance(severities, str):
            for index, name in enumerate(severities):
                if isinstance(name, str) and name.casefold() not in folded:
                    loc: Loc = ("status_page", "automation", "severities", index)
                    issues.append((loc, unknown_name("severity", name, labels)))
    return issues
