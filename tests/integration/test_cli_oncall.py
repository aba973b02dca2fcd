"""`tocsin oncall`, `tocsin schedule ...`, `tocsin notifications`, the escalation controls
of `tocsin incident` and `tocsin policy validate` warnings, through the real CLI app
against a real running server (example policy; the fake clock reads Monday 2026-03-02
09:00 UTC, see test_api_oncall.py for who is on call when, worked out by hand).

The example's default escalation policy pages platform-primary (charlie), then
platform-secondary (alice), then erin, then vp-eng.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.support.cli import Cli
from tests.support.example_env import EXAMPLE_CHANNEL_ENV
from typer.testing import CliRunner

from tocsin.cli.main import app
from tocsin.policy import example_policy_text


@pytest.fixture
def alice(live_server: Any) -> Cli:
    return Cli(live_server.url, live_server.make_token("responder", "alice"))


@pytest.fixture
def incident_id(alice: Cli) -> str:
    return str(alice.json("incident", "declare", "Login errors", "--severity", "sev2")["id"])


def lines_with(output: str, *words: str) -> list[str]:
    return [line for line in output.splitlines() if all(word in line for word in words)]


# -- on call and schedules --------------------------------------------------------------------


def test_oncall_table_and_json(alice: Cli) -> None:
    table = alice.ok("oncall")
    assert "On call at 2026-03-02 09:00Z" in table
    assert lines_with(table, "platform-primary", "charlie", "2026-03-09 09:00Z", "alice")
    assert lines_with(table, "platform-secondary", "alice", "2026-03-03 09:00Z", "bob")
    assert lines_with(table, "ic-rotation", "charlie", "2026-03-02 17:00Z", "alice")

    at = alice.json("oncall", "ic-rotation", "--at", "2026-03-05T17:30:00Z")
    assert [(i["schedule"], i["people"]) for i in at["items"]] == [("ic-rotation", ["bob"])]
    one = alice.ok("oncall", "platform-primary", "--at", "2026-03-09T10:00:00+01:00")
    assert lines_with(one, "platform-primary", "alice", "2026-03-16 09:00Z", "bob")
    assert "ic-rotation" not in one


def test_oncall_refusals(alice: Cli) -> None:
    err = alice.refused("oncall", "nope")
    assert "nope" in err and "platform-primary" in err
    err = alice.refused("oncall", "--at", "next tuesday")
    assert "at" in err


def test_schedule_list_and_show(alice: Cli) -> None:
    listed = alice.ok("schedule", "list")
    assert lines_with(listed, "ic-rotation", "platform", "America/Los_Angeles")
    assert "early-week: alice (weekly from 2026-01-05T00:00) mon,tue,wed 09:00-17:00" in listed
    assert alice.json("schedule", "list")["items"][0]["name"] == "platform-primary"

    shown = alice.ok("schedule", "show", "ic-rotation", "--days", "14")
    assert "FROM (America/Los_Angeles)" in shown and "FROM (UTC)" in shown
    # Monday 09:00 Pacific is 17:00 UTC in winter and 16:00 UTC after the change on 03-08.
    assert lines_with(shown, "alice", "Mon 2026-03-02 09:00 PST", "2026-03-02 17:00Z")
    assert lines_with(shown, "alice", "Mon 2026-03-09 09:00 PDT", "2026-03-09 16:00Z")
    assert lines_with(shown, "bob", "Thu 2026-03-05 09:00 PST", "after-hours") == []
    assert lines_with(shown, "bob", "Thu 2026-03-05 09:00 PST", "late-week")

    data = alice.json("schedule", "show", "platform-primary", "--days", "14")
    assert [s["person"] for s in data["shifts"]] == ["charlie", "alice"]
    err = alice.refused("schedule", "show", "nope")
    assert "nope" in err and "ic-rotation" in err


def test_override_lifecycle(alice: Cli) -> None:
    out = alice.ok(
        "schedule",
        "override",
        "platform-primary",
        "dana",
        "--start",
        "2026-03-03T00:00:00Z",
        "--end",
        "2026-03-04T00:00:00Z",
        "--reason",
        "charlie at a conference",
    )
    assert "dana covers platform-primary from 2026-03-03 00:00Z to 2026-03-04 00:00Z" in out
    assert "(charlie at a conference)" in out
    override_id = out.split()[1].rstrip(":")

    at = alice.json("oncall", "platform-primary", "--at", "2026-03-03T12:00:00Z")
    assert at["items"][0]["people"] == ["dana"]
    shown = alice.ok("schedule", "show", "platform-primary", "--days", "7")
    assert lines_with(shown, "dana", "2026-03-03 00:00Z", "2026-03-04 00:00Z", "override")

    listed = alice.ok("schedule", "overrides", "platform-primary")
    assert lines_with(listed, override_id, "dana", "charlie at a conference", "alice")
    assert alice.json("schedule", "overrides", "platform-primary")["items"][0]["person"] == "dana"
    assert "No overrides" in alice.ok("schedule", "overrides", "platform-secondary")

    removed = alice.ok("schedule", "remove-override", "platform-primary", override_id)
    assert removed.strip() == f"Removed override {override_id} from platform-primary."
    at = alice.json("oncall", "platform-primary", "--at", "2026-03-03T12:00:00Z")
    assert at["items"][0]["people"] == ["charlie"]
    err = alice.refused("schedule", "remove-override", "platform-primary", override_id)
    assert "not found" in err

    err = alice.refused(
        "schedule", "override", "platform-primary", "mallory", "--start", "2026-03-03T00:00:00Z",
        "--end", "2026-03-04T00:00:00Z",
    )  # fmt: skip
    assert "mallory" in err and "person" in err


# -- escalation controls ------------------------------------------------------------------------


def test_escalate_repage_reassign_and_multi_ack(alice: Cli, incident_id: str) -> None:
    inc = incident_id
    out = alice.ok("incident", "escalate", inc)
    assert lines_with(out, inc, "Escalated by alice: next tier")
    assert lines_with(out, inc, "Paged alice: tier 2 of default")

    out = alice.ok("incident", "escalate", inc, "--tier", "4", "--reason", "customers waiting")
    assert lines_with(out, "Escalated by alice: customers waiting")
    assert lines_with(out, "Paged vp-eng: tier 4 of default")

    out = alice.ok("incident", "repage", inc)
    assert lines_with(out, "Paged vp-eng: tier 4 of default", "re-paged by alice")

    out = alice.ok("incident", "reassign", inc, "bob")
    assert lines_with(out, inc, "Reassigned to bob")
    alice.ok("incident", "reassign", inc, "charlie", "--note", "the DB pool again")

    pages = alice.json("incident", "notifications", inc)["items"]
    reasons = {(p["person"], p["kind"], p["reason"]) for p in pages}
    assert ("charlie", "page", "tier 1 of default, round 1 of 3 (incident triggered)") in reasons
    assert ("alice", "page", "tier 2 of default, round 1 of 3 (next tier)") in reasons
    assert ("vp-eng", "page", "tier 4 of default, round 1 of 3 (customers waiting)") in reasons
    assert ("vp-eng", "page", "tier 4 of default, round 1 of 3 (re-paged by alice)") in reasons
    assert ("bob", "page", "reassigned to bob by alice") in reasons
    assert ("charlie", "page", "reassigned to charlie by alice: the DB pool again") in reasons
    table = alice.ok("incident", "notifications", inc)
    assert lines_with(table, "2026-03-02 09:00:00Z", "bob", "page", "pending", "reassigned")
    assert "INCIDENT" not in table

    everywhere = alice.ok("notifications", "--state", "pending")
    assert lines_with(everywhere, inc, "bob", "page", "pending", "reassigned to bob by alice")
    assert "No notifications." in alice.ok("notifications", "--state", "failed")

    out = alice.ok("incident", "ack", inc, "--with", "bob")
    assert out.strip() == f"{inc} acknowledged together with bob by alice"
    timeline = alice.json("incident", "show", inc)["timeline"]
    kinds = [e["kind"] for e in timeline]
    for kind in ("escalated", "paged", "reassigned"):
        assert kind in kinds
    assert any(e["summary"] == "Acknowledged by alice and bob" for e in timeline)
    # No worker runs here: acknowledging cancelled the pages nobody had sent yet.
    pages = alice.json("incident", "notifications", inc)["items"]
    assert {p["state"] for p in pages if p["kind"] == "page"} == {"cancelled"}


def test_escalation_refusals(live_server: Any, alice: Cli, incident_id: str) -> None:
    viewer = Cli(live_server.url, live_server.make_token("viewer"))
    for args in (
        ("escalate", incident_id),
        ("repage", incident_id),
        ("reassign", incident_id, "bob"),
    ):
        assert "permission" in viewer.refused("incident", *args).lower()
    assert viewer.json("incident", "notifications", incident_id)["total"] >= 1  # may read

    err = alice.refused("incident", "reassign", incident_id, "mallory")
    assert "mallory" in err
    err = alice.refused("incident", "escalate", incident_id, "--tier", "9")
    assert "tier" in err and "4 tiers" in err
    err = alice.refused("incident", "ack", incident_id, "--with", "mallory")
    assert "mallory" in err

    alice.ok("incident", "resolve", incident_id)
    for args in (
        ("escalate", incident_id),
        ("repage", incident_id),
        ("reassign", incident_id, "bob"),
    ):
        err = alice.refused("incident", *args)
        assert "resolved" in err and "only an open incident" in err
    assert "not found" in alice.refused("incident", "escalate", "INC-99999").lower()


# -- policy validate ------------------------------------------------------------------------------

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


def test_policy_validate_prints_warnings(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.yaml"
    path.write_text(
        example_policy_text().replace("\nschedules:\n", "\n" + GAP_SCHEDULE, 1), encoding="utf-8"
    )
    env = {"NO_COLOR": "1", **EXAMPLE_CHANNEL_ENV}  # every channel configured
    result = CliRunner().invoke(app, ["policy", "validate", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert ": OK" in result.stdout
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1
    assert warning[0].startswith("warning: schedules[0]: schedule 'business-hours' has nobody")

    path.write_text("severities: 3\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["policy", "validate", str(path)], env={"NO_COLOR": "1"})
    assert result.exit_code == 1
    assert "error(s)" in result.stderr and "warning:" not in result.output
