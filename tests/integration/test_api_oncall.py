"""`/api/v1/oncall`, `/api/v1/schedules...` and `/api/v1/policy/warnings` over real HTTP.

The example policy is loaded and the fake clock reads Monday 2026-03-02 09:00 UTC.
Worked out by hand from the example's schedules:

- platform-primary (weekly from Mon 2026-01-05 09:00 UTC: alice, bob, charlie): 8 weeks
  have passed, turn 8 -> charlie, from 03-02 09:00 to 03-09 09:00, then alice.
- platform-secondary (weekly from Tue 2026-01-06 09:00 UTC: charlie, alice, bob): turn 7
  (from 02-24 09:00) -> alice until 03-03 09:00, then bob.
- ic-rotation (America/Los_Angeles; alice Mon-Wed 09-17, bob Thu-Fri 09-17, charlie the
  rest): 09:00 UTC is 01:00 PST -> charlie since Fri 17:00 PST (02-28 01:00 UTC), until
  Mon 09:00 PST (17:00 UTC), then alice. After the US change on 03-08, 09:00 PDT is 16:00 UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from tests.support.example_env import EXAMPLE_CHANNEL_ENV

from tocsin.db import session_scope
from tocsin.db.jobs import pending_jobs
from tocsin.policy import example_policy_text

API = "/api/v1"


def client(server: Any, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=10)


@pytest.fixture
def admin(live_server: Any) -> Iterator[httpx.Client]:
    with client(live_server, live_server.admin_token) as http:
        yield http


@pytest.fixture
def alice(live_server: Any) -> Iterator[httpx.Client]:
    with client(live_server, live_server.make_token("responder", "alice")) as http:
        yield http


@pytest.fixture
def viewer(live_server: Any) -> Iterator[httpx.Client]:
    with client(live_server, live_server.make_token("viewer")) as http:
        yield http


def on_call(http: httpx.Client, **params: str) -> dict[str, dict[str, Any]]:
    answer = http.get(f"{API}/oncall", params=params)
    assert answer.status_code == 200, answer.text
    return {item["schedule"]: item for item in answer.json()["items"]}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_who_is_on_call_now(viewer: httpx.Client) -> None:
    answer = viewer.get(f"{API}/oncall")
    assert answer.status_code == 200
    assert utc(answer.json()["at"]) == datetime(2026, 3, 2, 9, tzinfo=UTC)
    items = {i["schedule"]: i for i in answer.json()["items"]}
    assert list(items) == ["platform-primary", "platform-secondary", "ic-rotation"]

    primary = items["platform-primary"]
    assert primary["people"] == ["charlie"]
    assert utc(primary["shift_start"]) == datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert utc(primary["shift_end"]) == datetime(2026, 3, 9, 9, tzinfo=UTC)
    assert primary["next_handoff"]["incoming"] == "alice"
    assert utc(primary["next_handoff"]["at"]) == datetime(2026, 3, 9, 9, tzinfo=UTC)

    secondary = items["platform-secondary"]
    assert secondary["people"] == ["alice"]
    assert utc(secondary["shift_start"]) == datetime(2026, 2, 24, 9, tzinfo=UTC)
    assert secondary["next_handoff"]["incoming"] == "bob"

    ic = items["ic-rotation"]
    assert ic["people"] == ["charlie"]
    assert utc(ic["shift_start"]) == datetime(2026, 2, 28, 1, tzinfo=UTC)  # Fri 17:00 PST
    assert utc(ic["shift_end"]) == datetime(2026, 3, 2, 17, tzinfo=UTC)  # Mon 09:00 PST
    assert ic["next_handoff"]["incoming"] == "alice"


def test_who_is_on_call_at_an_instant(viewer: httpx.Client) -> None:
    thursday = on_call(viewer, at="2026-03-05T17:30:00Z")  # Thu 09:30 PST
    assert thursday["ic-rotation"]["people"] == ["bob"]
    assert thursday["platform-primary"]["people"] == ["charlie"]
    assert thursday["platform-secondary"]["people"] == ["bob"]
    # After the US change to summer time, 09:00 Pacific is 16:00 UTC.
    monday = on_call(viewer, schedule="ic-rotation", at="2026-03-09T16:30:00Z")
    assert list(monday) == ["ic-rotation"]
    assert monday["ic-rotation"]["people"] == ["alice"]
    assert utc(monday["ic-rotation"]["shift_start"]) == datetime(2026, 3, 9, 16, tzinfo=UTC)
    # An offset other than Z is the same instant.
    later = on_call(viewer, schedule="platform-primary", at="2026-03-09T10:00:00+01:00")
    assert later["platform-primary"]["people"] == ["alice"]


def test_unknown_schedule_and_bad_instant(viewer: httpx.Client) -> None:
    missing = viewer.get(f"{API}/oncall", params={"schedule": "nope"})
    assert missing.status_code == 404
    assert "nope" in missing.json()["detail"] and "platform-primary" in missing.json()["detail"]
    for path in ("/schedules/nope", "/schedules/nope/overrides"):
        answer = viewer.get(API + path)
        assert answer.status_code == 404, path
        assert "ic-rotation" in answer.json()["detail"]
    for bad in ("yesterday", "2026-03-02T09:00", "0001-01-01T00:00:00Z"):
        answer = viewer.get(f"{API}/oncall", params={"at": bad})
        assert answer.status_code == 422, bad
        assert [e["field"] for e in answer.json()["errors"]] == ["at"]


def test_schedule_list_and_show(viewer: httpx.Client) -> None:
    listed = viewer.get(f"{API}/schedules").json()["items"]
    assert [s["name"] for s in listed] == ["platform-primary", "platform-secondary", "ic-rotation"]
    ic = listed[2]
    assert ic["timezone"] == "America/Los_Angeles"  # the team's
    assert [layer["name"] for layer in ic["layers"]] == ["after-hours", "early-week", "late-week"]
    assert ic["layers"][1]["restrictions"] == [
        {"days": ["mon", "tue", "wed"], "from": "09:00", "to": "17:00"}
    ]
    assert listed[0]["layers"][0]["participants"] == ["alice", "bob", "charlie"]

    shown = viewer.get(f"{API}/schedules/platform-primary", params={"days": 14}).json()
    assert utc(shown["start"]) == datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert utc(shown["end"]) == datetime(2026, 3, 16, 9, tzinfo=UTC)
    assert [(s["person"], s["layer"]) for s in shown["shifts"]] == [
        ("charlie", "weekly"),
        ("alice", "weekly"),
    ]
    assert utc(shown["shifts"][1]["start"]) == datetime(2026, 3, 9, 9, tzinfo=UTC)

    # The running shift is shown from its start, not cut at now.
    ic_shifts = viewer.get(f"{API}/schedules/ic-rotation", params={"days": 1}).json()["shifts"]
    assert ic_shifts[0]["person"] == "charlie"
    assert utc(ic_shifts[0]["start"]) == datetime(2026, 2, 28, 1, tzinfo=UTC)
    assert [s["person"] for s in ic_shifts] == ["charlie", "alice", "charlie"]

    for days in ("0", "91", "x"):
        answer = viewer.get(f"{API}/schedules/platform-primary", params={"days": days})
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "days"


def test_override_changes_the_answer_in_its_window(
    alice: httpx.Client, viewer: httpx.Client
) -> None:
    body = {
        "person": "dana",
        "start": "2026-03-03T00:00:00Z",
        "end": "2026-03-04T00:00:00Z",
        "reason": "charlie at a conference",
    }
    created = alice.post(f"{API}/schedules/platform-primary/overrides", json=body)
    assert created.status_code == 201, created.text
    override = created.json()
    assert override["person"] == "dana" and override["schedule"] == "platform-primary"
    assert override["created_by"] == "alice" and override["reason"] == "charlie at a conference"

    inside = on_call(viewer, schedule="platform-primary", at="2026-03-03T12:00:00Z")
    assert inside["platform-primary"]["people"] == ["dana"]
    assert utc(inside["platform-primary"]["shift_end"]) == datetime(2026, 3, 4, tzinfo=UTC)
    assert inside["platform-primary"]["next_handoff"]["incoming"] == "charlie"
    before = on_call(viewer, schedule="platform-primary", at="2026-03-02T23:59:59Z")
    assert before["platform-primary"]["people"] == ["charlie"]
    assert on_call(viewer, at="2026-03-04T00:00:00Z")["platform-primary"]["people"] == ["charlie"]
    # Other schedules are not affected.
    everyone = on_call(viewer, at="2026-03-03T12:00:00Z")
    assert everyone["platform-primary"]["people"] == ["dana"]
    assert everyone["platform-secondary"]["people"] == ["bob"]

    shown = viewer.get(f"{API}/schedules/platform-primary", params={"days": 7}).json()
    assert [(s["person"], s["layer"]) for s in shown["shifts"]] == [
        ("charlie", "weekly"),
        ("dana", "override"),
        ("charlie", "weekly"),
    ]
    assert utc(shown["shifts"][1]["start"]) == datetime(2026, 3, 3, tzinfo=UTC)

    listed = viewer.get(f"{API}/schedules/platform-primary/overrides").json()["items"]
    assert [o["id"] for o in listed] == [override["id"]]
    assert viewer.get(f"{API}/schedules/platform-secondary/overrides").json()["items"] == []
    window = {"from": "2026-03-05T00:00:00Z", "to": "2026-03-06T00:00:00Z"}
    assert (
        viewer.get(f"{API}/schedules/platform-primary/overrides", params=window).json()["items"]
        == []
    )
    backwards = {"from": "2026-03-05T00:00:00Z", "to": "2026-03-04T00:00:00Z"}
    refused = viewer.get(f"{API}/schedules/platform-primary/overrides", params=backwards)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "to"


def test_override_validation_and_permissions(alice: httpx.Client, viewer: httpx.Client) -> None:
    url = f"{API}/schedules/platform-primary/overrides"
    good = {"person": "dana", "start": "2026-03-03T00:00:00Z", "end": "2026-03-04T00:00:00Z"}
    denied = viewer.post(url, json=good)
    assert denied.status_code == 403
    unknown = alice.post(url, json={**good, "person": "mallory"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "person"
    backwards = alice.post(url, json={**good, "end": "2026-03-02T00:00:00Z"})
    assert backwards.status_code == 422 and "after start" in backwards.json()["detail"]
    missing = alice.post(f"{API}/schedules/nope/overrides", json=good)
    assert missing.status_code == 404


def test_delete_override(alice: httpx.Client, viewer: httpx.Client) -> None:
    url = f"{API}/schedules/platform-primary/overrides"
    body = {"person": "erin", "start": "2026-03-02T08:00:00Z", "end": "2026-03-02T12:00:00Z"}
    override_id = alice.post(url, json=body).json()["id"]
    assert on_call(viewer, schedule="platform-primary")["platform-primary"]["people"] == ["erin"]

    assert viewer.delete(f"{url}/{override_id}").status_code == 403
    # The id must belong to the schedule named in the URL.
    wrong = alice.delete(f"{API}/schedules/platform-secondary/overrides/{override_id}")
    assert wrong.status_code == 404

    deleted = alice.delete(f"{url}/{override_id}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert on_call(viewer, schedule="platform-primary")["platform-primary"]["people"] == ["charlie"]
    again = alice.delete(f"{url}/{override_id}")
    assert again.status_code == 404 and str(override_id) in again.json()["detail"]
    assert alice.delete(f"{url}/0").status_code == 422


def handoff_timers(server: Any, schedule: str) -> list[datetime]:
    with session_scope(server.context.sessions, write=False) as session:
        jobs = pending_jobs(session=session, key_prefix=f"handoff:{schedule}/")
        return [job.due_at for job in jobs]


def test_overrides_move_the_handoff_timer(live_server: Any, alice: httpx.Client) -> None:
    # charlie stays on past Monday's 09:00 handoff: the next handoff is at 03-10 00:00.
    url = f"{API}/schedules/platform-primary/overrides"
    body = {"person": "charlie", "start": "2026-03-09T00:00:00Z", "end": "2026-03-10T00:00:00Z"}
    override_id = alice.post(url, json=body).json()["id"]
    assert handoff_timers(live_server, "platform-primary") == [datetime(2026, 3, 10, tzinfo=UTC)]
    # Without the override the rotation's handoff is back, and must not be missed.
    assert alice.delete(f"{url}/{override_id}").status_code == 204
    assert handoff_timers(live_server, "platform-primary") == [datetime(2026, 3, 9, 9, tzinfo=UTC)]


GAP_SCHEDULE = """schedules:
  - name: business-hours
    timezone: UTC
    layers:
      - name: day
        rotation: daily
        start: "2026-01-05T09:00"
        participants: [alice, bob]
        restrictions:
          - days: [mon, tue, wed, thu, fri]
            from: "09:00"
            to: "17:00"
