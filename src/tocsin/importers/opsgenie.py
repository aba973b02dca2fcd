"""Opsgenie's REST API (``/v2`` and ``/v1``) into a Tocsin policy.

Authentication is ``Authorization: GenieKey <API key>`` (an API integration's key with
read access to configuration). Lists that page answer ``paging.next`` with the full URL
of the next page. Opsgenie's EU accounts live at ``api.eu.opsgenie.com``.

What differs from Tocsin, and is reported rather than approximated silently:

- Rotations of one schedule that overlap are all on call together in Opsgenie; a Tocsin
  schedule has one person at a time (the later layer wins).
- Rotation participants that are teams, escalations or ``none``; rotation end dates;
  overrides of only some rotations; escalation rules on "not closed" or notifying
  other than the recipient itself; notification rules with conditions.
- Integrations live in Tocsin's database: the report lists the command creating each.
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
from tocsin.importers.overlaps import report_overlaps

__all__ = ["API_URL", "EU_API_URL", "auth_header", "import_opsgenie"]

API_URL = "https://api.opsgenie.com"
EU_API_URL = "https://api.eu.opsgenie.com"

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
_CHANNELS = {"email": "email", "sms": "sms", "voice": "voice"}
_INTEGRATION_KINDS = {
    "prometheus": "alertmanager",
    "alertmanager": "alertmanager",
    "grafana": "grafana",
    "api": "generic",
    "webhook": "generic",
}


def auth_header(token: str) -> str:
    return f"GenieKey {token}"


def _data(body: Any) -> Any:
    return body.get("data") if isinstance(body, Mapping) else None


def _list(body: Any) -> list[Any]:
    data = _data(body)
    return [d for d in data if isinstance(d, Mapping)] if isinstance(data, list) else []


def _next(body: Any, _params: Mapping[str, Any]) -> tuple[str, None] | None:
    paging = body.get("paging") if isinstance(body, Mapping) else None
    url = paging.get("next") if isinstance(paging, Mapping) else None
    return (url, None) if isinstance(url, str) and url else None


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _zone(name: Any) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


class _Opsgenie:
    def __init__(self, api: SourceApi, since: datetime, until: datetime) -> None:
        self.api = api
        self.since = since
        self.until = until
        self.draft = Draft("Opsgenie")
        self.names = Names()
        self.team_zone: dict[str, str] = {}
        self.team_escalations: dict[str, list[str]] = {}
        self.team_services: dict[str, list[str]] = {}
        self.integration_team: dict[str, str] = {}

    # --- people ------------------------------------------------------------------

    def users(self) -> None:
        for user in self.api.pages("/v2/users", {"limit": 100}, _list, _next):
            self._user(user)

    def _user(self, user: Mapping[str, Any]) -> None:
        uid, username = str(user.get("id")), str(user.get("username") or user.get("id"))
        name = self.names.assign("person", uid, username.split("@")[0])
        person: dict[str, Any] = {"name": name}
        if user.get("fullName"):
            person["full_name"] = str(user["fullName"])
        if "@" in username:
            person["email"] = username
        zone = user.get("timeZone")
        if _zone(zone) is not None:
            person["timezone"] = zone
        elif zone:
            self.draft.skip("person", name, f"time zone {zone!r} is not an IANA zone; used UTC")
        contacts = _list(self.api.get(f"/v2/users/{uid}/contacts"))
        for contact in contacts:
            method, to = contact.get("method"), str(contact.get("to") or "")
            enabled = (contact.get("status") or {}).get("enabled", True)
            if not enabled:
                continue
            if method == "email" and "email" not in person:
                person["email"] = to
            elif method in ("sms", "voice"):
                number = phone_number(None, to)
                if number is None:
                    self.draft.skip("contact method", f"{name} {method}", f"{to!r} is no phone")
                elif person.setdefault("phone", number) != number:
                    self.draft.skip(
                        "contact method",
                        f"{name} {method}",
                        "a person has one phone number in Tocsin; kept the first",
                    )
            elif method not in ("email",):
                self.draft.skip(
                    "contact method",
                    f"{name} {method}",
                    "Tocsin has no such channel (pages reach people by email, SMS, "
                    "voice, Slack or chat)",
                )
        self.draft.people.append(person)
        self._notification_rules(uid, name)

    def _notification_rules(self, uid: str, name: str) -> None:
        rules = sorted(
            _list(self.api.get(f"/v2/users/{uid}/notification-rules")),
            key=lambda r: r.get("order", 0),
        )
        chosen = False
        for summary in rules:
            label = f"{name}: {summary.get('name') or summary.get('id')}"
            if summary.get("actionType") != "create-alert" or not summary.get("enabled", True):
                if summary.get("enabled", True):
                    self.draft.skip(
                        "notification rule",
                        label,
                        f"{summary.get('actionType')!r} rules have no Tocsin counterpart "
                        "(Tocsin's rules choose how pages reach a person)",
                    )
                continue
            rule = _data(self.api.get(f"/v2/users/{uid}/notification-rules/{summary['id']}"))
            if not isinstance(rule, Mapping):
                continue
            criteria = (rule.get("criteria") or {}).get("type", "match-all")
            if criteria != "match-all" or rule.get("timeRestriction"):
                self.draft.skip(
                    "notification rule",
                    label,
                    "its conditions or time restriction cannot be expressed; Tocsin chooses "
                    "rules by message kind and severity",
                )
                continue
            if chosen:
                self.draft.skip(
                    "notification rule", label, "an earlier rule already covers every alert"
                )
                continue
            steps = self._steps(label, rule.get("steps"))
            if steps:
                self.draft.notification_rules[name] = [{"kinds": ["page"], "notify": steps}]
                chosen = True

    def _steps(self, label: str, steps: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for step in steps if isinstance(steps, list) else ():
            if not isinstance(step, Mapping) or not step.get("enabled", True):
                continue
            method = (step.get("contact") or {}).get("method")
            channel = _CHANNELS.get(str(method))
            if channel is None:
                self.draft.skip(
                    "notification step", f"{label} {method}", "Tocsin has no such channel"
                )
                continue
            after = step.get("sendAfter") or {}
            seconds = int(after.get("timeAmount", 0)) * _UNITS.get(str(after.get("timeUnit")), 60)
            entry: dict[str, Any] = {"channel": channel}
            if seconds:
                entry["after"] = duration_text(seconds)
            found.append(entry)
        return found

    # --- teams -------------------------------------------------------------------

    def teams(self) -> None:
        for summary in _list(self.api.get("/v2/teams")):
            tid = str(summary.get("id"))
            team = _data(self.api.get(f"/v2/teams/{tid}"))
            if not isinstance(team, Mapping):
                continue
            name = self.names.assign("team", tid, str(team.get("name") or tid))
            members: list[str] = []
            for member in team.get("members") or ():
                person = self.names.get("person", str((member.get("user") or {}).get("id")))
                if person is not None and person not in members:
                    members.append(person)
            entry: dict[str, Any] = {"name": name, "members": members}
            if team.get("description"):
                entry["description"] = str(team["description"])
            self.draft.teams.append(entry)

    # --- schedules ---------------------------------------------------------------

    def schedules(self) -> None:
        for schedule in _list(self.api.get("/v2/schedules", {"expand": "rotation"})):
            self._schedule(schedule)
        for team in self.draft.teams:
            zone = self.team_zone.get(team["name"])
            if zone is not None:
                team["timezone"] = zone

    def _schedule(self, schedule: Mapping[str, Any]) -> None:
        sid = str(schedule.get("id"))
        name = self.names.assign("schedule", sid, str(schedule.get("name") or sid))
        zone_name = schedule.get("timezone") or "UTC"
        zone = _zone(zone_name)
        if zone is None:
            self.draft.skip("schedule", name, f"time zone {zone_name!r} is unknown; not imported")
            return
        entry: dict[str, Any] = {"name": name, "timezone": zone_name}
        if schedule.get("enabled") is False:
            self.draft.skip(
                "schedule",
                name,
                "disabled in Opsgenie; imported, and pages whoever is on call once an "
                "escalation policy names it",
            )
        if schedule.get("description"):
            entry["description"] = str(schedule["description"])
        team_id = (schedule.get("ownerTeam") or {}).get("id")
        team = self.names.get("team", str(team_id)) if team_id else None
        if team is not None:
            entry["team"] = team
            self.team_zone.setdefault(team, zone_name)
        layers = [
            layer
            for rotation in schedule.get("rotations") or ()
            if (layer := self._rotation(name, rotation, zone)) is not None
        ]
        if not layers:
            self.draft.skip("schedule", name, "no rotation could be imported; not imported")
            return
        entry["layers"] = layers
        overrides = self._overrides(sid, name, {str(r.get("id")) for r in schedule["rotations"]})
        if overrides:
            entry["overrides"] = overrides
        self.draft.schedules.append(entry)

    def _rotation(
        self, schedule: str, rotation: Mapping[str, Any], zone: ZoneInfo
    ) -> dict[str, Any] | None:
        label = f"{schedule}: {rotation.get('name') or rotation.get('id')}"
        start = _instant(rotation.get("startDate"))
        unit = {"hourly": 3600, "daily": 86400, "weekly": 604800}.get(str(rotation.get("type")))
        if start is None or unit is None:
            self.draft.skip("rotation", label, "no start date or an unknown rotation type")
            return None
        participants: list[str] = []
        for participant in rotation.get("participants") or ():
            person = self.names.get("person", str(participant.get("id")))
            if participant.get("type") == "user" and person is not None:
                participants.append(person)
            else:
                self.draft.skip(
                    "rotation participant",
                    f"{label} {participant.get('type')} {participant.get('name', '')}".strip(),
                    "a turn in Tocsin belongs to one person; this turn was left out, so the "
                    "turns after it come earlier",
                )
        if not participants:
            self.draft.skip("rotation", label, "no person takes part; not imported")
            return None
        end = _instant(rotation.get("endDate"))
        if end is not None:
            self.draft.skip(
                "rotation end",
                label,
                f"the rotation ends at {end.isoformat()}; Tocsin layers do not end: remove "
                "the layer from the policy then",
            )
        length = timedelta(seconds=unit * int(rotation.get("length") or 1))
        note_wall_clock(self.draft, label, length, zone)
        layer: dict[str, Any] = {
            "name": self.names.assign(
                f"layer:{schedule}",
                str(rotation.get("id")),
                str(rotation.get("name") or "rotation"),
            ),
            **rotation_of(length),
            "start": local_start(start, zone),
            "participants": participants,
        }
        restrictions = self._restrictions(label, rotation.get("timeRestriction"))
        if restrictions:
            layer["restrictions"] = restrictions
        return layer

    def _restrictions(self, label: str, restriction: Any) -> list[dict[str, Any]] | None:
        if not isinstance(restriction, Mapping):
            return None
        windows: list[tuple[int, int]] = []
        kind = restriction.get("type")
        if kind == "time-of-day":
            r = restriction.get("restriction") or {}
            begin = int(r.get("startHour", 0)) * 60 + int(r.get("startMin", 0))
            end = int(r.get("endHour", 0)) * 60 + int(r.get("endMin", 0))
            length = (end - begin) % 1440 or 1440
            windows = [(day * 1440 + begin, length) for day in range(7)]
        elif kind == "weekday-and-time-of-day":
            for r in restriction.get("restrictions") or ():
                try:
                    first, last = _DAYS.index(r["startDay"]), _DAYS.index(r["endDay"])
                except (KeyError, ValueError):
                    self.draft.skip("time restriction", label, f"unknown day in {dict(r)}")
                    continue
                begin = first * 1440 + int(r.get("startHour", 0)) * 60 + int(r.get("startMin", 0))
                end = last * 1440 + int(r.get("endHour", 0)) * 60 + int(r.get("endMin", 0))
                windows.append((begin, (end - begin) % 10080 or 10080))
        else:
            self.draft.skip("time restriction", label, f"unknown restriction type {kind!r}")
            return None
        return weekly_restrictions(windows)

    def _overrides(self, sid: str, schedule: str, rotations: set[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for override in _list(self.api.get(f"/v2/schedules/{sid}/overrides")):
            start, end = _instant(override.get("startDate")), _instant(override.get("endDate"))
            user = override.get("user") or {}
            label = f"{schedule}: {override.get('alias') or start}"
            if start is None or end is None or end <= self.since:
                continue
            covered = {str(r.get("id")) for r in override.get("rotations") or ()}
            if covered and covered != rotations:
                self.draft.skip(
                    "override",
                    label,
                    "it covers only some rotations; Tocsin overrides cover the whole schedule",
                )
                continue
            person = self.names.get("person", str(user.get("id")))
            if user.get("type") != "user" or person is None:
                self.draft.skip("override", label, "only a person can cover a schedule")
                continue
            found.append({"person": person, "start": start.isoformat(), "end": end.isoformat()})
        return sorted(found, key=lambda o: o["start"])

    # --- escalation --------------------------------------------------------------

    def escalations(self) -> None:
        for escalation in _list(self.api.get("/v2/escalations")):
            self._escalation(escalation)

    def _target(self, label: str, recipient: Mapping[str, Any]) -> dict[str, str] | None:
        kind, rid = recipient.get("type"), str(recipient.get("id"))
        for source, policy_kind in (("user", "person"), ("team", "team"), ("schedule", "schedule")):
            if kind == source and (found := self.names.get(policy_kind, rid)) is not None:
                return {policy_kind: found}
        self.draft.skip(
            "escalation target",
            f"{label} {kind} {recipient.get('name', rid)}",
            "Tocsin pages a person, a team or a schedule's on-call; left out",
        )
        return None

    def _escalation(self, escalation: Mapping[str, Any]) -> None:
        eid = str(escalation.get("id"))
        name = self.names.assign("escalation", eid, str(escalation.get("name") or eid))
        by_delay: dict[int, list[dict[str, str]]] = {}
        for rule in escalation.get("rules") or ():
            label = f"{name}: rule {rule.get('condition')} {rule.get('notifyType')}"
            if rule.get("condition") not in (None, "if-not-acked"):
                self.draft.skip(
                    "escalation rule",
                    label,
                    "Tocsin escalates until someone acknowledges; kept as 'if not acknowledged'",
                )
            if rule.get("notifyType") not in (None, "default"):
                self.draft.skip(
                    "escalation rule", label, "only the recipient itself can be paged; left out"
                )
                continue
            delay = rule.get("delay") or {}
            seconds = int(delay.get("timeAmount", 0)) * _UNITS.get(str(delay.get("timeUnit")), 60)
            target = self._target(name, rule.get("recipient") or {})
            if target is not None and target not in by_delay.setdefault(seconds, []):
                by_delay[seconds].append(target)
        delays = sorted(d for d, targets in by_delay.items() if targets)
        if not delays:
            self.draft.skip("escalation policy", name, "no rule pages anyone; not imported")
            return
        if delays[0]:
            self.draft.skip(
                "escalation timing",
                name,
                f"Opsgenie waits {duration_text(delays[0])} before its first rule; Tocsin pages "
                "the first tier when the incident opens",
            )
        repeat = escalation.get("repeat") or {}
        wait = int(repeat.get("waitInterval") or 0) * 60
        tiers: list[dict[str, Any]] = []
        for index, delay in enumerate(delays):
            if index + 1 < len(delays):
                timeout = delays[index + 1] - delay
            elif wait:
                timeout = wait
            else:
                timeout = delays[-1] - delays[-2] if len(delays) > 1 else 900
                self.draft.skip(
                    "escalation timing",
                    name,
                    f"Opsgenie waits on the last rule for ever; Tocsin needs a timeout: "
                    f"used {duration_text(timeout)}",
                )
            tiers.append({"timeout": duration_text(timeout), "targets": by_delay[delay]})
        entry: dict[str, Any] = {"name": name, "tiers": tiers}
        if escalation.get("description"):
            entry["description"] = str(escalation["description"])
        if int(repeat.get("count") or 0) > 0:
            entry["repeat"] = int(repeat["count"])
            if repeat.get("closeAlertAfterAll"):
                self.draft.skip(
                    "escalation repeat",
                    name,
                    "Tocsin does not close an incident after the last repeat; it stays open",
                )
        team_id = (escalation.get("ownerTeam") or {}).get("id")
        if team_id:
            self.team_escalations.setdefault(str(team_id), []).append(name)
        self.draft.escalation_policies.append(entry)

    # --- services, integrations, maintenance --------------------------------------

    def services(self) -> None:
        for service in self.api.pages("/v1/services", {"limit": 100}, _list, _next):
            sid = str(service.get("id"))
            name = self.names.assign("service", sid, str(service.get("name") or sid))
            entry: dict[str, Any] = {"name": name}
            if service.get("description"):
                entry["description"] = str(service["description"])
            team_id = str(service.get("teamId") or "")
            team = self.names.get("team", team_id)
            if team is not None:
                entry["team"] = team
                self.team_services.setdefault(team_id, []).append(name)
            policies = self.team_escalations.get(team_id, [])
            if len(policies) == 1:
                entry["escalation_policy"] = policies[0]
            else:
                self.draft.skip(
                    "service escalation",
                    name,
                    "Opsgenie routes alerts by its team's routing rules; "
                    + (
                        f"its team has {len(policies)} escalations: "
                        if policies
                        else "its team has no escalation: "
                    )
                    + "the service uses the policy named 'default'",
                )
            self.draft.services.append(entry)

    def integrations(self) -> None:
        for integration in _list(self.api.get("/v2/integrations")):
            iid, team_id = str(integration.get("id")), str(integration.get("teamId") or "")
            self.integration_team[iid] = team_id
            label = str(integration.get("name") or iid)
            kind = _INTEGRATION_KINDS.get(str(integration.get("type", "")).lower())
            services = self.team_services.get(team_id, [])
            if kind is None or not services:
                self.draft.skip(
                    "integration",
                    label,
                    f"type {integration.get('type')!r} "
                    + ("has no Tocsin counterpart" if kind is None else "belongs to no service"),
                )
                continue
            self.draft.next_steps.append(
                f"tocsin integration create {services[0]} --kind {kind}   # was {label}"
            )
            if len(services) > 1:
                self.draft.skip(
                    "integration",
                    label,
                    "an Opsgenie integration feeds a team, a Tocsin one a service: listed for "
                    f"{services[0]}; the team also runs {', '.join(services[1:])}",
                )

    def maintenance(self) -> None:
        for summary in _list(self.api.get("/v1/maintenance", {"type": "non-expired"})):
            detail = _data(self.api.get(f"/v1/maintenance/{summary.get('id')}"))
            if not isinstance(detail, Mapping):
                continue
            label = str(detail.get("description") or detail.get("id"))
            timing = detail.get("time") or {}
            start, end = _instant(timing.get("startDate")), _instant(timing.get("endDate"))
            if start is None or end is None:
                self.draft.skip("maintenance", label, "it has no end; Tocsin windows end")
                continue
            services: list[str] = []
            for rule in detail.get("rules") or ():
                entity = rule.get("entity") or {}
                team_id = self.integration_team.get(str(entity.get("id")))
                if entity.get("type") == "integration" and team_id is not None:
                    services += self.team_services.get(team_id, [])
                else:
                    self.draft.skip(
                        "maintenance rule",
                        f"{label} {entity.get('type')}",
                        "Tocsin's maintenance windows quiet services, not policies",
                    )
            services = list(dict.fromkeys(services))
            if len(services) > 1:
                self.draft.skip(
                    "maintenance",
                    label,
                    "Opsgenie quiets integrations, which feed whole teams; Tocsin quiets "
                    f"services: the window covers every service of those teams ({len(services)})",
                )
            for service in services:
                self.draft.maintenance_windows.append(
                    {
                        "service": service,
                        "start": start.isoformat(),
                        "end": end.isoformat(),
                        "comment": label,
                    }
                )


def import_opsgenie(api: SourceApi, since: datetime, until: datetime) -> Draft:
    """Read the account behind ``api`` and map it onto the policy's sections.
    Overrides that ended before ``since`` are left out; rotation overlaps are looked for
    between ``since`` and ``until``."""
    source = _Opsgenie(api, since, until)
    source.users()
    source.teams()
    source.schedules()
    source.escalations()
    source.services()
    source.integrations()
    source.maintenance()
    report_overlaps(source.draft, since, until)
    return source.draft
