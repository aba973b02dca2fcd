"""`tocsin postmortem ...` and `tocsin actions ...` through the real CLI app against a real
running server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.support.cli import Cli

if TYPE_CHECKING:
    from tests.conftest import LiveServer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def alice(live_server: LiveServer) -> Cli:
    return Cli(live_server.url, live_server.make_token("responder", "alice"))


def resolved(cli: Cli, live_server: LiveServer, title: str, severity: str) -> str:
    live_server.clock.set(T0)
    inc = str(
        cli.json("incident", "declare", title, "--severity", severity, "--service", "checkout-api")[
            "id"
        ]
    )
    live_server.clock.set(T0 + timedelta(minutes=4))
    cli.ok("incident", "ack", inc)
    cli.ok("incident", "update", inc, "Rolling back the deploy", "--status", "identified")
    live_server.clock.set(T0 + timedelta(minutes=47))
    cli.ok("incident", "resolve", inc, "Rollback complete")
    return inc


def test_postmortem_commands(live_server: LiveServer, alice: Cli, tmp_path: Path) -> None:
    inc = resolved(alice, live_server, "Checkout API 5xx after deploy", "sev2")

    out = alice.ok("postmortem", "show", inc)
    assert out.startswith("PM-1 (" + inc + ", SEV2): Checkout API 5xx after deploy\n")
    assert "Status draft" in out
    assert "acknowledge 4m" in out and "resolve 47m" in out
    assert "Improve deployment testing" in out and "suggested" in out

    markdown = alice.ok("postmortem", "show", inc, "--markdown")
    assert markdown.startswith("# Post-mortem PM-1: Checkout API 5xx after deploy\n")
    assert "| Acknowledged by alice | alice |" in markdown
    assert "- **Time to resolve**: 47m (target 2h: met)" in markdown
    as_json = alice.json("postmortem", "show", "PM-1")
    assert as_json["id"] == "PM-1" and as_json["metrics"]["time_to_acknowledge"] == 240

    refused = alice.refused("postmortem", "create", inc)
    assert "already has post-mortem PM-1" in refused

    listed = alice.ok("postmortem", "list")
    assert "PM-1" in listed and inc in listed and "draft" in listed
    assert alice.ok("postmortem", "list", "--overdue") == "No overdue post-mortems.\n"
    live_server.clock.set(T0 + timedelta(hours=30))
    overdue = alice.ok("postmortem", "list", "--overdue")
    assert "PM-1" in overdue and "overdue" in overdue
    assert [p["id"] for p in alice.json("postmortem", "list", "--overdue")["items"]] == ["PM-1"]

    cause = tmp_path / "cause.md"
    cause.write_text("A config deploy skipped the canary. It was human error.", encoding="utf-8")
    edited = alice.ok(
        "postmortem", "edit", "PM-1", "--section", "root_cause", "--file", str(cause),
        "--category", "technical/deployment", "--tag", "config",
    )  # fmt: skip
    assert edited.startswith("PM-1 updated\n")
    assert "blameless check" in edited and "human error" in edited
    assert alice.refused("postmortem", "edit", "PM-1") == (
        "nothing to change: give --section, --category, --tag or --owner\n"
    )
    refused = alice.refused("postmortem", "publish", "PM-1")
    assert "allowed from draft: in_review" in refused
    assert alice.ok("postmortem", "submit", inc) == "PM-1 submitted for review; status in_review\n"
    published = alice.json("postmortem", "publish", "PM-1")
    assert published["status"] == "published"
    assert "root_cause" in published["edited_sections"]

    # a SEV3 is not drafted automatically; `create` drafts one by hand
    other = resolved(alice, live_server, "Slow search", "sev3")
    assert "has no post-mortem yet" in alice.refused("postmortem", "show", other)
    created = alice.ok("postmortem", "create", other)
    assert created.startswith(f"Drafted PM-2 for {other}; owner ")


def test_actions_commands(live_server: LiveServer, alice: Cli) -> None:
    inc = resolved(alice, live_server, "Login errors after deploy", "sev2")
    suggestions = alice.json("actions", "list", "--status", "suggested")["items"]
    assert [s["title"] for s in suggestions] == ["Improve deployment testing"]
    assert alice.ok("actions", "list") == "No action items.\n"
    suggestion = str(suggestions[0]["id"])
    assert alice.ok("actions", "accept", suggestion).startswith(
        f"Action item {suggestion} (PM-1) accepted"
    )

    added = alice.json(
        "actions", "add", inc, "Add a canary stage",
        "--owner", "bob", "--due", "2026-03-04", "--priority", "p1",
    )  # fmt: skip
    assert (added["postmortem"], added["owner"], added["priority"]) == ("PM-1", "bob", "p1")
    assert "owner" in alice.refused("actions", "add", "PM-1", "x", "--owner", "nobody")

    table = alice.ok("actions", "list")
    assert "Add a canary stage" in table and "Improve deployment testing" in table
    assert alice.ok("actions", "list", "--overdue") == "No overdue action items.\n"
    live_server.clock.set(datetime(2026, 3, 5, 8, 0, tzinfo=UTC))
    late = alice.ok("actions", "list", "--overdue")
    assert "Add a canary stage" in late and "overdue" in late
    assert "Improve deployment testing" not in late
    assert [i["title"] for i in alice.json("actions", "list", "--owner", "bob")["items"]] == [
        "Add a canary stage"
    ]

    done = alice.ok("actions", "done", str(added["id"]))
    assert done == f"Action item {added['id']} (PM-1) done: Add a canary stage\n"
    assert alice.json("actions", "list", "--overdue")["items"] == []
    refused = alice.refused("actions", "accept", "999")
    assert "action item 999 not found" in refused
    dropped = alice.json("actions", "drop", suggestion)
    assert dropped["status"] == "dropped"


def test_patterns_and_similar_commands(live_server: LiveServer, alice: Cli) -> None:
    incidents = [resolved(alice, live_server, f"Bad deploy {n}", "sev3") for n in range(3)]
    for inc in incidents:
        pm = alice.json("postmortem", "create", inc)
        alice.ok("postmortem", "edit", pm["id"], "--category", "technical/deployment")
    out = alice.ok("postmortem", "patterns")
    assert out.startswith("technical/deployment: Recurring issue: technical/deployment")
    assert "3 incidents: " + ", ".join(incidents) in out  # drafted at the same instant
    live_server.clock.set(T0 + timedelta(days=2))
    assert alice.ok("postmortem", "patterns", "--days", "1").startswith("No recurring pattern")

    similar = alice.json("postmortem", "similar", incidents[2])
    assert [i["incident"] for i in similar["items"]][:2] == [incidents[1], incidents[0]]
    assert "Bad deploy 1" in alice.ok("postmortem", "similar", incidents[2])
    assert alice.ok("postmortem", "similar", incidents[0]) == "No similar earlier incident.\n"
