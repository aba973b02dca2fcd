"""A local PagerDuty REST API v2 serving an :class:`~tests.support.oncall_org.Org`.

As PagerDuty documents it: ``Authorization: Token token=<key>``; lists take ``limit``
(at most 100) and ``offset`` and answer ``limit``, ``offset``, ``more`` and ``total``
beside the items; ``include[]`` expands contact methods, notification rules and
integrations (otherwise they are references); an unknown key is 401 with
``{"error": {"message", "code"}}``; throttling is 429 with ``ratelimit-limit``,
``ratelimit-remaining`` and ``ratelimit-reset``. ``GET /schedules/{id}`` lists the
layers most important first. ``GET /oncalls?since=&until=&schedule_ids[]=`` answers
from the org's explicit shift lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.support.oncall_org import Org, Rotation, Schedule, final_shifts
from tests.support.source_api import Answer, SourceApiServer, first, page

_TURN = {"hourly": 3600, "daily": 86400, "weekly": 604800}


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ref(kind: str, oid: str, summary: str = "") -> dict[str, Any]:
    return {"id": oid, "type": f"{kind}_reference", "summary": summary}


@dataclass
class PagerDutyRest(SourceApiServer):
    org: Org | None = None
    key: str = "y_NbAkKc66ryYTWUXYEu"
    max_limit: int = 100
    reset_seconds: int = 2

    def authorized(self, header: str | None) -> bool:
        return header == f"Token token={self.key}"

    def unauthorized(self) -> Answer:
        return 401, {"error": {"message": "Unauthorized", "code": 2006}}, {}

    def throttled(self) -> Answer:
        headers = {
            "ratelimit-limit": "960",
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(self.reset_seconds),
        }
        return 429, {"error": {"message": "Rate Limit Exceeded", "code": 2020}}, headers

    def _list(self, key: str, items: list[Any], query: dict[str, list[str]]) -> Answer:
        offset = int(first(query, "offset", "0"))
        limit = min(int(first(query, "limit", "25")), self.max_limit)
        found, more = page(items, offset, limit)
        body = {key: found, "limit": limit, "offset": offset, "more": more, "total": None}
        return 200, body, {}

    def _missing(self) -> Answer:
        return 404, {"error": {"message": "Not Found", "code": 2100}}, {}

    # --- objects --------------------------------------------------------------------

    def _contact_methods(self, uid: str) -> list[dict[str, Any]]:
        assert self.org is not None
        user = self.org.user(uid)
        found = [
            {
                "id": f"{uid}E",
                "type": "email_contact_method",
                "label": "Work",
                "summary": "Work",
                "address": user.email,
            },
            {
                "id": f"{uid}S",
                "type": "sms_contact_method",
                "label": "Mobile",
                "summary": "Mobile",
                "country_code": 1,
                "address": user.phone,
                "enabled": True,
            },
            {
                "id": f"{uid}P",
                "type": "phone_contact_method",
                "label": "Mobile",
                "summary": "Mobile",
                "country_code": 1,
                "address": user.phone,
            },
        ]
        if user.push:
            found.append(
                {
                    "id": f"{uid}N",
                    "type": "push_notification_contact_method",
                    "label": "Phone app",
                    "summary": "Phone app",
                    "address": "token",
                }
            )
        return found

    def _notification_rules(self, uid: str) -> list[dict[str, Any]]:
        assert self.org is not None
        steps = [
            ("E", "email", 0, "high"),
            ("S", "sms", 1, "high"),
            ("P", "phone", 5, "high"),
            ("E", "email", 0, "low"),
        ]
        if self.org.user(uid).push:
            steps.insert(0, ("N", "push_notification", 0, "high"))
        return [
            {
                "id": f"{uid}R{i}",
                "type": "assignment_notification_rule",
                "start_delay_in_minutes": delay,
                "urgency": urgency,
                "contact_method": _ref(f"{kind}_contact_method", f"{uid}{suffix}"),
            }
            for i, (suffix, kind, delay, urgency) in enumerate(steps)
        ]

    def _user(self, uid: str, includes: list[str]) -> dict[str, Any]:
        assert self.org is not None
        user = self.org.user(uid)
        methods = self._contact_methods(uid)
        rules = self._notification_rules(uid)
        return {
            "id": uid,
            "type": "user",
            "name": user.full_name,
            "summary": user.full_name,
            "email": user.email,
            "time_zone": user.tz,
            "role": "user",
            "contact_methods": methods
            if "contact_methods" in includes
            else [_ref(m["type"], m["id"]) for m in methods],
            "notification_rules": rules
            if "notification_rules" in includes
            else [_ref(r["type"], r["id"]) for r in rules],
        }

    def _restrictions(self, rotation: Rotation) -> list[dict[str, Any]]:
        if rotation.daily:
            begin, length = rotation.windows[0]
            begin %= 1440
            return [
                {
                    "type": "daily_restriction",
                    "duration_seconds": length * 60,
                    "start_time_of_day": f"{begin // 60:02d}:{begin % 60:02d}:00",
                }
            ]
        return [
            {
                "type": "weekly_restriction",
                "duration_seconds": length * 60,
                "start_day_of_week": begin // 1440 + 1,
                "start_time_of_day": f"{begin % 1440 // 60:02d}:{begin % 60:02d}:00",
            }
            for begin, length in rotation.windows
        ]

    def _schedule(self, schedule: Schedule) -> dict[str, Any]:
        assert self.org is not None
        layers = []
        for rotation in schedule.rotations:
            start = _time(rotation.start.replace(tzinfo=ZoneInfo(schedule.tz)))
            layers.append(
                {
                    "id": rotation.id,
                    "name": rotation.name,
                    "start": start,
                    "end": None,
                    "rotation_virtual_start": start,
                    "rotation_turn_length_seconds": _TURN[rotation.unit] * rotation.length,
                    "users": [{"user": _ref("user", p)} for p in rotation.participants],
                    "restrictions": self._restrictions(rotation) if rotation.windows else [],
                }
            )
        return {
            "id": schedule.id,
            "type": "schedule",
            "name": schedule.name,
            "summary": schedule.name,
            "time_zone": schedule.tz,
            "description": "",
            "teams": [_ref("team", schedule.team)],
            "schedule_layers": list(reversed(layers)),
        }

    def _policy(self, index: int) -> dict[str, Any]:
        assert self.org is not None
        escalation = self.org.escalations[index]
        return {
            "id": escalation.id,
            "type": "escalation_policy",
            "name": escalation.name,
            "summary": escalation.name,
            "description": "",
            "num_loops": escalation.repeats,
            "on_call_handoff_notifications": "if_has_services",
            "escalation_rules": [
                {
                    "id": f"{escalation.id}-{i}",
                    "escalation_delay_in_minutes": timeout,
                    "targets": [_ref(kind, target) for kind, target in targets],
                }
                for i, (timeout, targets) in enumerate(escalation.tiers)
            ],
            "teams": [_ref("team", escalation.team)],
        }

    def _service(self, index: int, includes: list[str]) -> dict[str, Any]:
        assert self.org is not None
        service = self.org.services[index]
        integrations = []
        for iid, kind in service.integrations:
            full = {
                "id": iid,
                "type": "events_api_v2_inbound_integration",
                "name": f"{service.name} {kind}",
                "summary": f"{service.name} {kind}",
                "integration_key": f"key{iid}",
                "vendor": _ref("vendor", "PAM4FGS", "Prometheus") if kind == "prometheus" else None,
            }
            integrations.append(full if "integrations" in includes else _ref(full["type"], iid))
        return {
            "id": service.id,
            "type": "service",
            "name": service.name,
            "summary": service.name,
            "description": "",
            "status": "active",
            "auto_resolve_timeout": 14400 if index % 4 == 0 else None,
            "acknowledgement_timeout": None,
            "incident_urgency_rule": {"type": "constant", "urgency": "high"},
            "support_hours": None,
            "escalation_policy": _ref("escalation_policy", service.escalation),
            "teams": [_ref("team", service.team)],
            "integrations": integrations,
        }

    # --- routes ---------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        org = self.org
        assert org is not None
        parts = path.strip("/").split("/")
        includes = query.get("include[]", [])
        schedules = {s.id: s for s in org.schedules}
        if path == "/users":
            return self._list("users", [self._user(u.id, includes) for u in org.users], query)
        if path == "/teams":
            teams = [
                {"id": t.id, "type": "team", "name": t.name, "summary": t.name, "description": ""}
                for t in org.teams
            ]
            return self._list("teams", teams, query)
        if parts[0] == "teams" and len(parts) == 3 and parts[2] == "members":
            team = next((t for t in org.teams if t.id == parts[1]), None)
            if team is None:
                return self._missing()
            members = [{"user": _ref("user", m), "role": "responder"} for m in team.members]
            return self._list("members", members, query)
        if path == "/schedules":
            found = [
                {k: v for k, v in self._schedule(s).items() if k != "schedule_layers"}
                for s in org.schedules
            ]
            return self._list("schedules", found, query)
        if parts[0] == "schedules" and len(parts) >= 2 and parts[1] in schedules:
            schedule = schedules[parts[1]]
            if len(parts) == 2:
                return 200, {"schedule": self._schedule(schedule)}, {}
            if parts[2:] == ["overrides"]:
                if "since" not in query or "until" not in query:
                    error = {
                        "message": "Invalid Input Provided",
                        "code": 2001,
                        "errors": ["Since and until are required."],
                    }
                    return 400, {"error": error}, {}
                since, until = _parse(first(query, "since", "")), _parse(first(query, "until", ""))
                found = [
                    {
                        "id": f"{schedule.id}O{i}",
                        "start": _time(a),
                        "end": _time(b),
                        "user": _ref("user", p, org.user(p).full_name),
                    }
                    for i, (a, b, p) in enumerate(schedule.overrides)
                    if a < until and since < b
                ]
                return 200, {"overrides": found}, {}
        if path == "/oncalls":
            since = _parse(first(query, "since", _time(datetime.now(UTC))))
            until = _parse(first(query, "until", _time(since)))
            wanted = query.get("schedule_ids[]", list(schedules))
            entries = [
                {
                    "user": _ref("user", p, org.user(p).full_name),
                    "schedule": _ref("schedule", sid),
                    "escalation_level": 1,
                    "start": _time(a),
                    "end": _time(b),
                }
                for sid in wanted
                if sid in schedules
                for a, b, p in final_shifts(schedules[sid])
                if a <= until and since < b
            ]
            return self._list("oncalls", entries, query)
        if path == "/escalation_policies":
            found = [self._policy(i) for i in range(len(org.escalations))]
            return self._list("escalation_policies", found, query)
        if path == "/services":
            found = [self._service(i, includes) for i in range(len(org.services))]
            return self._list("services", found, query)
        if path == "/maintenance_windows":
            found = [
                {
                    "id": m.id,
                    "type": "maintenance_window",
                    "description": m.description,
                    "start_time": _time(m.start),
                    "end_time": _time(m.end),
                    "services": [_ref("service", s) for s in m.services],
                }
                for m in org.maintenance
            ]
            return self._list("maintenance_windows", found, query)
        return self._missing()
