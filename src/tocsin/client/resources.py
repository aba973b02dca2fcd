"""The REST API by resource: each method builds one :class:`~tocsin.client.transport.Call`
and hands it to the client's executor, so one definition serves the synchronous client
(which answers at once and iterates with ``for``) and the asynchronous one (which
answers awaitables and iterates with ``async for``).

Answers are the API's JSON objects (``dict``), exactly as the OpenAPI document at
``/openapi.json`` describes them; ``iterate`` methods walk every page of a list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Generic, Literal, Protocol, TypeVar
from urllib.parse import quote

from tocsin.client.transport import Call, Params

__all__ = [
    "ActionItems",
    "Alerts",
    "Changes",
    "Executor",
    "Incidents",
    "Integrations",
    "Metrics",
    "OnCall",
    "Postmortems",
    "Silences",
    "StatusPage",
]

API = "/api/v1"
T = TypeVar("T", covariant=True)
It = TypeVar("It", covariant=True)
Correctable = Literal["started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at"]
Priority = Literal["p1", "p2", "p3", "p4"]


class Executor(Protocol[T, It]):
    """What runs a call: ``T`` is its answer, ``It`` the items of every page."""

    def call(self, call: Call) -> T: ...

    def pages(self, call: Call, page_size: int) -> It: ...


def _seg(value: str | int) -> str:
    """One path segment, quoted (an id never changes the path it is put in)."""
    return quote(str(value), safe="")


def _params(**values: Any) -> Params:
    pairs: list[tuple[str, str | int]] = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            pairs += [(name, str(v)) for v in value]
        elif isinstance(value, datetime):
            pairs.append((name, value.isoformat()))
        else:
            pairs.append((name, value if isinstance(value, int) else str(value)))
    return tuple(pairs)


def _body(**values: Any) -> dict[str, Any]:
    """The fields that were given (None means "not given"); times as RFC 3339."""
    body: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, date):  # a datetime is a date too
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        body[name] = value
    return body


class _Resource(Generic[T, It]):
    def __init__(self, run: Executor[T, It]) -> None:
        self._run = run

    def _get(self, path: str, params: Params = ()) -> T:
        return self._run.call(Call("GET", path, params))

    def _post(self, path: str, body: Mapping[str, Any] | None = None) -> T:
        return self._run.call(Call("POST", path, body={} if body is None else body))

    def _patch(self, path: str, body: Mapping[str, Any]) -> T:
        return self._run.call(Call("PATCH", path, body=body))

    def _delete(self, path: str) -> T:
        return self._run.call(Call("DELETE", path))

    def _pages(self, path: str, params: Params, page_size: int) -> It:
        return self._run.pages(Call("GET", path, params), page_size)


class Incidents(_Resource[T, It]):
    """Incidents: declare, read, move through the lifecycle, update, roles, paging."""

    def declare(
        self,
        title: str,
        severity: str,
        *,
        services: Sequence[str] = (),
        description: str | None = None,
        started_at: datetime | None = None,
        drill: bool | None = None,
    ) -> T:
        body = _body(
            title=title,
            severity=severity,
            services=list(services),
            description=description,
            started_at=started_at,
            drill=drill,
        )
        return self._post(f"{API}/incidents", body)

    def list(
        self,
        *,
        status: Sequence[str] = (),
        severity: str | None = None,
        service: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> T:
        """One page (``items``, ``total``); ``status`` may include ``active``."""
        params = _params(
            status=list(status), severity=severity, service=service, limit=limit, offset=offset
        )
        return self._get(f"{API}/incidents", params)

    def iterate(
        self,
        *,
        status: Sequence[str] = (),
        severity: str | None = None,
        service: str | None = None,
        page_size: int = 100,
    ) -> It:
        """Every incident that matches, page after page."""
        params = _params(status=list(status), severity=severity, service=service)
        return self._pages(f"{API}/incidents", params, page_size)

    def get(self, ref: str) -> T:
        return self._get(f"{API}/incidents/{_seg(ref)}")

    def edit(
        self,
        ref: str,
        *,
        title: str | None = None,
        description: str | None = None,
        severity: str | None = None,
        services: Sequence[str] | None = None,
    ) -> T:
        body = _body(
            title=title,
            description=description,
            severity=severity,
            services=None if services is None else list(services),
        )
        return self._patch(f"{API}/incidents/{_seg(ref)}", body)

    def correct(self, ref: str, *, reason: str, **times: datetime) -> T:
        """Correct recorded times (``started_at=``, ``resolved_at=`` ...), with a reason
        that is kept on the timeline; the metrics follow."""
        return self._patch(f"{API}/incidents/{_seg(ref)}", _body(reason=reason, **times))

    def assign_role(self, ref: str, role: str, people: str | Sequence[str] | None) -> T:
        """Give ``role`` to a person or several (None clears it)."""
        who = people if people is None or isinstance(people, str) else list(people)
        return self._patch(f"{API}/incidents/{_seg(ref)}", {"roles": {role: who}})

    def acknowledge(self, ref: str, *, on_behalf_of: Sequence[str] = ()) -> T:
        return self._post(
            f"{API}/incidents/{_seg(ref)}/acknowledge", _body(on_behalf_of=list(on_behalf_of))
        )

    def resolve(self, ref: str, *, message: str | None = None, public: bool = False) -> T:
        return self._move(ref, "resolve", message, public)

    def close(self, ref: str, *, message: str | None = None) -> T:
        return self._move(ref, "close", message, False)

    def reopen(self, ref: str, *, message: str | None = None) -> T:
        return self._move(ref, "reopen", message, False)

    def _move(self, ref: str, action: str, message: str | None, public: bool) -> T:
        body = _body(message=message, public=public or None)
        return self._post(f"{API}/incidents/{_seg(ref)}/{action}", body)

    def post_update(
        self, ref: str, message: str, *, status: str | None = None, public: bool = False
    ) -> T:
        """A status update (internal, or ``public`` for the status page), optionally
        moving the incident to ``status``."""
        body = _body(message=message, status=status, public=public)
        return self._post(f"{API}/incidents/{_seg(ref)}/updates", body)

    def updates(self, ref: str) -> T:
        return self._get(f"{API}/incidents/{_seg(ref)}/updates")

    def timeline(self, ref: str) -> T:
        return self._get(f"{API}/incidents/{_seg(ref)}/timeline")

    def alerts(self, ref: str) -> T:
        return self._get(f"{API}/incidents/{_seg(ref)}/alerts")

    def escalate(self, ref: str, *, tier: int | None = None, reason: str | None = None) -> T:
        return self._post(f"{API}/incidents/{_seg(ref)}/escalate", _body(tier=tier, reason=reason))

    def repage(self, ref: str) -> T:
        return self._post(f"{API}/incidents/{_seg(ref)}/repage")

    def reassign(self, ref: str, person: str, *, note: str | None = None) -> T:
        return self._post(f"{API}/incidents/{_seg(ref)}/reassign", _body(person=person, note=note))


class Alerts(_Resource[T, It]):
    """Alerts as received (read only: they arrive through the inbound endpoints)."""

    def list(
        self,
        *,
        status: Literal["firing", "resolved"] | None = None,
        service: str | None = None,
        incident: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> T:
        params = _params(
            status=status, service=service, incident=incident, limit=limit, offset=offset
        )
        return self._get(f"{API}/alerts", params)

    def iterate(
        self,
        *,
        status: Literal["firing", "resolved"] | None = None,
        service: str | None = None,
        incident: str | None = None,
        page_size: int = 100,
    ) -> It:
        params = _params(status=status, service=service, incident=incident)
        return self._pages(f"{API}/alerts", params, page_size)

    def get(self, alert_id: int) -> T:
        return self._get(f"{API}/alerts/{_seg(alert_id)}")


class Integrations(_Resource[T, It]):
    """Integration keys of the inbound endpoints (a key is shown once, when created)."""

    def list(self) -> T:
        return self._get(f"{API}/integrations")

    def create(
        self, name: str, service: str, kind: str, *, heartbeat_interval: str | None = None
    ) -> T:
        body = _body(name=name, service=service, kind=kind, heartbeat_interval=heartbeat_interval)
        return self._post(f"{API}/integrations", body)

    def disable(self, name: str) -> T:
        return self._delete(f"{API}/integrations/{_seg(name)}")


class Silences(_Resource[T, It]):
    """Silences: matching alerts are stored but page nobody."""

    def list(self, *, state: Literal["active", "pending", "expired", "all"] = "active") -> T:
        return self._get(f"{API}/silences", _params(state=state))

    def create(
        self,
        matchers: Sequence[str],
        ends_at: datetime,
        *,
        starts_at: datetime | None = None,
        comment: str = "",
    ) -> T:
        body = _body(matchers=list(matchers), ends_at=ends_at, starts_at=starts_at, comment=comment)
        return self._post(f"{API}/silences", body)

    def expire(self, silence_id: int) -> T:
        return self._delete(f"{API}/silences/{_seg(silence_id)}")


class OnCall(_Resource[T, It]):
    """Who is on call, schedules and their overrides."""

    def who(self, *, schedule: str | None = None, at: datetime | None = None) -> T:
        return self._get(f"{API}/oncall", _params(schedule=schedule, at=at))

    def schedules(self) -> T:
        return self._get(f"{API}/schedules")

    def schedule(self, name: str, **params: str | int) -> T:
        return self._get(f"{API}/schedules/{_seg(name)}", _params(**params))

    def overrides(self, schedule: str) -> T:
        return self._get(f"{API}/schedules/{_seg(schedule)}/overrides")

    def add_override(
        self, schedule: str, person: str, start: datetime, end: datetime, *, reason: str = ""
    ) -> T:
        body = _body(person=person, start=start, end=end, reason=reason)
        return self._post(f"{API}/schedules/{_seg(schedule)}/overrides", body)

    def remove_override(self, schedule: str, override_id: int) -> T:
        return self._delete(f"{API}/schedules/{_seg(schedule)}/overrides/{_seg(override_id)}")


class Changes(_Resource[T, It]):
    """Deploys and other changes to services (the most recent first)."""

    def list(
        self,
        *,
        service: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> T:
        params = _params(service=service, since=since, limit=limit, offset=offset)
        return self._get(f"{API}/changes", params)

    def iterate(
        self, *, service: str | None = None, since: datetime | None = None, page_size: int = 100
    ) -> It:
        return self._pages(f"{API}/changes", _params(service=service, since=since), page_size)


class Postmortems(_Resource[T, It]):
    """Post-mortems of resolved incidents (``markdown`` holds the whole document)."""

    def create(self, incident: str) -> T:
        return self._post(f"{API}/incidents/{_seg(incident)}/postmortem")

    def for_incident(self, incident: str) -> T:
        return self._get(f"{API}/incidents/{_seg(incident)}/postmortem")

    def get(self, ref: str) -> T:
        return self._get(f"{API}/postmortems/{_seg(ref)}")

    def list(self, *, status: Sequence[str] = (), limit: int = 50, offset: int = 0) -> T:
        return self._get(
            f"{API}/postmortems", _params(status=list(status), limit=limit, offset=offset)
        )

    def iterate(self, *, status: Sequence[str] = (), page_size: int = 100) -> It:
        return self._pages(f"{API}/postmortems", _params(status=list(status)), page_size)

    def edit(
        self,
        ref: str,
        *,
        sections: Mapping[str, str | None] | None = None,
        root_cause_category: str | None = None,
        **fields: Any,
    ) -> T:
        """Change sections (Markdown; None restores the generated text) and fields."""
        body = _body(
            sections=None if sections is None else dict(sections),
            root_cause_category=root_cause_category,
            **fields,
        )
        return self._patch(f"{API}/postmortems/{_seg(ref)}", body)


class ActionItems(_Resource[T, It]):
    """The action items of post-mortems."""

    def add(
        self,
        postmortem: str,
        title: str,
        *,
        owner: str | None = None,
        due_date: date | None = None,
        priority: Priority = "p3",
        link: str | None = None,
    ) -> T:
        body = _body(title=title, owner=owner, due_date=due_date, priority=priority, link=link)
        return self._post(f"{API}/postmortems/{_seg(postmortem)}/action-items", body)

    def of(self, postmortem: str) -> T:
        return self._get(f"{API}/postmortems/{_seg(postmortem)}/action-items")

    def edit(
        self,
        item_id: int,
        *,
        title: str | None = None,
        owner: str | None = None,
        due_date: date | None = None,
        priority: Priority | None = None,
        status: str | None = None,
        link: str | None = None,
    ) -> T:
        body = _body(
            title=title, owner=owner, due_date=due_date, priority=priority, status=status, link=link
        )
        return self._patch(f"{API}/action-items/{_seg(item_id)}", body)

    def list(self, *, limit: int = 100, offset: int = 0, **filters: str) -> T:
        return self._get(f"{API}/action-items", _params(limit=limit, offset=offset, **filters))

    def iterate(self, *, page_size: int = 100, **filters: str) -> It:
        return self._pages(f"{API}/action-items", _params(**filters), page_size)


class Metrics(_Resource[T, It]):
    """MTTD/MTTA/MTTM/MTTR, SLA compliance and SLOs (durations in seconds)."""

    def summary(
        self, *, window: str = "30d", period: Literal["day", "week", "month"] = "week"
    ) -> T:
        return self._get(f"{API}/metrics/summary", _params(window=window, period=period))

    def slos(self) -> T:
        return self._get(f"{API}/slos")

    def slo(self, service: str) -> T:
        return self._get(f"{API}/slos/{_seg(service)}")


class StatusPage(_Resource[T, It]):
    """The public status page: its incidents and maintenances (admin), and the public
    summary customers see."""

    def incidents(self) -> T:
        return self._get(f"{API}/statuspage/incidents")

    def incident(self, code: str) -> T:
        return self._get(f"{API}/statuspage/incidents/{_seg(code)}")

    def open_incident(self, name: str, **fields: Any) -> T:
        """A status-page incident (``status``, ``impact``, ``components``, ``body`` ...)."""
        return self._post(f"{API}/statuspage/incidents", _body(name=name, **fields))

    def post_update(self, code: str, **fields: Any) -> T:
        """A public update (``status``, ``body``, ``components``)."""
        return self._post(f"{API}/statuspage/incidents/{_seg(code)}/updates", _body(**fields))

    def publish(self, code: str) -> T:
        return self._post(f"{API}/statuspage/incidents/{_seg(code)}/publish")

    def maintenances(self) -> T:
        return self._get(f"{API}/statuspage/maintenances")

    def schedule_maintenance(
        self,
        name: str,
        body: str,
        scheduled_for: datetime,
        scheduled_until: datetime,
        *,
        components: Sequence[str] = (),
    ) -> T:
        fields = _body(
            name=name,
            body=body,
            scheduled_for=scheduled_for,
            scheduled_until=scheduled_until,
            components=list(components),
        )
        return self._post(f"{API}/statuspage/maintenances", fields)

    def cancel_maintenance(self, code: str) -> T:
        return self._delete(f"{API}/statuspage/maintenances/{_seg(code)}")

    def public_summary(self) -> T:
        """What customers see (``/api/v2/summary.json``, no token needed)."""
        return self._get("/api/v2/summary.json")
