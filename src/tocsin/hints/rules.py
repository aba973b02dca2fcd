"""Ranking root-cause hints: pure functions over plain data (no database, ``now`` and
every fact are arguments).

Four rules each turn facts into hints, one hint per thing suspected:

- :func:`change_hints` — a change to the service or one of its dependencies shortly
  before impact began: the closer in time and the nearer the service, the likelier.
  A change at or after impact start is never a hint (it cannot have caused it).
- :func:`upstream_hints` — a dependency with an open incident, or firing alerts, that
  began before this impact: its cause is probably this incident's too.
- :func:`resource_hints` — alerts about memory, CPU, disk, connections or saturation on
  the service or its hosts.
- :func:`similar_hints` — past incidents like this one, with their root cause and
  resolution.

Evidence only ever adds: another alert on a failing dependency, another resource
alert, never lowers a hint's confidence. :func:`rank` orders hints by confidence, then
by kind (:data:`KIND_ORDER`), then by key, so hints that tie keep one order however
the facts arrived.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tocsin.timetext import duration_text

__all__ = [
    "KIND_ORDER",
    "RESOURCE_WORDS",
    "AlertFact",
    "ChangeFact",
    "Evidence",
    "Hint",
    "IncidentFact",
    "Situation",
    "Weights",
    "change_hints",
    "compute",
    "dependency_depths",
    "rank",
    "resource_hints",
    "resource_kind",
    "similar_hints",
    "upstream_hints",
]

#: Which kind of hint goes first when two are equally likely.
KIND_ORDER = ("change", "upstream", "resource", "similar")

#: Words in an alert's title or labels that say which resource ran short.
RESOURCE_WORDS: Mapping[str, tuple[str, ...]] = {
    "memory": ("memory", "oom", "heap", "swap"),
    "cpu": ("cpu", "load average", "throttl"),
    "disk": ("disk", "filesystem", "inode", "volume full", "iops"),
    "connections": ("connection", "conn pool", "too many clients", "file descriptor"),
    "saturation": ("saturat", "queue full", "backlog", "thread pool", "exhaust"),
}

#: Each step further down the dependency graph keeps this share of the confidence.
DEPTH_DECAY = 0.9
#: What each extra piece of evidence adds, and the ceiling it cannot pass.
EVIDENCE_STEP = 0.02
CEILING = 0.99


@dataclass(frozen=True)
class Weights:
    change: float = 0.85
    upstream: float = 0.90
    resource: float = 0.75
    similar: float = 0.60
    change_close: timedelta = timedelta(minutes=10)
    change_window: timedelta = timedelta(hours=2)


@dataclass(frozen=True)
class Evidence:
    kind: str  # change, alert, incident, postmortem
    ref: str
    text: str
    href: str | None = None


@dataclass(frozen=True)
class ChangeFact:
    id: int
    service: str
    summary: str
    timestamp: datetime
    href: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class AlertFact:
    id: int
    service: str | None
    title: str
    started_at: datetime
    firing: bool = True
    host: str | None = None
    #: Label values and annotations worth reading for resource words.
    text: str = ""


@dataclass(frozen=True)
class IncidentFact:
    ref: str
    title: str
    services: tuple[str, ...]
    started_at: datetime
    open: bool = True
    #: For past incidents: how alike (0..1), and what their post-mortem says.
    similarity: float = 0.0
    root_cause: str | None = None
    category: str | None = None
    resolution: str | None = None
    action_items: tuple[str, ...] = ()
    href: str | None = None


@dataclass(frozen=True)
class Situation:
    """The incident the hints are for."""

    services: tuple[str, ...]
    #: Each dependency of the services (transitively) and how many steps away (1 = direct).
    dependencies: Mapping[str, int]
    impact_start: datetime
    hosts: tuple[str, ...] = ()
    #: The incidents it is already linked downstream of (INC-n).
    linked: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hint:
    key: str
    kind: str
    confidence: float
    explanation: str
    evidence: tuple[Evidence, ...] = field(default=())
    category: str = "technical"


def dependency_depths(
    services: Iterable[str], depends_on: Mapping[str, Sequence[str]]
) -> dict[str, int]:
    """Every service the given ones depend on, directly or not, with its distance
    (breadth first: the shortest path wins). The services themselves are left out."""
    start = set(services)
    depths: dict[str, int] = {}
    frontier = sorted(start)
    depth = 0
    while frontier:
        depth += 1
        following: list[str] = []
        for name in frontier:
            for dep in depends_on.get(name, ()):
                if dep not in start and dep not in depths:
                    depths[dep] = depth
                    following.append(dep)
        frontier = sorted(following)
    return depths


def _scope(situation: Situation, service: str | None) -> int | None:
    """0 for the incident's own services, the depth for a dependency, None otherwise."""
    if service is None:
        return None
    if service in situation.services:
        return 0
    return situation.dependencies.get(service)


