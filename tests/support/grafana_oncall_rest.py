"""A local Grafana OnCall HTTP API serving an :class:`~tests.support.oncall_org.Org`.

As Grafana OnCall documents it: ``Authorization: <token>``; lists answer ``count``,
``next`` (full URL or ``null``), ``previous``, ``results``, ``page_size``,
``current_page_number`` and ``total_pages`` and page with ``?page=``; an unknown token
is 401 ``{"detail": "Invalid token."}``; throttling is 429 with ``Retry-After`` and a
``detail`` saying when. Schedules are made of on-call shifts (``rolling_users``
rotations, ``override`` shifts); integrations carry their default route's escalation
chain and their maintenance. ``GET /api/v1/schedules/{id}/final_shifts?start_date=
&end_date=`` answers from the org's explicit shift lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from tests.support.oncall_org import Org, Rotation, Schedule, final_shifts
from tests.support.source_api import Answer, SourceApiServer, first, page

_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_PERIOD = {"hourly": 3600, "daily": 86400, "weekly": 604800}


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class GrafanaOnCallRest(SourceApiServer):
    org: Org | None = None
    key: str = "meowmeowmeow-4d2f"
    page_size: int = 50
    retry_after: int = 2

    def authorized(self, header: str | None) -> bool:
        return header == self.key

    def unauthorized(self) -> Answer:
        return 401, {"detail": "Invalid token."}, {}

    def throttled(self) -> Answer:
        detail = f"Request was throttled. Expected available in {self.retry_after} seconds."
        return 429, {"detail": detail}, {"Retry-After": str(self.retry_after)}

    def _list(self, path: str, items: list[Any], query: dict[str, list[str]]) -> Answer:
        number = int(first(query, "page", "1"))
        found, more = page(items, (number - 1) * self.page_size, self.page_size)
        rest = {k: v[0] for k, v in query.items() if k != "page"}

        def link(n: int) -> str:
            return f"{self.url}{path}?{urlencode({**rest, 'page': n})}"

        body = {
            "count": len(items),
            "next": link(number + 1) if more else None,
            "previous": link(number - 1) if number > 1 else None,
            "results": found,
            "page_size": self.page_size,
            "current_page_number": number,
            "total_pages": max(1, -(-len(items) // self.page_size)),
        }
        return 200, body, {}

    # --- objects --------------------------------------------------------------------

    def _rules(self, uid: str) -> list[dict[str, Any]]:
        assert self.org is not None
        steps: list[tuple[str, int | None, bool]] = [
            ("notify_by_email", None, False),
            ("wait", 60, False),
            ("notify_by_sms", None, False),
            ("wait", 240, False),
            ("notify_by_phone_call", None, False),
            ("notify_by_phone_call", None, True),
        ]
        if self.org.user(uid).push:
            steps.insert(0, ("notify_by_mobile_app", None, False))
        found = []
        for position, (kind, duration, important) in enumerate(steps):
            rule: dict[str, Any] = {
                "id": f"N{uid}{position}",
                "user_id": uid,
                "position": position,
                "important": important,
                "type": kind,
            }
            if duration is not None:
                rule["duration"] = duration
            found.append(rule)
        return found

    def _rotation(self, schedule: Schedule, index: int, rotation: Rotation) -> dict[str, Any]:
        period = _PERIOD[rotation.unit] * rotation.length
        shift: dict[str, Any] = {
            "id": f"O{rotation.id}",
            "team_id": schedule.team,
            "schedule": schedule.id,
            "name": rotation.name,
            "type": "rolling_users",
            "time_zone": schedule.tz,
            "level": index + 1,
            "start": rotation.start.strftime("%Y-%m-%dT%H:%M:%S"),
            "duration": period,
            "frequency": rotation.unit,
            "interval": rotation.length,
            "week_start": "MO",
            "by_day": None,
            "until": None,
            "rolling_users": [[p] for p in rotation.participants],
            "start_rotation_from_user_index": 0,
        }
        start_of_week = rotation.start.weekday() * 1440 + rotation.start.hour * 60
        lengths = {length for _, length in rotation.windows}
        one_event = len(rotation.windows) == 1 and rotation.windows[0][0] == start_of_week
        if rotation.daily or one_event:
            shift["duration"] = rotation.windows[0][1] * 60
        elif rotation.windows and len(lengths) == 1 and rotation.unit == "weekly":
            shift["by_day"] = [_DAYS[begin // 1440] for begin, _ in rotation.windows]
            shift["duration"] = lengths.pop() * 60
        elif rotation.windows:
            raise ValueError(f"{rotation.id}: no Grafana OnCall shift has these windows")
        return shift

    def _shifts(self) -> list[dict[str, Any]]:
        assert self.org is not None
        found = []
        for schedule in self.org.schedules:
            for index, rotation in enumerate(schedule.rotations):
                found.append(self._rotation(schedule, index, rotation))
            for n, (a, b, person) in enumerate(schedule.overrides):
                found.append(
                    {
                        "id": f"O{schedule.id}V{n}",
                        "team_id": schedule.team,
                        "schedule": schedule.id,
                        "name": f"cover {n}",
                        "type": "override",
                        "time_zone": "UTC",
                        "level": 99,
                        "start": a.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                        "duration": int((b - a).total_seconds()),
                        "users": [person],
                    }
                )
        return found

    def _chain_steps(self) -> list[dict[str, Any]]:
        assert self.org is not None
        found: list[dict[str, Any]] = []
        for escalation in self.org.escalations:
            steps: list[dict[str, Any]] = []
            for timeout, targets in escalation.tiers:
                schedules = [t for kind, t in targets if kind == "schedule"]
                people = [t for kind, t in targets if kind == "user"]
                for schedule in schedules:
                    steps.append({"type": "notify_on_call_from_schedule",
                                  "notify_on_call_from_schedule": schedule})  # fmt: skip
                if people:
                    steps.append({"type": "notify_persons", "persons_to_notify": people})
                steps.append({"type": "wait", "duration": timeout * 60})
            if escalation.repeats:
                steps.append({"type": "repeat_escalation"})
            for position, step in enumerate(steps):
                found.append(
                    {"id": f"{escalation.id}P{position}", "escalation_chain_id": escalation.id,
                     "position": position, "important": False, **step}
                )  # fmt: skip
        return found

    def _integrations(self) -> list[dict[str, Any]]:
        assert self.org is not None
        found = []
        for service in self.org.services:
            for number, (iid, kind) in enumerate(service.integrations):
                window = next(
                    (m for m in self.org.maintenance if service.id in m.services and not number),
                    None,
                )
                found.append(
                    {
                        "id": iid,
                        "name": f"{service.name} {kind}",
                        "team_id": service.team,
                        "link": f"{self.url}/integrations/v1/{kind}/{iid}/",
                        "type": "alertmanager" if kind == "prometheus" else "webhook",
                        "default_route": {
                            "id": f"R{iid}",
                            "escalation_chain_id": service.escalation,
                            "slack": None,
                        },
                        "maintenance_mode": "maintenance" if window else None,
                        "maintenance_started_at": _time(window.start) if window else None,
                        "maintenance_end_at": _time(window.end) if window else None,
                    }
                )
        return found

    # --- routes ---------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        org = self.org
        assert org is not None
        parts = path.strip("/").split("/")
        if path == "/api/v1/users/":
            users = [
                {"id": u.id, "email": u.email, "slack": None, "username": u.email.split("@")[0],
                 "name": u.full_name, "role": "user", "is_phone_number_verified": True,
                 "timezone": u.tz, "teams": [t.id for t in org.teams if u.id in t.members]}
                for u in org.users
            ]  # fmt: skip
            return self._list(path, users, query)
        if path == "/api/v1/personal_notification_rules/":
            uid = first(query, "user_id", "")
            return self._list(path, self._rules(uid) if uid else [], query)
        if path == "/api/v1/teams/":
            teams = [{"id": t.id, "grafana_id": n + 1, "name": t.name, "email": "",
                      "avatar_url": ""} for n, t in enumerate(org.teams)]  # fmt: skip
            return self._list(path, teams, query)
        if path == "/api/v1/on_call_shifts/":
            return self._list(path, self._shifts(), query)
        if path == "/api/v1/schedules/":
            shifts = self._shifts()
            schedules = [
                {"id": s.id, "team_id": s.team, "name": s.name, "type": "web",
                 "time_zone": s.tz, "on_call_now": [],
                 "shifts": [x["id"] for x in shifts if x["schedule"] == s.id]}
                for s in org.schedules
            ]  # fmt: skip
            return self._list(path, schedules, query)
        if parts[:3] == ["api", "v1", "schedules"] and parts[4:] == ["final_shifts"]:
            schedule = next((s for s in org.schedules if s.id == parts[3]), None)
            if schedule is None:
                return 404, {"detail": "Not found."}, {}
            start = date.fromisoformat(first(query, "start_date", ""))
            end = date.fromisoformat(first(query, "end_date", "")) + timedelta(days=1)
            lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
            hi = datetime(end.year, end.month, end.day, tzinfo=UTC)
            found = [
                {"user_pk": p, "user_email": org.user(p).email,
                 "user_username": org.user(p).email.split("@")[0],
                 "shift_start": _time(a), "shift_end": _time(b)}
                for a, b, p in final_shifts(schedule) if a < hi and lo < b
            ]  # fmt: skip
            return self._list(path, found, query)
        if path == "/api/v1/escalation_chains/":
            chains = [{"id": e.id, "team_id": e.team, "name": e.name} for e in org.escalations]
            return self._list(path, chains, query)
        if path == "/api/v1/escalation_policies/":
            return self._list(path, self._chain_steps(), query)
        if path == "/api/v1/integrations/":
            return self._list(path, self._integrations(), query)
        return 404, {"detail": "Not found."}, {}
