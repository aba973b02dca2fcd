"""The incident REST API against a real running server, on SQLite and PostgreSQL.

Each test drives the server the way a script or the CLI would: over HTTP with a bearer
token. The fake clock makes every timestamp exact. The server also acts on its own (it
pages and assigns an on-call commander when an incident is declared); those timeline
events carry the system actor, and the tests here check what the people did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from tests.conftest import LiveServer

API = "/api/v1/incidents"
SYSTEM_ACTOR = "tocsin"  # the actor of events the server records on its own


Connect = Callable[..., httpx.Client]


@pytest.fixture
def connect(live_server: LiveServer) -> Iterator[Connect]:
    """`connect()` is an admin client, `connect(token)` one for that token; all are closed."""
    clients: list[httpx.Client] = []

    def make(token: str | None = None) -> httpx.Client:
        api = httpx.Client(
            base_url=live_server.url,
            headers={"Authorization": f"Bearer {token or live_server.admin_token}"},
            timeout=10,
        )
        clients.append(api)
        return api

    yield make
    for api in clients:
        api.close()


def at(value: str | None) -> datetime:
    assert value is not None
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), f"{value} is not UTC"
    return parsed


def declare(api: httpx.Client, title: str = "Checkout API 5xx", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"title": title, "severity": "sev2", **fields}
    response = api.post(API, json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def timeline(api: httpx.Client, ref: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = ok(api.get(f"{API}/{ref}/timeline"))["items"]
    assert [(at(e["at"]), e["id"]) for e in items] == sorted((at(e["at"]), e["id"]) for e in items)
    return items


def kinds(api: httpx.Client, ref: str) -> list[str]:
    """The kinds of the events people caused, in order."""
    return [e["kind"] for e in timeline(api, ref) if e["actor"] != SYSTEM_ACTOR]


def events(api: httpx.Client, ref: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in timeline(api, ref) if e["kind"] == kind and e["actor"] != SYSTEM_ACTOR]


def picked(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: data.get(k) for k in keys}


# ---------------------------------------------------------------- declare and read


def test_declare_numbers_incidents_and_canonicalises_severity(
    live_server: LiveServer, connect: Connect
) -> None:
    api = connect()
    now = live_server.clock.now()

    first = declare(api, "Checkout API 5xx", severity="p1")
    second = declare(api, "Everything is down", severity="critical")

    assert (first["id"], first["number"]) == ("INC-1", 1)
    assert (second["id"], second["number"]) == ("INC-2", 2)
    assert (first["severity"], first["severity_rank"]) == ("SEV2", 2)
    assert (second["severity"], second["severity_rank"]) == ("SEV1", 1)
    assert first["status"] == "triggered"
    assert first["created_by"] == "admin"
    assert at(first["detected_at"]) == now
    assert at(first["created_at"]) == now
    assert at(first["started_at"]) == now  # defaults to the declaration time
    for milestone in ("acknowledged_at", "mitigated_at", "resolved_at", "closed_at"):
        assert first[milestone] is None
    assert "acknowledged" in first["allowed_transitions"]
    assert "resolved" in first["allowed_transitions"]
    assert "closed" not in first["allowed_transitions"]


def test_severity_names_are_case_insensitive(live_server: LiveServer, connect: Connect) -> None:
    api = connect()
    assert declare(api, severity="sev3")["severity"] == "SEV3"
    assert declare(api, severity="P3")["severity"] == "SEV4"
    assert declare(api, severity="Medium")["severity"] == "SEV3"


def test_tags_come_from_keyword_rules_and_services(
    live_server: LiveServer, connect: Connect
) -> None:
    api = connect()
    incident = declare(
        api,
        "Checkout API 5xx",
        description="DB latency after the deploy; see customer feedback",
        services=["payments-db", "checkout-api"],
    )
    assert incident["services"] == ["checkout-api", "payments-db"]
    # "API" -> api, "DB" -> database (whole word), services are tags; "feedback" is not "db"
    assert incident["tags"] == ["api", "checkout-api", "database", "payments-db"]

    plain = declare(api, "Feedback form slow", severity="sev4")
    assert plain["tags"] == []


def test_explicit_started_at_is_kept(live_server: LiveServer, connect: Connect) -> None:
    api = connect()
    started = live_server.clock.now() - timedelta(minutes=42)
    incident = declare(api, started_at=started.isoformat())
    assert at(incident["started_at"]) == started
    assert at(incident["detected_at"]) == live_server.clock.now()
    again = ok(api.get(f"{API}/{incident['id']}"))
    assert at(again["started_at"]) == started


def test_started_at_with_an_offset_is_answered_in_utc(
    live_server: LiveServer, connect: Connect
) -> None:
    """The contract: all times are UTC. The declare answer must not echo the client's
    offset while GET answers the same instant in UTC."""
    api = connect()
    incident = declare(api, started_at="2026-03-02T09:30:00+01:00")
    stored = ok(api.get(f"{API}/{incident['id']}"))
    assert stored["started_at"] in ("2026-03-02T08:30:00Z", "2026-03-02T08:30:00+00:00")
    assert incident["started_at"] == stored["started_at"]


def test_get_accepts_every_id_form(live_server: LiveServer, connect: Connect) -> None:
    api = connect()
    declare(api, "first")
    declare(api, "second")
    for ref in ("INC-2", "inc-2", "2"):
        got = ok(api.get(f"{API}/{ref}"))
        assert (got["id"], got["title"]) == ("INC-2", "second")
    assert api.get(f"{API}/INC-3").status_code == 404


# ---------------------------------------------------------------- list


@pytest.fixture
def three(live_server: LiveServer, connect: Connect) -> dict[str, str]:
    """INC-1 SEV1 checkout triggered, INC-2 SEV3 payments-db acknowledged,
    INC-3 SEV2 checkout resolved."""
    api = connect()
    a = declare(api, "one", severity="sev1", services=["checkout-api"])["id"]
    b = declare(api, "two", severity="sev3", services=["payments-db"])["id"]
    c = declare(api, "three", severity="sev2", services=["checkout-api", "auth-service"])["id"]
    ok(api.post(f"{API}/{b}/acknowledge"))
    ok(api.post(f"{API}/{c}/resolve", json={}))
    return {"a": a, "b": b, "c": c}


def listed(api: httpx.Client, query: str = "") -> tuple[list[str], int]:
    page = ok(api.get(f"{API}{query}"))
    return [i["id"] for i in page["items"]], page["total"]


def test_list_is_newest_first_with_a_total(
    live_server: LiveServer, connect: Connect, three: dict[str, str]
) -> None:
    api = connect()
    page = ok(api.get(API))
    assert [i["id"] for i in page["items"]] == ["INC-3", "INC-2", "INC-1"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 50, 0)


def test_list_filters_by_status(
    live_server: LiveServer, connect: Connect, three: dict[str, str]
) -> None:
    api = connect()
    assert listed(api, "?status=triggered") == (["INC-1"], 1)
    assert listed(api, "?status=triggered&status=acknowledged") == (["INC-2", "INC-1"], 2)
    assert listed(api, "?status=active") == (["INC-2", "INC-1"], 2)
    assert listed(api, "?status=resolved") == (["INC-3"], 1)
    assert listed(api, "?status=closed") == ([], 0)


def test_list_filters_by_severity_alias_and_service(
    live_server: LiveServer, connect: Connect, three: dict[str, str]
) -> None:
    api = connect()
    assert listed(api, "?severity=critical") == (["INC-1"], 1)
    assert listed(api, "?severity=P2") == (["INC-2"], 1)
    assert listed(api, "?severity=SEV2") == (["INC-3"], 1)
    assert listed(api, "?service=checkout-api") == (["INC-3", "INC-1"], 2)
    assert listed(api, "?service=auth-service") == (["INC-3"], 1)
    assert listed(api, "?service=checkout-api&status=active") == (["INC-1"], 1)
    assert listed(api, "?service=web-frontend") == ([], 0)


def test_list_paginates(live_server: LiveServer, connect: Connect, three: dict[str, str]) -> None:
    api = connect()
    first = ok(api.get(API, params={"limit": 2}))
    assert [i["id"] for i in first["items"]] == ["INC-3", "INC-2"]
    assert (first["total"], first["limit"], first["offset"]) == (3, 2, 0)
    second = ok(api.get(API, params={"limit": 2, "offset": 2}))
    assert [i["id"] for i in second["items"]] == ["INC-1"]
    assert (second["total"], second["offset"]) == (3, 2)
    beyond = ok(api.get(API, params={"limit": 2, "offset": 10}))
    assert (beyond["items"], beyond["total"]) == ([], 3)


# ---------------------------------------------------------------- lifecycle


def test_full_lifecycle_sets_each_milestone_at_the_right_time(
    live_server: LiveServer, connect: Connect
) -> None:
    api = connect()
    clock = live_server.clock
    declared = clock.now()
    ref = declare(api, services=["checkout-api"])["id"]

    clock.advance(timedelta(minutes=4))
    acked = ok(api.post(f"{API}/{ref}/acknowledge", json={}))
    assert acked["status"] == "acknowledged"
    assert at(acked["acknowledged_at"]) == declared + timedelta(minutes=4)
    assert acked["mitigated_at"] is None

    clock.advance(timedelta(minutes=2))
    update = ok(
        api.post(
            f"{API}/{ref}/updates",
            json={"status": "identified", "message": "Bad deploy 4711, rolling back"},
        ),
        201,
    )
    assert update["incident_id"] == ref
    assert (update["status"], update["public"], update["actor"]) == ("identified", False, "admin")
    assert at(update["created_at"]) == declared + timedelta(minutes=6)
    incident = ok(api.get(f"{API}/{ref}"))
    assert incident["status"] == "identified"
    assert incident["mitigated_at"] is None

    clock.advance(timedelta(minutes=8))
    ok(
        api.post(f"{API}/{ref}/updates", json={"status": "monitoring", "message": "Rolled back"}),
        201,
    )
    incident = ok(api.get(f"{API}/{ref}"))
    assert incident["status"] == "monitoring"
    assert at(incident["mitigated_at"]) == declared + timedelta(minutes=14)
    assert at(incident["acknowledged_at"]) == declared + timedelta(minutes=4)

    clock.advance(timedelta(minutes=20))
    resolved = ok(
        api.post(f"{API}/{ref}/resolve", json={"message": "Error rate normal", "public": True})
    )
    assert resolved["status"] == "resolved"
    assert at(resolved["resolved_at"]) == declared + timedelta(minutes=34)
    assert at(resolved["mitigated_at"]) == declared + timedelta(minutes=14)
    assert set(resolved["allowed_transitions"]) == {"closed", "triggered"}
    updates = ok(api.get(f"{API}/{ref}/updates"))["items"]
    assert [(u["status"], u["message"], u["public"]) for u in updates] == [
        ("identified", "Bad deploy 4711, rolling back", False),
        ("monitoring", "Rolled back", False),
        ("resolved", "Error rate normal", True),
    ]

    clock.advance(timedelta(days=1))
    closed = ok(api.post(f"{API}/{ref}/close"))
    assert closed["status"] == "closed"
    assert at(closed["closed_at"]) == declared + timedelta(days=1, minutes=34)
    assert at(closed["resolved_at"]) == declared + timedelta(minutes=34)
    assert closed["allowed_transitions"] == []
    assert at(closed["updated_at"]) == clock.now()

    assert kinds(api, ref) == [
        "declared",
        "acknowledged",
        "status_changed",
        "update_posted",
        "status_changed",
        "update_posted",
        "resolved",
        "update_posted",
        "closed",
    ]


def test_resolving_straight_from_triggered_implies_ack_and_mitigation(
    live_server: LiveServer,
    connect: Connect,
) -> None:
    api = connect()
    ref = declare(api)["id"]
    live_server.clock.advance(timedelta(minutes=3))
    resolved = ok(api.post(f"{API}/{ref}/resolve"))
    expected = live_server.clock.now()
    assert resolved["status"] == "resolved"
    assert at(resolved["acknowledged_at"]) == expected
    assert at(resolved["mitigated_at"]) == expected
    assert at(resolved["resolved_at"]) == expected
    # without a message no status update is posted
    assert ok(api.get(f"{API}/{ref}/updates"))["items"] == []


def test_reopen_goes_back_to_triggered_and_clears_resolution(
    live_server: LiveServer, connect: Connect
) -> None:
    api = connect()
    ref = declare(api)["id"]
    ok(api.post(f"{API}/{ref}/acknowledge"))
    live_server.clock.advance(timedelta(minutes=10))
    ok(api.post(f"{API}/{ref}/resolve", json={"message": "Fixed"}))
    live_server.clock.advance(timedelta(minutes=5))

    reopened = ok(api.post(f"{API}/{ref}/reopen", json={"message": "Errors are back"}))

    assert reopened["status"] == "triggered"
    assert reopened["resolved_at"] is None
    assert reopened["acknowledged_at"] is not None  # the first response still counts
    assert "acknowledged" in reopened["allowed_transitions"]
    assert ok(api.get(API, params={"status": "active"}))["total"] == 1
    reopen_events = events(api, ref, "reopened")
    assert len(reopen_events) == 1
    assert reopen_events[0]["data"] == {"from": "resolved", "to": "triggered"}
    assert at(reopen_events[0]["at"]) == live_server.clock.now()
    last_update = ok(api.get(f"{API}/{ref}/updates"))["items"][-1]
    assert (last_update["status"], last_update["message"]) == ("triggered", "Errors are back")
    # the reopened incident can be worked again
    assert ok(api.post(f"{API}/{ref}/acknowledge"))["status"] == "acknowledged"


def assert_conflict(response: httpx.Response, *allowed: str) -> str:
    assert response.status_code == 409, response.text
    detail: str = response.json()["detail"]
    for name in allowed:
        assert name in detail, f"{name!r} not named in {detail!r}"
    return detail


def test_close_from_triggered_is_refused_naming_the_allowed_statuses(
    live_server: LiveServer,
    connect: Connect,
) -> None:
    api = connect()
    ref = declare(api)["id"]
    before = timeline(api, ref)
    detail = assert_conflict(
        api.post(f"{API}/{ref}/close"),
        "acknowledged",
        "investigating",
        "identified",
        "monitoring",
        "resolved",
    )
    assert "closed" in detail
    assert ok(api.get(f"{API}/{ref}"))["status"] == "triggered"
    assert timeline(api, ref) == before


def test_acknowledge_twice_is_refused(live_server: LiveServer, connect: Connect) -> None:
    api = connect()
    ref = declare(api)["id"]
    live_server.clock.advance(timedelta(minutes=1))
    first = ok(api.post(f"{API}/{ref}/acknowledge"))
    live_server.clock.advance(timedelta(minutes=1))
    detail = assert_conflict(
        api.post(f"{API}/{ref}/acknowledge"), "investigating", "identified", "resolved"
    )
    assert "already acknowledged" in detail
    again = ok(api.get(f"{API}/{ref}"))
    assert again["acknowledged_at"] == first["acknowledged_at"]
    assert kinds(api, ref) == ["declared", "acknowledged"]


def test_reopen_is_only_from_resolved(live_server: LiveServer, connect: Connect) -> None:
    api = connect()
    ref = declare(api)["id"]
    assert_conflict(api.post(f"{API}/{ref}/reopen"), "acknowledged", "resolved")
    ok(api.post(f"{API}/{ref}/acknowledge"))
    assert_conflict(api.post(f"{API}/{ref}/reopen"), "investigating", "resolved")


def test_nothing_moves_a_closed_incident(live_server: LiveServer, connect: Connect) -> None:
    api = connect()
    ref = declare(api)["id"]
    ok(api.post(f"{API}/{ref}/resolve"))
    closed = ok(api.post(f"{API}/{ref}/close", json={"message": "Post-mortem filed"}))
    before = timeline(api, ref)

    for action in ("acknowledge", "resolve", "close", "reopen"):
        response = api.post(f"{API}/{ref}/{action}")
        assert response.status_code == 409, (action, response.text)
        assert "closed" in response.json()["detail"]
    for body in (
        {"status": "investigating", "message": "still looking"},
        {"message": "a note"},
    ):
        assert api.post(f"{API}/{ref}/updates", json=body).status_code == 409
    for change in (
        {"severity": "sev1"},
        {"services": ["checkout-api"]},
        {"roles": {"commander": "alice"}},
    ):
        assert api.patch(f"{API}/{ref}", json=change).status_code == 409

    after = ok(api.get(f"{API}/{ref}"))
    assert (after["status"], after["severity"], after["services"]) == ("closed", "SEV2", [])
    assert after["roles"] == closed["roles"]
    assert "alice" not in after["roles"].get("commander", [])
    assert timeline(api, ref) == before


def test_update_to_an_illegal_status_is_refused_and_posts_nothing(
    live_server: LiveServer,
    connect: Connect,
) -> None:
    api = connect()
    ref = declare(api)["id"]
    response = api.post(f"{API}/{ref}/updates", json={"status": "closed", "message": "done?"})
    assert_conflict(response, "acknowledged", "resolved")
    unknown = api.post(f"{API}/{ref}/updates", json={"status": "fixed", "message": "done"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "status"
    assert "monitoring" in unknown.json()["detail"]
    assert ok(api.get(f"{API}/{ref}/updates"))["items"] == []
    assert ok(api.get(f"{API}/{ref}"))["status"] == "triggered"


def test_update_with_the_current_status_only_posts_the_message(
    live_server: LiveServer, connect: Connect
) -> None:
    api = connect()
    ref = declare(api)["id"]
    ok(api.post(f"{API}/{ref}/acknowledge"))
    update = ok(
        api.post(f"{API}/{ref}/updates", json={"status": "acknowledged", "message": "Looking"}),
        201,
    )
    assert update["status"] == "acknowledged"
    assert kinds(api, ref) == ["declared", "acknowledged", "update_posted"]


# ---------------------------------------------------------------- PATCH


def test_edit_title_and_description(live_server: LiveServer, connect: Connect) -> None:
    api = connect()
    ref = declare(api, "Checkout slow", severity="sev3")["id"]
    assert ok(api.get(f"{API}/{ref}"))["tags"] == []
    live_server.clock.advance(timedelta(minutes=7))

    edited = ok(
        api.patch(
            f"{API}/{ref}",
            json={"title": "Checkout slow: database locks", "description": "Long-running SQL"},
        )
    )

    assert edited["title"] == "Checkout slow: database locks"
    assert edited["description"] == "Long-running SQL"
    assert edited["tags"] == ["database"]  # recomputed from the new text
    assert at(edited["updated_at"]) == live_server.clock.now()
    (event,) = events(api, ref, "edited")
    assert event["data"]["title"] == {
        "from": "Checkout slow",
        "to": "Checkout slow: database locks",
    }
    assert event["actor"] == "admin"
    assert at(event["at"]) == live_server.clock.now()

    # sending the same values again records nothing new
    ok(api.patch(f"{API}/{ref}", json={"title": "Checkout slow: database locks"}))
    assert len(events(api, ref, "edited")) == 1


def test_severity_raised_and_lowered(live_server: LiveServer, connect: Connect) -> None:
    api = connect()
    ref = declare(api, severity="sev3")["id"]

    raised = ok(api.patch(f"{API}/{ref}", json={"severity": "critical"}))
    assert (raised["severity"], raised["severity_rank"]) == ("SEV1", 1)
    lowered = ok(api.patch(f"{API}/{ref}", json={"severity": "p3"}))
    assert (lowered["severity"], lowered["severity_rank"]) == ("SEV4", 4)
    ok(api.patch(f"{API}/{ref}", json={"severity": "SEV4"}))  # unchanged: no event

    changes = [e["data"] for e in events(api, ref, "severity_changed")]
    assert changes == [
        {"from": "SEV3", "to": "SEV1", "direction": "raised"},
        {"from": "SEV1", "to": "SEV4", "direction": "lowered"},
    ]
    assert listed(api, "?severity=low") == ([ref], 1)


def test_services_change_and_unknown_service_is_refused(
    live_server: LiveServer, connect: Connect
) -> None:
    api = connect()
    ref = declare(api, "Login errors", services=["checkout-api"])["id"]

    changed = ok(api.patch(f"{API}/{ref}", json={"services": ["auth-service", "checkout-api"]}))
    assert changed["services"] == ["auth-service", "checkout-api"]
    assert changed["tags"] == ["auth-service", "checkout-api"]
    (event,) = events(api, ref, "services_changed")
    assert event["data"] == {"from": ["checkout-api"], "to": ["auth-service", "checkout-api"]}

    refused = api.patch(f"{API}/{ref}", json={"services": ["auth-service", "billing"]})
    assert refused.status_code == 422
    body = refused.json()
    assert body["errors"][0]["field"] == "services"
    assert "billing" in body["detail"]
    assert "checkout-api" in body["detail"]  # the known services are listed
    assert ok(api.get(f"{API}/{ref}"))["services"] == ["auth-service", "checkout-api"]
    assert listed(api, "?service=auth-service") == ([ref], 1)

    cleared = ok(api.patch(f"{API}/{ref}", json={"services": []}))
    assert (cleared["services"], cleared["tags"]) == ([], [])


def test_assign_and_clear_roles(live_server: LiveServer, connect: Connect) -> None:
    api = connect()
    ref = declare(api)["id"]

    with_commander = ok(api.patch(f"{API}/{ref}", json={"roles": {"commander": "alice"}}))
    assert with_commander["roles"] == {"commander": ["alice"]}
    both = ok(api.patch(f"{API}/{ref}", json={"roles": {"sme": ["bob", "charlie"]}}))
    assert both["roles"] == {"commander": ["alice"], "sme": ["bob", "charlie"]}
    handed_over = ok(api.patch(f"{API}/{ref}", json={"roles": {"commander": "dana"}}))
    assert handed_over["roles"]["commander"] == ["dana"]
    cleared = ok(api.patch(f"{API}/{ref}", json={"roles": {"commander": None, "scribe": None}}))
    assert cleared["roles"] == {"sme": ["bob", "charlie"]}
    assert at(cleared["updated_at"]) == live_server.clock.now()
    assert ok(api.get(f"{API}/{ref}"))["roles"] == {"sme": ["bob", "charlie"]}

    assigned = [picked(e["data"], "role", "people") for e in events(api, ref, "role_assigned")]
    assert assigned == [
        {"role": "commander", "people": ["alice"]},
        {"role": "sme", "people": ["bob", "charlie"]},
        {"role": "commander", "people": ["dana"]},
    ]
    assert events(api, ref, "role_assigned")[2]["data"]["previous"] == ["alice"]
    # clearing an empty role (scribe) is not an event
    assert [picked(e["data"], "role", "previous") for e in events(api, ref, "role_cleared")] == [
        {"role": "commander", "previous": ["dana"]}
    ]


def test_changing_experts_keeps_the_ones_who_stay(
    live_server: LiveServer, connect: Connect
) -> None:
    """Replacing the SME list with one that keeps a person (bob, charlie -> charlie, dana)
    must work: a common hand-over during an incident."""
    api = connect()
    ref = declare(api)["id"]
    ok(api.patch(f"{API}/{ref}", json={"roles": {"sme": ["bob", "charlie"]}}))

    response = api.patch(f"{API}/{ref}", json={"roles": {"sme": ["charlie", "dana"]}})

    assert response.status_code == 200, response.text
    assert response.json()["roles"]["sme"] == ["charlie", "dana"]
    assert ok(api.get(f"{API}/{ref}"))["roles"]["sme"] == ["charlie", "dana"]


@pytest.mark.parametrize(
    ("roles", "field", "named"),
    [
        ({"pilot": "alice"}, "roles.pilot", "commander"),
        ({"commander": "mallory"}, "roles.commander", "mallory"),
        ({"sme": ["bob", "mallory"]}, "roles.sme", "mallory"),
        ({"commander": ["alice", "bob"]}, "roles.commander", "commander"),
    ],
    ids=["unknown-role", "unknown-person", "unknown-sme", "two-commanders"],
)
def test_bad_role_assignment_is_refused_and_changes_nothing(
    live_server: LiveServer, connect: Connect, roles: dict[str, Any], field: str, named: str
) -> None:
    api = connect()
    ref = declare(api)["id"]
    before = ok(api.patch(f"{API}/{ref}", json={"roles": {"scribe": "erin"}}))
    assert before["roles"]["scribe"] == ["erin"]

    response = api.patch(f"{API}/{ref}", json={"title": "Renamed", "roles": roles})

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["errors"][0]["field"] == field
    assert named in body["detail"]
    after = ok(api.get(f"{API}/{ref}"))
    assert (after["title"], after["roles"]) == ("Checkout API 5xx", before["roles"])
    assert "edited" not in kinds(api, ref)


# ---------------------------------------------------------------- timeline and updates


def test_timeline_records_every_action_in_order_with_its_actor(
    live_server: LiveServer, connect: Connect
) -> None:
    alice = connect(live_server.make_token("responder", person="alice"))
    bob = connect(live_server.make_token("responder", person="bob"))
    admin = connect()
    clock = live_server.clock
    t0 = clock.now()

    ref = declare(alice, services=["checkout-api"])["id"]
    clock.advance(timedelta(minutes=1))
    ok(bob.post(f"{API}/{ref}/acknowledge"))
    clock.advance(timedelta(minutes=1))
    ok(alice.patch(f"{API}/{ref}", json={"roles": {"commander": "alice"}}))
    clock.advance(timedelta(minutes=1))
    ok(admin.patch(f"{API}/{ref}", json={"severity": "sev1"}))
    clock.advance(timedelta(minutes=1))
    ok(
        bob.post(f"{API}/{ref}/updates", json={"message": "Customers informed", "public": True}),
        201,
    )
    clock.advance(timedelta(minutes=1))
    ok(alice.post(f"{API}/{ref}/resolve", json={"message": "Rolled back"}))

    items = [e for e in timeline(admin, ref) if e["actor"] != SYSTEM_ACTOR]
    assert [(e["kind"], e["actor"], at(e["at"]) - t0) for e in items] == [
        ("declared", "alice", timedelta(0)),
        ("acknowledged", "bob", timedelta(minutes=1)),
        ("role_assigned", "alice", timedelta(minutes=2)),
        ("severity_changed", "admin", timedelta(minutes=3)),
        ("update_posted", "bob", timedelta(minutes=4)),
        ("resolved", "alice", timedelta(minutes=5)),
        ("update_posted", "alice", timedelta(minutes=5)),
    ]
    assert items[0]["data"]["severity"] == "SEV2"
    assert all(e["summary"] for e in items)
    assert len({e["id"] for e in items}) == len(items)
    incident = ok(admin.get(f"{API}/{ref}"))
    assert incident["created_by"] == "alice"


def test_internal_and_public_updates(live_server: LiveServer, connect: Connect) -> None:
    alice = connect(live_server.make_token("responder", person="alice"))
    ref = declare(alice)["id"]
    ok(alice.post(f"{API}/{ref}/updates", json={"message": "Suspect deploy 4711"}), 201)
    live_server.clock.advance(timedelta(minutes=15))
    public = ok(
        alice.post(
            f"{API}/{ref}/updates",
            json={"message": "We are investigating elevated errors", "public": True},
        ),
        201,
    )
    assert public["public"] is True

    items = ok(alice.get(f"{API}/{ref}/updates"))["items"]
    assert [(u["message"], u["public"], u["actor"], u["status"]) for u in items] == [
        ("Suspect deploy 4711", False, "alice", "triggered"),
        ("We are investigating elevated errors", True, "alice", "triggered"),
    ]
    assert at(items[1]["created_at"]) - at(items[0]["created_at"]) == timedelta(minutes=15)
    posted = events(alice, ref, "update_posted")
    assert [e["data"]["public"] for e in posted] == [False, True]
    assert posted[0]["summary"].startswith("Internal")
    assert posted[1]["summary"].startswith("Public")