def _with_evidence(base: float, count: int) -> float:
    """``base``, raised a little for each piece of evidence beyond the first."""
    return min(max(base, 0.0) + EVIDENCE_STEP * max(count - 1, 0) * base, max(base, CEILING))


def _corroboration(
    situation: Situation,
    change: ChangeFact,
    depth: int,
    incidents: Sequence[IncidentFact],
    alerts: Sequence[AlertFact],
    w: Weights,
) -> tuple[float, tuple[Evidence, ...]]:
    """How strongly a dependency's failure since the change, and before impact start,
    says the change broke it: the confidence its upstream hint would have, or 0."""
    if depth == 0:
        return 0.0, ()
    since, until = change.timestamp, situation.impact_start
    failing = [
        i
        for i in incidents
        if i.open and change.service in i.services and since <= i.started_at <= until
    ]
    firing = [
        a
        for a in alerts
        if a.firing and a.service == change.service and since <= a.started_at <= until
    ]
    if not failing and not firing:
        return 0.0, ()
    base = w.upstream * (1.0 if failing else 0.8) * DEPTH_DECAY ** (depth - 1)
    evidence = tuple(
        Evidence("incident", i.ref, i.title, i.href)
        for i in sorted(failing, key=lambda i: (i.started_at, i.ref))
    )
    return _with_evidence(base, len(failing) + len(firing)), evidence


def change_hints(
    situation: Situation,
    changes: Iterable[ChangeFact],
    w: Weights,
    *,
    incidents: Sequence[IncidentFact] = (),
    alerts: Sequence[AlertFact] = (),
) -> list[Hint]:
    """One hint per change to a service in scope strictly before impact start and within
    the window: full weight within ``change_close``, fading linearly to a quarter of it
    at the window's end; each dependency step keeps :data:`DEPTH_DECAY` of it.

    A change to a dependency that has been failing since (an open incident, firing
    alerts, begun between the change and impact start) explains that failure too: it
    takes the confidence that failure gives, plus a step (being the more precise
    cause), scaled by its closeness in time like any change."""
    hints: list[Hint] = []
    for change in changes:
        depth = _scope(situation, change.service)
        if depth is None or change.timestamp >= situation.impact_start:
            continue
        before = situation.impact_start - change.timestamp
        if before > w.change_window:
            continue
        if before <= w.change_close or w.change_window <= w.change_close:
            closeness = 1.0
        else:
            spread = (w.change_window - w.change_close).total_seconds()
            closeness = 1.0 - 0.75 * (before - w.change_close).total_seconds() / spread
        confidence = w.change * closeness * DEPTH_DECAY**depth
        where = "this service" if depth == 0 else f"{change.service}, a dependency"
        explanation = f"{change.summary} on {where}, {duration_text(before)} before impact began"
        corroborated, seen = _corroboration(situation, change, depth, incidents, alerts, w)
        if corroborated > 0:
            confidence = min(
                max(confidence, (corroborated + EVIDENCE_STEP) * closeness),
                max(confidence, CEILING),
            )
            refs = ", ".join(e.ref for e in seen) or "alerts firing"
            explanation += f"; {change.service} has been failing since ({refs})"
        hints.append(
            Hint(
                key=f"change:{change.id}",
                kind="change",
                confidence=round(confidence, 4),
                explanation=explanation[:500],
                evidence=(
                    Evidence("change", f"change {change.id}", change.summary, change.href),
                    *seen,
                ),
            )
        )
    return hints