"""


def test_policy_warnings(
    live_server: Any, admin: httpx.Client, viewer: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Out of the box the outside channels are not configured, and the warnings say so,
    # once each, with who they leave unreached.
    for name in EXAMPLE_CHANNEL_ENV:
        monkeypatch.delenv(name, raising=False)
    items = viewer.get(f"{API}/policy/warnings").json()["items"]
    channels = [i["path"] for i in items if i["path"].startswith("channels.")]
    assert channels == [
        "channels.email",
        "channels.sms",
        "channels.voice",
        "channels.slack",
        "channels.pagerduty",
        "channels.jira",
    ]
    reach = {i["path"]: i["message"] for i in items}["notification_rules.*"]
    assert reach.startswith("everyone without rules of their own cannot be reached by sms")
    assert reach.endswith("go to the console channel instead")

    for name, value in EXAMPLE_CHANNEL_ENV.items():
        monkeypatch.setenv(name, value)
    assert viewer.get(f"{API}/policy/warnings").json() == {"items": []}

    text = example_policy_text()
    assert text.count("\nschedules:\n") == 1
    live_server.context.settings.policy.write_text(
        text.replace("\nschedules:\n", "\n" + GAP_SCHEDULE, 1), encoding="utf-8"
    )
    assert admin.post(f"{API}/policy/reload").status_code == 200

    items = viewer.get(f"{API}/policy/warnings").json()["items"]
    assert len(items) == 1
    assert items[0]["path"] == "schedules[0]"
    assert "business-hours" in items[0]["message"]
    assert "2026-03-02T17:00:00Z" in items[0]["message"]  # the first uncovered instant

    with client(live_server) as anonymous:
        assert anonymous.get(f"{API}/policy/warnings").status_code == 401
