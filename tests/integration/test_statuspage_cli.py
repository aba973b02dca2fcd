"""`tocsin status ...` through the real CLI app against a real running server."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from tests.support.cli import Cli

if TYPE_CHECKING:
    from tests.conftest import LiveServer


@pytest.fixture
def comms(live_server: LiveServer) -> Cli:
    return Cli(live_server.url, live_server.make_token("responder", "carol"), prefix=("status",))


def test_comms_lead_workflow(live_server: LiveServer, comms: Cli) -> None:
    draft = comms.json(
        "incident",
        "create",
        "Checkout errors",
        "--component",
        "Checkout=partial_outage",
        "--component",
        "Login",
        "--draft",
    )
    code = draft["id"]
    assert draft["draft"] is True
    assert draft["components"] == {"Checkout": "partial_outage", "Login": "partial_outage"}
    listed = comms.ok("incident", "list", "--drafts")
    assert code in listed and "investigating (draft)" in listed and "Checkout errors" in listed
    assert comms.json("incident", "list", "--published")["items"] == []

    out = comms.ok("incident", "publish", code)
    assert out.startswith(f"Published {code} investigating: Checkout errors")
    result = comms("incident", "publish", code)
    assert result.exit_code == 1 and "already published" in result.stderr

    live_server.clock.advance(timedelta(minutes=5))
    out = comms.ok("incident", "update", code, "Cause found.", "--status", "identified")
    assert out.startswith(f"Updated {code} identified")
    shown = comms.ok("incident", "show", code)
    assert "Cause found." in shown and "Checkout (partial_outage)" in shown
    updated = comms.json("incident", "update", code, "--status", "resolved", "--silent")
    assert updated["status"] == "resolved"
    assert updated["updates"][0]["deliver_notifications"] is False
    assert "All Systems Operational" in comms.ok("summary")

    bad = comms("incident", "create", "Nope", "--component", "Database")
    assert bad.exit_code == 1 and "unknown component 'Database'" in bad.stderr


def test_maintenance_commands(live_server: LiveServer, comms: Cli) -> None:
    now = live_server.clock.now()
    created = comms.json(
        "maintenance",
        "create",
        "Database upgrade",
        "--from",
        (now + timedelta(hours=1)).isoformat(),
        "--until",
        (now + timedelta(hours=2)).isoformat(),
        "--body",
        "Read-only for a few minutes.",
        "--component",
        "Checkout",
    )
    code = created["id"]
    assert code in comms.ok("maintenance", "list")
    live_server.clock.advance(timedelta(hours=1, minutes=1))
    assert "Checkout: under_maintenance" in comms.ok("summary")
    assert comms.json("maintenance", "update", code, "Going well.")["status"] == "in_progress"
    assert comms.ok("maintenance", "cancel", code).startswith(f"Cancelled {code}")
    assert "No scheduled maintenance." in comms.ok("maintenance", "list")
