"""PagerDuty's REST API v2 into a Tocsin policy.

Authentication is ``Authorization: Token token=<API key>`` with PagerDuty's versioned
``Accept`` header. Lists page by ``offset`` and ``limit`` and say ``more`` while there
are further pages; a 429 says in ``ratelimit-reset`` how many seconds to wait.

PagerDuty lists a schedule's layers most important first (as its web app shows them,
the newest layer on top); a Tocsin schedule lists them lowest priority first, so the
order is reversed. Everything Tocsin cannot express is reported: low-urgency
notification rules (Tocsin chooses rules by severity), push notifications, layers that
end, escalation targets other than people and schedules, integrations (created with
``tocsin integration create``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tocsin.importers.draft import (
    Draft,
    Names,
    duration_text,
    local_start,
    note_wall_clock,
    phone_number,
    rotation_of,
    weekly_restrictions,
)
from tocsin.importers.http import SourceApi

__all__ = ["ACCEPT", "API_URL", "auth_header", "import_pagerduty"]

API_URL = "https://api.pagerduty.com"
ACCEPT = "application/vnd.pagerduty+json;version=2"

_CHANNELS = {
    "email_contact_method": "email",
    "sms_contact_method": "sms",
    "phone_contact_method": "voice",
}
_INTEGRATION_KINDS = {
    "events_api_v2_inbound_integration": "pagerduty",
    "generic_events_api_inbound_integration": "pagerduty",
}


def auth_header(token: str) -> str:
    return f"Token token={token}"


def _items(key: str) -> Any:
    def take(body: Any) -> list[Any]:
        found = body.get(key) if isinstance(body, Mapping) else None
        return [f for f in found if isinstance(f, Mapping)] if isinstance(found, list) else []

    return take


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _minute_of_day(text: Any) -> tuple[int, bool]:
    """Minutes since midnight of ``"HH:MM:SS"``, and whether seconds were dropped."""
    parts = [int(p) for p in str(text).split(":")]
    hours, minutes, seconds = [*parts, 0, 0, 0][:3]
    return hours * 60 + minutes, seconds != 0


class _PagerDuty:
    def __init__(self, api: SourceApi, since: datetime, until: datetime) -> None:
        self.api = api
        self.since = since
        self.until = until
        self.draft = Draft("PagerDuty")
        self.names = Names()
        self.team_zone: dict[str, str] = {}
        self.low_urgency: list[str] = []

    def _list(self, path: str, key: str, params: Mapping[str, Any] | None = None) -> Any:
        pages = self.api.pages
        return pages(path, {"limit": 100, "offset": 0, **(params or {})}, _items(key), _at(path))

    # --- people ------------------------------------------------------------------

    def users(self) -> None:
        includes = {"include[]": ["contact_methods", "notification_rules"]}
        for user in self._list("/users", "users", includes):
            self._user(user)
        if self.low_urgency:
            self.draft.skip(
                "notification rules",
                f"low urgency of {len(self.low_urgency)} people ({', '.join(self.low_urgency)})",
                "Tocsin chooses notification rules by severity, not urgency; their high-urgency "
                "rules now apply to every page",
            )

    def _user(self, user: Mapping[str, Any]) -> None:
        uid = str(user.get("id"))
        email = str(user.get("email") or "")
        name = self.names.assign("person", uid, email.split("@")[0] or str(user.get("name")))
        person: dict[str, Any] = {"name": name}
        if user.get("name"):
            person["full_name"] = str(user["name"])
        if "@" in email:
            person["email"] = email
        zone = user.get("time_zone")
        try:
            ZoneInfo(str(zone))
            person["timezone"] = str(zone)
        except (ZoneInfoNotFoundError, ValueError):
            if zone:
                self.draft.skip("person", name, f"time zone {zone!r} is unknown; used UTC")
        methods: dict[str, Mapping[str, Any]] = {}
        for method in user.get("contact_methods") or ():
            methods[str(method.get("id"))] = method
            kind = str(method.get("type", "")).removesuffix("_reference")
            label = f"{name} {method.get('label') or kind}"
            if kind in ("phone_contact_method", "sms_contact_method"):
                number = phone_number(method.get("country_code"), str(method.get("address")))
                if number is None:
                    self.draft.skip("contact method", label, "not a phone number")
                elif person.setdefault("phone", number) != number:
                    self.draft.skip(
                        "contact method", label, "a person has one phone number; kept the first"
                    )
            elif kind == "email_contact_method":
                address = str(method.get("address") or "")
                if person.get("email", address) != address:
                    self.draft.skip(
                        "contact method", label, "a person has one email address; kept the login"
                    )
            else:
                self.draft.skip(
                    "contact method", label, "Tocsin has no push notifications or such channel"
                )
        self.draft.people.append(person)
        self._notification_rules(name, user.get("notification_rules") or (), methods)

    def _notification_rules(
        self, name: str, rules: Any, methods: Mapping[str, Mapping[str, Any]]
    ) -> None:
        steps: list[tuple[int, str]] = []
        low = 0
        for rule in rules:
            if rule.get("urgency", "high") != "high":
                low += 1
                continue
            reference = rule.get("contact_method") or {}
            method = methods.get(str(reference.get("id")), reference)
            kind = str(method.get("type", "")).removesuffix("_reference")
            channel = _CHANNELS.get(kind)
            if channel is None:
                self.draft.skip("notification rule", f"{name} {kind}", "Tocsin has no such channel")
                continue
            steps.append((int(rule.get("start_delay_in_minutes") or 0), channel))
        if low:
            self.low_urgency.append(name)
        if steps:
            notify: list[dict[str, Any]] = []
            for delay, channel in sorted(dict.fromkeys(steps)):
                step: dict[str, Any] = {"channel": channel}
                if delay:
                    step["after"] = duration_text(delay * 60)
                notify.append(step)
            self.draft.notification_rules[name] = [{"kinds": ["page"], "notify": notify}]

    # --- teams -------------------------------------------------------------------

    def teams(self) -> None:
        for team in self._list("/teams", "teams"):
            tid = str(team.get("id"))
            name = self.names.assign("team", tid, str(team.get("name") or tid))
            members: list[str] = []
            for member in self._list(f"/teams/{tid}/members", "members"):
                person = self.names.get("person", str((member.get("user") or {}).get("id")))
                if person is not None and person not in members:
                    members.append(person)
            entry: dict[str, Any] = {"name": name, "members": members}
            if team.get("description"):
                entry["description"] = str(team["description"])
            self.draft.teams.append(entry)

    # --- schedules ---------------------------------------------------------------

    def schedules(self) -> None:
        for summary in self._list("/schedules", "schedules"):
            body = self.api.get(f"/schedules/{summary.get('id')}")
            schedule = body.get("schedule") if isinstance(body, Mapping) else None
            if isinstance(schedule, Mapping):
                self._schedule(schedule)
        for team in self.draft.teams:
            if (zone := self.team_zone.get(team["name"])) is not None:
                team["timezone"] = zone

    def _schedule(self, schedule: Mapping[str, Any]) -> None:
        sid = str(schedule.get("id"))
        name = self.names.assign("schedule", sid, str(schedule.get("name") or sid))
        zone_name = str(schedule.get("time_zone") or "UTC")
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            self.draft.skip("schedule", name, f"time zone {zone_name!r} is unknown; not imported")
            return
        entry: dict[str, Any] = {"name": name, "timezone": zone_name}
        if schedule.get("description"):
            entry["description"] = str(schedule["description"])
        teams = [t for r in schedule.get("teams") or () if (t := self.names.get("team", r["id"]))]
        if teams:
            entry["team"] = teams[0]
            self.team_zone.setdefault(teams[0], zone_name)
        layers = [
            layer
            for source in reversed(schedule.get("schedule_layers") or [])
            if (layer := self._layer(name, source, zone)) is not None
        ]
        if not layers:
            self.draft.skip("schedule", name, "no layer could be imported; not imported")
            return
        entry["layers"] = layers
        overrides = self._overrides(sid, name)
        if overrides:
            entry["overrides"] = overrides
        self.draft.schedules.append(entry)

    def _layer(
        self, schedule: str, layer: Mapping[str, Any], zone: ZoneInfo
    ) -> dict[str, Any] | None:
        label = f"{schedule}: {layer.get('name') or layer.get('id')}"
        virtual = _instant(layer.get("rotation_virtual_start"))
        start = _instant(layer.get("start"))
        turn = int(layer.get("rotation_turn_length_seconds") or 0)
        if virtual is None or turn <= 0:
            self.draft.skip("layer", label, "no rotation start or turn length; not imported")
            return None
        end = _instant(layer.get("end"))
        if end is not None and end <= self.since:
            return None
        if end is not None:
            self.draft.skip(
                "layer end",
                label,
                f"the layer ends at {end.isoformat()}; Tocsin layers do not end: remove it then",
            )
        if start is not None and start > max(virtual, self.since):
            self.draft.skip(
                "layer start",
                label,
                f"the layer starts at {start.isoformat()}; Tocsin counts its turns from "
                f"{virtual.isoformat()} and covers them from then on",
            )
        note_wall_clock(self.draft, label, timedelta(seconds=turn), zone)
        participants: list[str] = []
        for item in layer.get("users") or ():
            person = self.names.get("person", str((item.get("user") or {}).get("id")))
            if person is None:
                self.draft.skip("layer participant", label, "an unknown user; left out")
            else:
                participants.append(person)
        if not participants:
            self.draft.skip("layer", label, "nobody takes part; not imported")
            return None
        entry: dict[str, Any] = {
            "name": self.names.assign(
                f"layer:{schedule}", str(layer.get("id")), str(layer.get("name") or "layer")
            ),
            **rotation_of(timedelta(seconds=turn)),
            "start": local_start(virtual, zone),
            "participants": participants,
        }
        restrictions = self._restrictions(label, layer.get("restrictions") or ())
        if restrictions:
            entry["restrictions"] = restrictions
        return entry

    def _restrictions(self, label: str, restrictions: Any) -> list[dict[str, Any]] | None:
        windows: list[tuple[int, int]] = []
        for restriction in restrictions:
            begin, rounded = _minute_of_day(restriction.get("start_time_of_day", "00:00:00"))
            length = int(restriction.get("duration_seconds") or 0) // 60
            if rounded or int(restriction.get("duration_seconds") or 0) % 60:
                self.draft.skip(
                    "restriction", label, "seconds dropped: Tocsin restrictions are in minutes"
                )
            if restriction.get("type") == "weekly_restriction":
                day = int(restriction.get("start_day_of_week") or 1) - 1
                windows.append((day * 1440 + begin, length))
            else:
                windows += [(day * 1440 + begin, length) for day in range(7)]
        return weekly_restrictions(windows) if windows else None

    def _overrides(self, sid: str, schedule: str) -> list[dict[str, Any]]:
        params = {"since": self.since.isoformat(), "until": self.until.isoformat()}
        body = self.api.get(f"/schedules/{sid}/overrides", params)
        found: list[dict[str, Any]] = []
        for override in _items("overrides")(body):
            start, end = _instant(override.get("start")), _instant(override.get("end"))
            person = self.names.get("person", str((override.get("user") or {}).get("id")))
            if start is None or end is None or person is None:
                self.draft.skip("override", f"{schedule}: {override.get('id')}", "unreadable")
                continue
            found.append({"person": person, "start": start.isoformat(), "end": end.isoformat()})
        return sorted(found, key=lambda o: o["start"])

    # --- escalation --------------------------------------------------------------

    def escalation_policies(self) -> None:
        for policy in self._list("/escalation_policies", "escalation_policies"):
            self._policy(policy)

    def _policy(self, policy: Mapping[str, Any]) -> None:
        pid = str(policy.get("id"))
        name = self.names.assign("escalation", pid, str(policy.get("name") or pid))
        tiers: list[dict[str, Any]] = []
        for rule in policy.get("escalation_rules") or ():
            targets: list[dict[str, str]] = []
            for target in rule.get("targets") or ():
                kind = str(target.get("type", "")).removesuffix("_reference")
                policy_kind = {"user": "person", "schedule": "schedule"}.get(kind)
                found = self.names.get(policy_kind, str(target.get("id"))) if policy_kind else None
                if policy_kind is None or found is None:
                    self.draft.skip(
                        "escalation target",
                        f"{name} {kind} {target.get('summary') or target.get('id')}",
                        "Tocsin pages people and schedules' on-call; left out",
                    )
                else:
                    targets.append({policy_kind: found})
            if targets:
                delay = int(rule.get("escalation_delay_in_minutes") or 30)
                tiers.append({"timeout": duration_text(delay * 60), "targets": targets})
        if not tiers:
            self.draft.skip("escalation policy", name, "no rule pages anyone; not imported")
            return
        entry: dict[str, Any] = {"name": name, "tiers": tiers}
        if policy.get("description"):
            entry["description"] = str(policy["description"])
        if int(policy.get("num_loops") or 0) > 0:
            entry["repeat"] = int(policy["num_loops"])
        self.draft.escalation_policies.append(entry)

    # --- services, integrations, maintenance --------------------------------------

    def services(self) -> None:
        for service in self._list("/services", "services", {"include[]": ["integrations"]}):
            sid = str(service.get("id"))
            name = self.names.assign("service", sid, str(service.get("name") or sid))
            entry: dict[str, Any] = {"name": name}
            if service.get("description"):
                entry["description"] = str(service["description"])
            self._service_settings(name, service)
            teams = [
                t for r in service.get("teams") or () if (t := self.names.get("team", r["id"]))
            ]
            if teams:
                entry["team"] = teams[0]
            policy_id = (service.get("escalation_policy") or {}).get("id")
            policy = self.names.get("escalation", str(policy_id))
            if policy is not None and any(
                p["name"] == policy for p in self.draft.escalation_policies
            ):
                entry["escalation_policy"] = policy
            else:
                self.draft.skip(
                    "service escalation", name, "its escalation policy was not imported"
                )
            self.draft.services.append(entry)
            for integration in service.get("integrations") or ():
                self._integration(name, integration)

    def _service_settings(self, name: str, service: Mapping[str, Any]) -> None:
        """Service settings Tocsin keeps elsewhere or not at all, when they are set."""
        for key, reason in (
            ("auto_resolve_timeout", "Tocsin resolves incidents when their alerts resolve"),
            ("acknowledgement_timeout", "Tocsin re-pages by the escalation policy's timeouts"),
            ("support_hours", "Tocsin has no support hours; routes choose severities"),
        ):
            if service.get(key):
                self.draft.skip("service setting", f"{name} {key}", reason)
        urgency = (service.get("incident_urgency_rule") or {}).get("type")
        if urgency not in (None, "constant"):
            self.draft.skip(
                "service setting",
                f"{name} incident_urgency_rule",
                "Tocsin takes severities from the alerts' labels (see `routes`)",
            )

    def _integration(self, service: str, integration: Mapping[str, Any]) -> None:
        kind = str(integration.get("type", "")).removesuffix("_reference")
        label = str(integration.get("name") or integration.get("summary") or kind)
        vendor = str((integration.get("vendor") or {}).get("summary") or "").lower()
        tocsin_kind = _INTEGRATION_KINDS.get(kind)
        if "prometheus" in vendor or "alertmanager" in vendor:
            tocsin_kind = "alertmanager"
        elif "grafana" in vendor:
            tocsin_kind = "grafana"
        if tocsin_kind is None:
            self.draft.skip("integration", f"{service}: {label}", f"{kind} has no counterpart")
            return
        self.draft.next_steps.append(
            f"tocsin integration create {service} --kind {tocsin_kind}   # was {label}"
        )

    def maintenance_windows(self) -> None:
        for window in self._list("/maintenance_windows", "maintenance_windows", {"filter": "open"}):
            start, end = _instant(window.get("start_time")), _instant(window.get("end_time"))
            label = str(window.get("description") or window.get("id"))
            if start is None or end is None:
                self.draft.skip("maintenance window", label, "no start or end")
                continue
            for reference in window.get("services") or ():
                service = self.names.get("service", str(reference.get("id")))
                if service is None:
                    self.draft.skip("maintenance window", label, "an unknown service")
                    continue
                self.draft.maintenance_windows.append(
                    {
                        "service": service,
                        "start": start.isoformat(),
                        "end": end.isoformat(),
                        "comment": label,
                    }
                )


def _at(path: str) -> Any:
    """The next page of ``path``: same path, the offset moved on."""

    def following(body: Any, params: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
        if not (isinstance(body, Mapping) and body.get("more")):
            return None
        step = int(body.get("limit") or params.get("limit") or 25)
        return path, {**params, "offset": int(body.get("offset") or 0) + step}

    return following


def import_pagerduty(api: SourceApi, since: datetime, until: datetime) -> Draft:
    """Read the account behind ``api`` and map it onto the policy's sections; overrides
    between ``since`` and ``until`` are imported."""
    source = _PagerDuty(api, since, until)
    source.users()
    source.teams()
    source.schedules()
    source.escalation_policies()
    source.services()
    source.maintenance_windows()
    return source.draft
