"""A local Opsgenie REST API serving an :class:`~tests.support.oncall_org.Org`.

As Opsgenie documents it: ``Authorization: GenieKey <key>``; every answer is
``{"data": ..., "took": ..., "requestId": ...}``; lists that page (users, services)
take ``limit``/``offset`` and give the next page's full URL in ``paging.next``;
an unknown key is 401 ``{"message": "Could not authenticate", ...}``; throttling is 429
with ``X-RateLimit-State: THROTTLED`` and ``X-RateLimit-Period-In-Sec``. Times are
``yyyy-MM-dd'T'HH:mm:ssZ``. ``GET /v2/schedules/{id}/on-calls?date=`` answers from the
org's explicit shift lists.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from tests.support.oncall_org import Org, Rotation, Schedule, on_call
from tests.support.source_api import Answer, SourceApiServer, first, page

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class OpsgenieRest(SourceApiServer):
    org: Org | None = None
    key: str = "eb24alp-faa2-4ba2-a551q-1alpf565c889"
    page_size: int = 100
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def authorized(self, header: str | None) -> bool:
        return header == f"GenieKey {self.key}"

    def _wrap(self, data: Any, **extra: Any) -> dict[str, Any]:
        return {"data": data, **extra, "took": 0.004, "requestId": f"req-{next(self._ids)}"}

    def unauthorized(self) -> Answer:
        return 401, {"message": "Could not authenticate", "took": 0.0, "requestId": "r"}, {}

    def throttled(self) -> Answer:
        body = {
            "message": "You are making too many requests! To avoid errors, we recommend you "
            "limit requests.",
            "took": 0.0,
            "requestId": "r",
        }
        headers = {
            "X-RateLimit-State": "THROTTLED",
            "X-RateLimit-Reason": "ACCOUNT",
            "X-RateLimit-Period-In-Sec": "1",
        }
        return 429, body, headers

    def _paged(self, path: str, items: list[Any], query: dict[str, list[str]]) -> Answer:
        offset = int(first(query, "offset", "0"))
        limit = min(int(first(query, "limit", str(self.page_size))), self.page_size)
        found, more = page(items, offset, limit)
        last = max(0, (len(items) - 1) // limit * limit)
        paging = {
            "first": f"{self.url}{path}?{urlencode({'limit': limit, 'offset': 0})}",
            "last": f"{self.url}{path}?{urlencode({'limit': limit, 'offset': last})}",
        }
        if more:
            paging["next"] = (
                f"{self.url}{path}?{urlencode({'limit': limit, 'offset': offset + limit})}"
            )
        return 200, self._wrap(found, totalCount=len(items), paging=paging), {}

    def _missing(self) -> Answer:
        return 404, {"message": "Could not find resource", "took": 0.0, "requestId": "r"}, {}

    # --- objects --------------------------------------------------------------------

    def _user(self, uid: str) -> dict[str, Any]:
        assert self.org is not None
        user = self.org.user(uid)
        return {
            "id": user.id,
            "username": user.email,
            "fullName": user.full_name,
            "role": {"id": "User", "name": "User"},
            "timeZone": user.tz,
            "locale": "en_US",
            "verified": True,
            "blocked": False,
        }

    def _contacts(self, uid: str) -> list[dict[str, Any]]:
        assert self.org is not None
        user = self.org.user(uid)
        found = [
            {"id": f"{uid}-c1", "method": "email", "to": user.email, "status": {"enabled": True}},
            {
                "id": f"{uid}-c2",
                "method": "sms",
                "to": f"1-{user.phone}",
                "status": {"enabled": True},
            },
            {
                "id": f"{uid}-c3",
                "method": "voice",
                "to": f"1-{user.phone}",
                "status": {"enabled": True},
            },
        ]
        if user.push:
            found.append(
                {
                    "id": f"{uid}-c4",
                    "method": "mobile",
                    "to": user.email,
                    "status": {"enabled": True},
                }
            )
        return found

    def _rule(self, uid: str) -> dict[str, Any]:
        assert self.org is not None
        user = self.org.user(uid)
        steps = [
            {
                "id": f"{uid}-s1",
                "sendAfter": {"timeAmount": 0, "timeUnit": "minutes"},
                "contact": {"method": "email", "to": user.email},
                "enabled": True,
            },
            {
                "id": f"{uid}-s2",
                "sendAfter": {"timeAmount": 1, "timeUnit": "minutes"},
                "contact": {"method": "sms", "to": f"1-{user.phone}"},
                "enabled": True,
            },
            {
                "id": f"{uid}-s3",
                "sendAfter": {"timeAmount": 5, "timeUnit": "minutes"},
                "contact": {"method": "voice", "to": f"1-{user.phone}"},
                "enabled": True,
            },
        ]
        if user.push:
            steps.insert(
                0,
                {
                    "id": f"{uid}-s0",
                    "sendAfter": {"timeAmount": 0, "timeUnit": "minutes"},
                    "contact": {"method": "mobile", "to": user.email},
                    "enabled": True,
                },
            )
        return {
            "id": f"{uid}-rule",
            "name": "New alert",
            "actionType": "create-alert",
            "order": 1,
            "criteria": {"type": "match-all"},
            "notificationTime": ["just-before"],
            "steps": steps,
            "enabled": True,
        }

    def _restriction(self, rotation: Rotation) -> dict[str, Any] | None:
        if not rotation.windows:
            return None
        if rotation.daily:
            begin, length = rotation.windows[0]
            end = (begin + length) % 1440
            return {
                "type": "time-of-day",
                "restriction": {
                    "startHour": begin // 60 % 24,
                    "startMin": begin % 60,
                    "endHour": end // 60,
                    "endMin": end % 60,
                },
            }
        windows = []
        for begin, length in rotation.windows:
            end = (begin + length) % (7 * 1440)
            windows.append(
                {
                    "startDay": _DAYS[begin // 1440],
                    "startHour": begin % 1440 // 60,
                    "startMin": begin % 60,
                    "endDay": _DAYS[end // 1440],
                    "endHour": end % 1440 // 60,
                    "endMin": end % 60,
                }
            )
        return {"type": "weekday-and-time-of-day", "restrictions": windows}

    def _schedule(self, schedule: Schedule) -> dict[str, Any]:
        assert self.org is not None
        team = self.org.team(schedule.team)
        rotations = []
        for rotation in schedule.rotations:
            start = rotation.start.replace(tzinfo=_zone(schedule.tz))
            entry: dict[str, Any] = {
                "id": rotation.id,
                "name": rotation.name,
                "startDate": _time(start),
                "type": rotation.unit,
                "length": rotation.length,
                "participants": [
                    {"type": "user", "id": p, "username": self.org.user(p).email}
                    for p in rotation.participants
                ],
            }
            restriction = self._restriction(rotation)
            if restriction is not None:
                entry["timeRestriction"] = restriction
            rotations.append(entry)
        return {
            "id": schedule.id,
            "name": schedule.name,
            "description": "",
            "timezone": schedule.tz,
            "enabled": True,
            "ownerTeam": {"id": team.id, "name": team.name},
            "rotations": rotations,
        }

    def _escalation(self, index: int) -> dict[str, Any]:
        assert self.org is not None
        escalation = self.org.escalations[index]
        team = self.org.team(escalation.team)
        rules: list[dict[str, Any]] = []
        delay = 0
        for timeout, targets in escalation.tiers:
            for kind, target in targets:
                name = (
                    self.org.user(target).email
                    if kind == "user"
                    else next(s.name for s in self.org.schedules if s.id == target)
                )
                rules.append(
                    {
                        "condition": "if-not-acked",
                        "notifyType": "default",
                        "delay": {"timeAmount": delay, "timeUnit": "minutes"},
                        "recipient": {"type": kind, "id": target, "name": name},
                    }
                )
            delay += timeout
        return {
            "id": escalation.id,
            "name": escalation.name,
            "description": "",
            "ownerTeam": {"id": team.id, "name": team.name},
            "rules": rules,
            "repeat": {
                "waitInterval": escalation.tiers[-1][0],
                "count": escalation.repeats,
                "resetRecipientStates": False,
                "closeAlertAfterAll": False,
            },
        }

    # --- routes ---------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        org = self.org
        assert org is not None
        parts = path.strip("/").split("/")
        users = {u.id for u in org.users}
        schedules = {s.id: s for s in org.schedules}
        if path == "/v2/users":
            return self._paged(path, [self._user(u.id) for u in org.users], query)
        if parts[:2] == ["v2", "users"] and len(parts) >= 4 and parts[2] in users:
            uid = parts[2]
            if parts[3] == "contacts" and len(parts) == 4:
                return 200, self._wrap(self._contacts(uid)), {}
            if parts[3] == "notification-rules" and len(parts) == 4:
                rule = self._rule(uid)
                summary = {k: rule[k] for k in ("id", "name", "actionType", "order", "enabled")}
                return 200, self._wrap([summary]), {}
            if parts[3] == "notification-rules" and parts[4:] == [f"{uid}-rule"]:
                return 200, self._wrap(self._rule(uid)), {}
        if path == "/v2/teams":
            return (
                200,
                self._wrap([{"id": t.id, "name": t.name, "description": ""} for t in org.teams]),
                {},
            )
        if parts[:2] == ["v2", "teams"] and len(parts) == 3:
            team = next((t for t in org.teams if t.id == parts[2]), None)
            if team is None:
                return self._missing()
            members = [
                {"user": {"id": m, "username": org.user(m).email}, "role": "user"}
                for m in team.members
            ]
            return (
                200,
                self._wrap(
                    {"id": team.id, "name": team.name, "description": "", "members": members}
                ),
                {},
            )
        if path == "/v2/schedules":
            found = [self._schedule(s) for s in org.schedules]
            if "rotation" not in first(query, "expand", "").split(","):
                found = [{k: v for k, v in f.items() if k != "rotations"} for f in found]
            return 200, self._wrap(found, expandable=["rotation"]), {}
        if parts[:2] == ["v2", "schedules"] and len(parts) == 4 and parts[2] in schedules:
            schedule = schedules[parts[2]]
            if parts[3] == "overrides":
                rotations = [{"id": r.id, "name": r.name} for r in schedule.rotations]
                found = [
                    {
                        "alias": f"{schedule.id}-o{i}",
                        "startDate": _time(a),
                        "endDate": _time(b),
                        "user": {"type": "user", "id": p, "username": org.user(p).email},
                        "rotations": rotations,
                    }
                    for i, (a, b, p) in enumerate(schedule.overrides)
                ]
                return 200, self._wrap(found), {}
            if parts[3] == "on-calls":
                at = _parse(first(query, "date", _time(datetime.now(UTC))))
                people = [
                    {"id": p, "name": org.user(p).email, "type": "user"}
                    for p in sorted(on_call(schedule, at))
                ]
                parent = {"id": schedule.id, "name": schedule.name, "enabled": True}
                if first(query, "flat", "false") == "true":
                    emails = [p["name"] for p in people]
                    return 200, self._wrap({"_parent": parent, "onCallRecipients": emails}), {}
                return 200, self._wrap({"_parent": parent, "onCallParticipants": people}), {}
        if path == "/v2/escalations":
            return 200, self._wrap([self._escalation(i) for i in range(len(org.escalations))]), {}
        if path == "/v1/services":
            items = [
                {"id": s.id, "name": s.name, "teamId": s.team, "description": "", "tags": []}
                for s in org.services
            ]
            return self._paged(path, items, query)
        if path == "/v2/integrations":
            kinds = {"prometheus": "Prometheus", "events": "API", "email": "Email"}
            items = [
                {
                    "id": iid,
                    "name": f"{s.name} {kind}",
                    "type": kinds[kind],
                    "enabled": True,
                    "teamId": s.team,
                }
                for s in org.services
                for iid, kind in s.integrations
            ]
            return 200, self._wrap(items), {}
        if path == "/v1/maintenance":
            items = [
                {
                    "id": m.id,
                    "status": "planned",
                    "description": m.description,
                    "time": {
                        "type": "schedule",
                        "startDate": _time(m.start),
                        "endDate": _time(m.end),
                    },
                }
                for m in org.maintenance
            ]
            return 200, self._wrap(items), {}
        if parts[:2] == ["v1", "maintenance"] and len(parts) == 3:
            m = next((m for m in org.maintenance if m.id == parts[2]), None)
            if m is None:
                return self._missing()
            rules = [
                {"state": "disabled", "entity": {"id": iid, "type": "integration"}}
                for s in org.services
                if s.id in m.services
                for iid, _ in s.integrations[:1]
            ]
            return (
                200,
                self._wrap(
                    {
                        "id": m.id,
                        "status": "planned",
                        "description": m.description,
                        "time": {
                            "type": "schedule",
                            "startDate": _time(m.start),
                            "endDate": _time(m.end),
                        },
                        "rules": rules,
                    }
                ),
                {},
            )
        return self._missing()


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
