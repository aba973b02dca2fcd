"""`tocsin incident ...` run through the real CLI app against a real running server."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from tests.support.cli import Cli


@pytest.fixture
def alice(live_server: Any) -> Cli:
    return Cli(live_server.url, live_server.make_token("responder", "alice"), prefix=("incident",))


@pytest.fixture
def incident_id(alice: Cli) -> str:
    declared = alice.json("declare", "Checkout API 5xx", "--severity", "sev2")
    return str(declared["id"])


def lines_with(output: str, *words: str) -> list[str]:
    return [line for line in output.splitlines() if all(word in line for word in words)]


def test_walk_through(alice: Cli) -> None:
    out = alice.ok(
        "declare",
        "Checkout API 5xx",
        "--severity",
        "sev2",
        "--service",
        "checkout-api",
        "--description",
        "Error rate above 5% since the 04:00 deploy",
    )
    assert out.startswith("Declared INC-")
    assert "(SEV2)" in out and "Checkout API 5xx" in out
    inc = out.split()[1]

    table = alice.ok("list")
    row = lines_with(table, inc, "Checkout API 5xx")
    assert len(row) == 1
    assert "SEV2" in row[0] and "triggered" in row[0] and "checkout-api" in row[0]

    listed = alice.json("list")
    mine = [item for item in listed["items"] if item["id"] == inc]
    assert mine[0]["status"] == "triggered"
    assert listed["total"] >= 1

    assert alice.ok("ack", inc.lower()).strip() == f"{inc} acknowledged by alice"

    out = alice.ok(
        "update", inc, "--status", "identified", "Bad deploy 4711, rolling back", "--public"
    )
    assert out.strip() == f"{inc} public update posted by alice; status identified"

    assert alice.ok("assign", inc, "--role", "commander", "alice").strip() == (
        f"{inc} commander: alice"
    )
    assert alice.ok("severity", inc.removeprefix("INC-"), "sev1").strip() == f"{inc} is now SEV1"

    assert alice.ok("resolve", inc, "Rolled back").strip() == f"{inc} resolved by alice"
    assert lines_with(alice.ok("list"), inc) == []  # active only by default
    assert len(lines_with(alice.ok("list", "--all"), inc, "resolved")) == 1

    shown = alice.ok("show", inc)
    for text in ("Checkout API 5xx", "SEV1", "resolved", "checkout-api", "Commander"):
        assert text in shown
    assert "Error rate above 5% since the 04:00 deploy" in shown
    for kind in (
        "declared",
        "acknowledged",
        "status_changed",
        "update_posted",
        "role_assigned",
        "severity_changed",
        "resolved",
    ):
        assert lines_with(shown, kind, "alice"), f"no timeline line for {kind} by alice"
    assert lines_with(shown, "identified", "public", "alice", "Bad deploy 4711, rolling back")
    assert lines_with(shown, "Rolled back")

    detail = alice.json("show", inc)
    assert detail["id"] == inc and detail["status"] == "resolved"
    assert detail["severity"] == "SEV1" and detail["roles"]["commander"] == ["alice"]
    # everything a person did is alice's; the rest is Tocsin's own paging
    assert {event["actor"] for event in detail["timeline"]} <= {"alice", "tocsin"}
    assert next(e["kind"] for e in detail["timeline"] if e["actor"] == "alice") == "declared"
    assert [u["message"] for u in detail["updates"]][:1] == ["Bad deploy 4711, rolling back"]

    assert alice.ok("close", inc).strip() == f"{inc} closed by alice"
    assert alice.json("show", inc)["status"] == "closed"


def test_json_output_is_the_api_object(alice: Cli, incident_id: str) -> None:
    acked = alice.json("ack", incident_id)
    assert acked["id"] == incident_id and acked["status"] == "acknowledged"
    assert "investigating" in acked["allowed_transitions"]
    update = alice.json("update", incident_id, "Looking into it")
    assert update["public"] is False and update["actor"] == "alice"
    roles = alice.json("assign", incident_id, "--role", "commander", "alice")["roles"]
    assert roles["commander"] == ["alice"]
    resolved = alice.json("resolve", incident_id, "--public")
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    assert alice.json("reopen", incident_id, "Errors are back")["status"] == "triggered"


def test_list_filters(alice: Cli) -> None:
    first = alice.json("declare", "Search slow", "--severity", "sev3")["id"]
    second = alice.json("declare", "Payments down", "--severity", "P0")["id"]
    alice.ok("resolve", first)
    ids = [item["id"] for item in alice.json("list", "--all")["items"]]
    assert first in ids and second in ids
    resolved = [i["id"] for i in alice.json("list", "--status", "resolved")["items"]]
    assert first in resolved and second not in resolved
    worst = [i["id"] for i in alice.json("list", "--severity", "sev1")["items"]]
    assert second in worst and first not in worst
    page = alice.json("list", "--all", "--limit", "1")
    assert len(page["items"]) == 1 and page["total"] >= 2
    assert "Showing 1 of" in alice.ok("list", "--all", "--limit", "1")


def test_unknown_severity_lists_the_valid_ones(alice: Cli) -> None:
    err = alice.refused("declare", "Checkout API 5xx", "--severity", "sev9")
    assert "sev9" in err
    for name in ("SEV1", "SEV2", "SEV3", "SEV4"):
        assert name in err


def test_ack_twice_names_the_allowed_transitions(alice: Cli, incident_id: str) -> None:
    alice.ok("ack", incident_id)
    err = alice.refused("ack", incident_id)
    assert "already acknowledged" in err
    assert "allowed" in err and "investigating" in err and "resolved" in err


def test_unknown_incident_is_not_found(alice: Cli) -> None:
    for args in (("show", "INC-999999"), ("ack", "999999"), ("severity", "inc-999999", "sev1")):
        assert "not found" in alice.refused(*args).lower()


def test_viewer_cannot_declare(live_server: Any) -> None:
    viewer = Cli(live_server.url, live_server.make_token("viewer"), prefix=("incident",))
    err = viewer.refused("declare", "Checkout API 5xx", "--severity", "sev2")
    assert "permission" in err.lower()
    assert "items" in viewer.json("list")  # viewers may still read


def test_bad_token_explains_how_to_authenticate(live_server: Any) -> None:
    err = Cli(live_server.url, "not-a-real-token", prefix=("incident",)).refused("list")
    assert "TOCSIN_TOKEN" in err


def test_server_down_exits_2() -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    err = Cli(url, "some-token", prefix=("incident",)).refused("list", code=2)
    assert f"cannot reach Tocsin at {url}" in err
    assert "tocsin serve" in err