def upstream_hints(
    situation: Situation,
    incidents: Iterable[IncidentFact],
    alerts: Iterable[AlertFact],
    w: Weights,
) -> list[Hint]:
    """One hint per dependency that an open incident or firing alerts show failing
    since no later than impact start. An open incident counts fully, firing alerts
    alone for 80 %; each further incident or alert adds a little."""
    found: dict[str, tuple[list[IncidentFact], list[AlertFact]]] = {}
    for incident in incidents:
        if not incident.open or incident.started_at > situation.impact_start:
            continue
        for service in incident.services:
            if situation.dependencies.get(service):
                found.setdefault(service, ([], []))[0].append(incident)
    for alert in alerts:
        if alert.service is None or not alert.firing:
            continue
        if alert.started_at > situation.impact_start or not situation.dependencies.get(
            alert.service
        ):
            continue
        found.setdefault(alert.service, ([], []))[1].append(alert)
    hints: list[Hint] = []
    for service, (open_incidents, firing) in found.items():
        depth = situation.dependencies[service]
        base = w.upstream * (1.0 if open_incidents else 0.8) * DEPTH_DECAY ** (depth - 1)
        count = len(open_incidents) + len(firing)
        evidence = tuple(
            Evidence("incident", i.ref, i.title, i.href)
            for i in sorted(open_incidents, key=lambda i: (i.started_at, i.ref))
        ) + tuple(
            Evidence("alert", f"alert {a.id}", a.title)
            for a in sorted(firing, key=lambda a: (a.started_at, a.id))
        )
        if open_incidents:
            first = min(open_incidents, key=lambda i: (i.started_at, i.ref))
            advice = (
                "this incident is linked downstream of it"
                if first.ref in situation.linked
                else "link this incident as downstream of it"
            )
            explanation = (
                f"{service}, a dependency, has {first.ref} open since before impact began: "
                + advice
            )
        else:
            explanation = (
                f"{service}, a dependency, has {len(firing)} alert(s) firing since before "
                "impact began"
            )
        hints.append(
            Hint(
                key=f"upstream:{service}",
                kind="upstream",
                confidence=round(_with_evidence(base, count), 4),
                explanation=explanation[:500],
                evidence=evidence,
            )
        )
    return hints


def resource_kind(text: str) -> str | None:
    """Which resource an alert's text is about, if any (the first in
    :data:`RESOURCE_WORDS` order)."""
    lowered = text.lower()
    for kind, words in RESOURCE_WORDS.items():
        if any(word in lowered for word in words):
            return kind
    return None


def resource_hints(situation: Situation, alerts: Iterable[AlertFact], w: Weights) -> list[Hint]:
    """One hint per resource that alerts on the incident's services or hosts say ran
    short; each further alert about it adds a little."""
    found: dict[str, list[AlertFact]] = {}
    for alert in alerts:
        mine = alert.service in situation.services or (
            alert.host is not None and alert.host in situation.hosts
        )
        if not mine:
            continue
        kind = resource_kind(f"{alert.title} {alert.text}")
        if kind is not None:
            found.setdefault(kind, []).append(alert)
    hints: list[Hint] = []
    for kind, signals in found.items():
        ordered = sorted(signals, key=lambda a: (a.started_at, a.id))
        hints.append(
            Hint(
                key=f"resource:{kind}",
                kind="resource",
                confidence=round(_with_evidence(w.resource, len(ordered)), 4),
                explanation=f"{kind} is running out: {ordered[0].title}"[:500],
                evidence=tuple(Evidence("alert", f"alert {a.id}", a.title) for a in ordered),
            )
        )
    return hints


def similar_hints(past: Iterable[IncidentFact], w: Weights) -> list[Hint]:
    """One hint per similar past incident: its root cause, resolution and action items
    say where to look; the likelier the more alike."""
    hints: list[Hint] = []
    for incident in past:
        if incident.open or incident.similarity <= 0:
            continue
        said = incident.root_cause or incident.resolution or "no root cause written"
        items = (
            f"; action items: {', '.join(incident.action_items)}" if incident.action_items else ""
        )
        evidence = (Evidence("incident", incident.ref, incident.title, incident.href),)
        hints.append(
            Hint(
                key=f"similar:{incident.ref}",
                kind="similar",
                confidence=round(w.similar * min(incident.similarity, 1.0), 4),
                explanation=f"Like {incident.ref} ({incident.title}): {said}{items}"[:500],
                evidence=evidence,
                category=incident.category or "technical",
            )
        )
    return hints


def rank(hints: Iterable[Hint]) -> list[Hint]:
    """Most likely first; equal confidences by :data:`KIND_ORDER`, then by key."""
    return sorted(hints, key=lambda h: (-h.confidence, KIND_ORDER.index(h.kind), h.key))


def compute(
    situation: Situation,
    *,
    changes: Iterable[ChangeFact] = (),
    incidents: Iterable[IncidentFact] = (),
    alerts: Iterable[AlertFact] = (),
    past: Iterable[IncidentFact] = (),
    weights: Weights = Weights(),
) -> list[Hint]:
    """Every rule's hints, ranked; a rule whose weight is 0 adds none."""
    alert_list = list(alerts)
    incident_list = list(incidents)
    found: list[Hint] = []
    if weights.change > 0:
        found += change_hints(
            situation, changes, weights, incidents=incident_list, alerts=alert_list
        )
    if weights.upstream > 0:
        found += upstream_hints(situation, incident_list, alert_list, weights)
    if weights.resource > 0:
        found += resource_hints(situation, alert_list, weights)
    if weights.similar > 0:
        found += similar_hints(past, weights)
    return rank(found)
