"""Grafana OnCall's HTTP API (``/api/v1``) into a Tocsin policy.

Authentication is ``Authorization: <API token>``; lists page with ``next`` (the full
URL of the next page, ``null`` on the last). Grafana OnCall has no services: each
integration becomes a service paged by its default route's escalation chain.

Web schedules are made of on-call shifts. A ``rolling_users`` shift starts an event
every ``interval`` times ``frequency`` from ``start``, lasting ``duration``, each event
(or each week, for a weekly shift with a weekday mask) taken by the next user group;
it becomes a layer whose turns last one period, with restrictions when the events do
not cover the whole period. Higher ``level`` wins, like later Tocsin layers;
``override`` shifts become overrides. Reported instead of approximated: user groups of
several people, shifts Tocsin's weekly windows cannot express, iCal schedules,
escalation steps other than waiting and paging people, schedules or teams, and the
"repeat up to 5 times" step (imported as ``repeat: 5``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tocsin.importers.draft import (
    Draft,
    Names,
    duration_text,
    note_wall_clock,
    rotation_of,
    weekly_restrictions,
)
from tocsin.importers.http import SourceApi

__all__ = ["auth_header", "import_grafana_oncall"]

_WEEK = 7 * 86400
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_PERIODS = {"hourly": 3600, "daily": 86400, "weekly": _WEEK}
_CHANNELS = {
    "notify_by_email": "email",
    "notify_by_sms": "sms",
    "notify_by_phone_call": "voice",
    "notify_by_slack": "slack",
}
_INTEGRATION_KINDS = {
    "alertmanager": "alertmanager",
    "grafana_alerting": "grafana",
    "grafana": "grafana",
    "webhook": "generic",
    "formatted_webhook": "generic",
}
_PAGING_STEPS = {
    "notify_persons",
    "notify_on_call_from_schedule",
    "notify_team_members",
}


def auth_header(token: str) -> str:
    return token


def _results(body: Any) -> list[Any]:
    found = body.get("results") if isinstance(body, Mapping) else None
    return [r for r in found if isinstance(r, Mapping)] if isinstance(found, list) else []


def _next(body: Any, _params: Mapping[str, Any]) -> tuple[str, None] | None:
    url = body.get("next") if isinstance(body, Mapping) else None
    return (url, None) if isinstance(url, str) and url else None


def _local(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text)).replace(tzinfo=None)
    except ValueError:
        return None


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class _GrafanaOnCall:
    def __init__(self, api: SourceApi, since: datetime) -> None:
        self.api = api
        self.since = since
        self.draft = Draft("Grafana OnCall")
        self.names = Names()
        self.team_zone: dict[str, str] = {}
        self.important_rules: list[str] = []

    def _all(self, path: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        return list(self.api.pages(path, params, _results, _next))

    # --- people and teams ----------------------------------------------------------

    def users_and_teams(self) -> None:
        teams = self._all("/api/v1/teams/")
        members: dict[str, list[str]] = {}
        for user in self._all("/api/v1/users/"):
            uid = str(user.get("id"))
            email = str(user.get("email") or "")
            name = self.names.assign("person", uid, str(user.get("username") or email))
            person: dict[str, Any] = {"name": name}
            if user.get("name"):
                person["full_name"] = str(user["name"])
            if "@" in email:
                person["email"] = email
            try:
                ZoneInfo(str(user.get("timezone")))
                person["timezone"] = str(user["timezone"])
            except (ZoneInfoNotFoundError, ValueError):
                pass
            self.draft.people.append(person)
            for team in user.get("teams") or ():
                members.setdefault(str(team), []).append(name)
            self._notification_rules(uid, name)
        if self.important_rules:
            self.draft.skip(
                "notification rules",
                f"important ones of {len(self.important_rules)} people "
                f"({', '.join(self.important_rules)})",
                "Tocsin chooses notification rules by severity; their default rules now apply "
                "to every page",
            )
        if self.draft.people:
            self.draft.skip(
                "phone numbers",
                f"{len(self.draft.people)} people",
                "Grafana OnCall's API does not give them; add `phone` to reach people by "
                "SMS and voice",
            )
        for team in teams:
            tid = str(team.get("id"))
            name = self.names.assign("team", tid, str(team.get("name") or tid))
            self.draft.teams.append({"name": name, "members": members.get(tid, [])})

    def _notification_rules(self, uid: str, name: str) -> None:
        rules = sorted(
            self._all("/api/v1/personal_notification_rules/", {"user_id": uid}),
            key=lambda r: int(r.get("position") or 0),
        )
        steps: list[dict[str, Any]] = []
        after = 0
        important = 0
        for rule in rules:
            if rule.get("important"):
                important += 1
                continue
            kind = str(rule.get("type"))
            if kind == "wait":
                after += int(rule.get("duration") or 0)
                continue
            channel = _CHANNELS.get(kind)
            if channel is None:
                self.draft.skip("notification rule", f"{name} {kind}", "Tocsin has no such channel")
                continue
            step: dict[str, Any] = {"channel": channel}
            if after:
                step["after"] = duration_text(after)
            steps.append(step)
        if important:
            self.important_rules.append(name)
        if steps:
            self.draft.notification_rules[name] = [{"kinds": ["page"], "notify": steps}]

    # --- schedules -----------------------------------------------------------------

    def schedules(self) -> None:
        shifts = {str(s.get("id")): s for s in self._all("/api/v1/on_call_shifts/")}
        for schedule in self._all("/api/v1/schedules/"):
            sid = str(schedule.get("id"))
            name = self.names.assign("schedule", sid, str(schedule.get("name") or sid))
            if schedule.get("type") == "ical":
                self.draft.skip("schedule", name, "an iCal schedule; import its calendar by hand")
                continue
            zone = str(schedule.get("time_zone") or "UTC")
            entry: dict[str, Any] = {"name": name, "timezone": zone}
            team = self.names.get("team", str(schedule.get("team_id")))
            if team is not None:
                entry["team"] = team
                self.team_zone.setdefault(team, zone)
            own = [shifts[i] for i in schedule.get("shifts") or () if i in shifts]
            layers = []
            for shift in sorted(own, key=lambda s: int(s.get("level") or 0)):
                if shift.get("type") == "override":
                    continue
                layer = self._layer(name, shift, zone)
                if layer is not None:
                    layers.append(layer)
            if not layers:
                self.draft.skip("schedule", name, "no rotation could be imported; not imported")
                continue
            entry["layers"] = layers
            overrides = [o for s in own if (o := self._override(name, s, zone)) is not None]
            if overrides:
                entry["overrides"] = sorted(overrides, key=lambda o: o["start"])
            self.draft.schedules.append(entry)
        for team_entry in self.draft.teams:
            if (team_zone := self.team_zone.get(team_entry["name"])) is not None:
                team_entry["timezone"] = team_zone

    def _participants(self, label: str, shift: Mapping[str, Any]) -> list[str]:
        if shift.get("type") == "rolling_users":
            groups = shift.get("rolling_users") or []
        else:
            groups = [shift.get("users") or []]
        found: list[str] = []
        for group in groups:
            if len(group) != 1:
                self.draft.skip(
                    "rotation participant",
                    f"{label} group of {len(group)}",
                    "a Tocsin turn belongs to one person; the group's first member takes it",
                )
            person = self.names.get("person", str(group[0])) if group else None
            if person is not None:
                found.append(person)
        offset = int(shift.get("start_rotation_from_user_index") or 0)
        return found[offset:] + found[:offset] if found else found

    def _layer(self, schedule: str, shift: Mapping[str, Any], zone: str) -> dict[str, Any] | None:
        label = f"{schedule}: {shift.get('name') or shift.get('id')}"
        kind = shift.get("type")
        start = _local(shift.get("start"))
        if kind == "single_event":
            self.draft.skip("rotation", label, "a single event that is no override; left out")
            return None
        if shift.get("time_zone") not in (None, zone):
            self.draft.skip(
                "rotation", label, "its time zone differs from the schedule's; not imported"
            )
            return None
        period = int(shift.get("interval") or 1) * _PERIODS.get(str(shift.get("frequency")), 0)
        duration = int(shift.get("duration") or 0)
        participants = self._participants(label, shift)
        if start is None or not period or not duration or not participants:
            self.draft.skip("rotation", label, "no start, period, duration or user; left out")
            return None
        if shift.get("until"):
            self.draft.skip(
                "rotation end",
                label,
                f"it ends at {shift['until']}; Tocsin layers do not end: remove it then",
            )
        note_wall_clock(self.draft, label, timedelta(seconds=period), ZoneInfo(zone))
        windows = self._windows(label, shift, start, period, duration)
        if windows is None:
            return None
        layer: dict[str, Any] = {
            "name": self.names.assign(
                f"layer:{schedule}", str(shift.get("id")), str(shift.get("name") or "rotation")
            ),
            **rotation_of(timedelta(seconds=period)),
            "start": start.strftime("%Y-%m-%dT%H:%M"),
            "participants": participants,
        }
        restrictions = weekly_restrictions(windows) if windows else None
        if restrictions:
            layer["restrictions"] = restrictions
        return layer

    def _windows(
        self,
        label: str,
        shift: Mapping[str, Any],
        start: datetime,
        period: int,
        duration: int,
    ) -> list[tuple[int, int]] | None:
        """The weekly windows (minutes) the shift's events cover; ``[]`` when they cover
        everything, ``None`` (reported) when weekly windows cannot express them."""
        of_week = start.weekday() * 1440 + start.hour * 60 + start.minute
        days = [d for d in shift.get("by_day") or () if d in _DAYS]
        if days:
            if shift.get("frequency") != "weekly":
                self.draft.skip(
                    "rotation",
                    label,
                    "a weekday mask on a rotation that is not weekly; not imported",
                )
                return None
            minute = start.hour * 60 + start.minute
            return [(_DAYS.index(d) * 1440 + minute, duration // 60) for d in days]
        if duration == period:
            return []
        if duration > period or _WEEK % period:
            self.draft.skip(
                "rotation",
                label,
                f"events of {duration_text(duration)} every {duration_text(period)} cannot be "
                "written as weekly windows; not imported",
            )
            return None
        return [
            ((of_week + k * period // 60) % 10080, duration // 60) for k in range(_WEEK // period)
        ]

    def _override(
        self, schedule: str, shift: Mapping[str, Any], zone: str
    ) -> dict[str, Any] | None:
        if shift.get("type") != "override":
            return None
        start = _local(shift.get("start"))
        users = shift.get("users") or []
        person = self.names.get("person", str(users[0])) if users else None
        if start is None or person is None:
            self.draft.skip("override", f"{schedule}: {shift.get('id')}", "no start or user")
            return None
        begins = start.replace(tzinfo=ZoneInfo(str(shift.get("time_zone") or zone)))
        ends = begins + timedelta(seconds=int(shift.get("duration") or 0))
        if ends <= self.since:
            return None
        return {"person": person, "start": begins.isoformat(), "end": ends.isoformat()}

    # --- escalation ----------------------------------------------------------------

    def escalation_chains(self) -> None:
        steps: dict[str, list[Mapping[str, Any]]] = {}
        for step in self._all("/api/v1/escalation_policies/"):
            steps.setdefault(str(step.get("escalation_chain_id")), []).append(step)
        for chain in self._all("/api/v1/escalation_chains/"):
            cid = str(chain.get("id"))
            name = self.names.assign("escalation", cid, str(chain.get("name") or cid))
            ordered = sorted(steps.get(cid, []), key=lambda s: int(s.get("position") or 0))
            self._chain(name, ordered)

    def _targets(self, name: str, step: Mapping[str, Any]) -> list[dict[str, str]]:
        kind = step.get("type")
        if kind == "notify_persons":
            people = [self.names.get("person", str(p)) for p in step.get("persons_to_notify") or ()]
            return [{"person": p} for p in people if p is not None]
        if kind == "notify_on_call_from_schedule":
            schedule = self.names.get("schedule", str(step.get("notify_on_call_from_schedule")))
            imported = {s["name"] for s in self.draft.schedules}
            if schedule is not None and schedule in imported:
                return [{"schedule": schedule}]
            self.draft.skip(
                "escalation target", f"{name} schedule", "its schedule was not imported"
            )
            return []
        team = self.names.get("team", str(step.get("team_to_notify")))
        return [{"team": team}] if team is not None else []

    def _chain(self, name: str, steps: list[Mapping[str, Any]]) -> None:
        tiers: list[tuple[int, list[dict[str, str]]]] = []  # (seconds to wait, targets)
        pending: list[dict[str, str]] = []
        repeat = 0
        for step in steps:
            kind = step.get("type")
            if kind in _PAGING_STEPS:
                pending += [t for t in self._targets(name, step) if t not in pending]
                if step.get("important"):
                    self.draft.skip("escalation step", f"{name} {kind}", "paged as a normal page")
            elif kind == "wait" and pending:
                tiers.append((int(step.get("duration") or 0), pending))
                pending = []
            elif kind == "wait" and tiers:  # a second wait: the tier waits longer
                tiers[-1] = (tiers[-1][0] + int(step.get("duration") or 0), tiers[-1][1])
            elif kind == "wait":
                self.draft.skip(
                    "escalation timing",
                    name,
                    "a wait before anyone is paged; Tocsin pages the first tier when the "
                    "incident opens",
                )
            elif kind == "repeat_escalation":
                repeat = 5
                self.draft.skip(
                    "escalation repeat",
                    name,
                    "Grafana OnCall repeats the chain up to 5 times: imported as repeat: 5",
                )
            else:
                self.draft.skip("escalation step", f"{name} {kind}", "Tocsin has no such step")
        if pending:
            timeout = tiers[-1][0] if tiers else 900
            tiers.append((timeout, pending))
            self.draft.skip(
                "escalation timing",
                name,
                "the last step waits for nothing; Tocsin needs a timeout: used "
                f"{duration_text(timeout)}",
            )
        if not tiers:
            self.draft.skip("escalation policy", name, "no step pages anyone; not imported")
            return
        entry: dict[str, Any] = {
            "name": name,
            "tiers": [{"timeout": duration_text(s), "targets": t} for s, t in tiers],
        }
        if repeat:
            entry["repeat"] = repeat
        self.draft.escalation_policies.append(entry)

    # --- integrations as services, maintenance -----------------------------------------

    def integrations(self) -> None:
        imported = {p["name"] for p in self.draft.escalation_policies}
        for integration in self._all("/api/v1/integrations/"):
            iid = str(integration.get("id"))
            label = str(integration.get("name") or iid)
            name = self.names.assign("service", iid, label)
            entry: dict[str, Any] = {"name": name}
            team = self.names.get("team", str(integration.get("team_id")))
            if team is not None:
                entry["team"] = team
            chain = (integration.get("default_route") or {}).get("escalation_chain_id")
            policy = self.names.get("escalation", str(chain))
            if policy in imported:
                entry["escalation_policy"] = policy
            self.draft.services.append(entry)
            kind = _INTEGRATION_KINDS.get(str(integration.get("type")))
            if kind is None:
                self.draft.skip("integration", label, f"type {integration.get('type')!r}")
            else:
                self.draft.next_steps.append(
                    f"tocsin integration create {name} --kind {kind}   # was {label}"
                )
            self._maintenance(name, label, integration)

    def _maintenance(self, service: str, label: str, integration: Mapping[str, Any]) -> None:
        mode = integration.get("maintenance_mode")
        if not mode:
            return
        start = _instant(integration.get("maintenance_started_at"))
        end = _instant(integration.get("maintenance_end_at"))
        if mode != "maintenance" or start is None or end is None:
            self.draft.skip("maintenance", label, f"{mode} mode has no Tocsin counterpart")
            return
        window = {"service": service, "start": start.isoformat(), "end": end.isoformat()}
        self.draft.maintenance_windows.append({**window, "comment": f"{label} maintenance"})


def import_grafana_oncall(api: SourceApi, since: datetime, until: datetime) -> Draft:
    """Read the Grafana OnCall stack behind ``api`` and map it onto the policy's
    sections; overrides that ended before ``since`` are left out."""
    source = _GrafanaOnCall(api, since)
    source.users_and_teams()
    source.schedules()
    source.escalation_chains()
    source.integrations()
    return source.draft
