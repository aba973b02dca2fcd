"""The status page's admin API, its Atlassian-shaped JSON and its Atom feed, against a
real server on SQLite and PostgreSQL.

The example policy maps checkout-api -> Checkout (group Payments), auth-service ->
Login (group Accounts) and web-frontend -> Website (no group); payments-db has no
component.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from tests.support.statuspage import (
    COMPONENT,
    INCIDENT,
    MAINTENANCE,
    PAGE,
    SUMMARY,
    check_shape,
    client,
)

if TYPE_CHECKING:
    from tests.conftest import LiveServer

ADMIN = "/api/v1/statuspage"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def anon(live_server: LiveServer) -> Iterator[httpx.Client]:
    with client(live_server.url) as http:
        yield http


def create(api: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"name": "Checkout errors", "components": ["Checkout"], **fields}
    response = api.post(f"{ADMIN}/incidents", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def summary(anon: httpx.Client) -> dict[str, Any]:
    response = anon.get("/api/v2/summary.json")
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def component(data: dict[str, Any], name: str) -> dict[str, Any]:
    found = [c for c in data["components"] if c["name"] == name]
    assert len(found) == 1, data["components"]
    return found[0]


def test_incident_lifecycle_through_the_admin_api(
    live_server: LiveServer, api: httpx.Client, anon: httpx.Client
) -> None:
    created = create(api, impact="major")
    assert created["status"] == "investigating"
    assert created["components"] == {"Checkout": "partial_outage"}
    assert created["draft"] is False and created["created_by"] == "alice"
    assert created["url"] == f"https://status.example.com/incidents/{created['id']}"
    # the first update comes from the policy's "investigating" template
    first = created["updates"][0]
    assert first["body"].startswith("We are currently investigating reports of issues affecting")
    assert "Checkout" in first["body"]
    assert first["affected_components"] == [
        {"name": "Checkout", "old_status": "operational", "new_status": "partial_outage"}
    ]
    assert component(summary(anon), "Checkout")["status"] == "partial_outage"
    assert summary(anon)["status"] == {"indicator": "major", "description": "Partial System Outage"}

    live_server.clock.advance(timedelta(minutes=20))
    code = created["id"]
    response = api.post(
        f"{ADMIN}/incidents/{code}/updates",
        json={"status": "identified", "components": {"Checkout": "major_outage"}},
    )
    assert response.status_code == 201, response.text
    identified = response.json()
    assert identified["status"] == "identified"
    assert identified["updates"][0]["body"].startswith("We have identified the cause")
    assert component(summary(anon), "Checkout")["status"] == "major_outage"
    assert summary(anon)["status"]["indicator"] == "critical"

    live_server.clock.advance(timedelta(minutes=40))
    resolved = api.post(f"{ADMIN}/incidents/{code}/updates", json={"status": "resolved"}).json()
    assert resolved["status"] == "resolved"
    assert resolved["components"] == {"Checkout": "operational"}
    body = resolved["updates"][0]["body"]
    assert "has been resolved" in body and "(1h)" in body  # {duration} from the template
    data = summary(anon)
    assert component(data, "Checkout")["status"] == "operational"
    assert data["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert data["incidents"] == []
    listed = anon.get("/api/v2/incidents.json").json()["incidents"]
    assert [i["id"] for i in listed] == [code]
    assert listed[0]["resolved_at"] is not None
    assert [u["status"] for u in listed[0]["incident_updates"]] == [
        "resolved",
        "identified",
        "investigating",
    ]


def test_drafts_stay_off_the_page_until_published(api: httpx.Client, anon: httpx.Client) -> None:
    draft = create(api, name="Login slow", components={"Login": "degraded_performance"}, draft=True)
    assert draft["draft"] is True and draft["published_at"] is None
    code = draft["id"]
    assert summary(anon)["incidents"] == []
    assert component(summary(anon), "Login")["status"] == "operational"
    assert anon.get(f"/status/incidents/{code}").status_code == 404
    assert code not in anon.get("/status").text
    assert code not in anon.get("/status/feed.atom").text

    drafts = api.get(f"{ADMIN}/incidents", params={"draft": "true"}).json()
    assert [i["id"] for i in drafts["items"]] == [code]
    assert api.get(f"{ADMIN}/incidents", params={"draft": "false"}).json()["items"] == []

    published = api.post(f"{ADMIN}/incidents/{code}/publish")
    assert published.status_code == 200, published.text
    assert published.json()["draft"] is False
    assert [i["id"] for i in summary(anon)["incidents"]] == [code]
    assert component(summary(anon), "Login")["status"] == "degraded_performance"
    assert anon.get(f"/status/incidents/{code}").status_code == 200
    again = api.post(f"{ADMIN}/incidents/{code}/publish")
    assert again.status_code == 409


def test_admin_api_refuses_bad_input_and_unprivileged_callers(
    live_server: LiveServer, api: httpx.Client, anon: httpx.Client
) -> None:
    response = api.post(f"{ADMIN}/incidents", json={"name": "x", "components": ["Database"]})
    assert response.status_code == 422
    assert "unknown component 'Database'" in response.json()["detail"]
    assert "Checkout" in response.json()["detail"]
    response = api.post(f"{ADMIN}/incidents", json={"name": "x", "impact": "apocalyptic"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "impact"
    response = api.post(f"{ADMIN}/incidents", json={"name": "x", "incident_id": "INC-999"})
    assert response.status_code == 422 and "INC-999" in response.json()["detail"]
    code = create(api)["id"]
    response = api.post(f"{ADMIN}/incidents/{code}/updates", json={})
    assert response.status_code == 422
    assert api.post(f"{ADMIN}/incidents/nope/updates", json={"body": "x"}).status_code == 404

    assert anon.post(f"{ADMIN}/incidents", json={"name": "x"}).status_code == 401
    viewer = client(live_server.url, live_server.make_token("viewer"))
    with viewer:
        assert viewer.post(f"{ADMIN}/incidents", json={"name": "x"}).status_code == 403
        assert viewer.get(f"{ADMIN}/incidents").status_code == 200


def test_linking_to_an_internal_incident(live_server: LiveServer, api: httpx.Client) -> None:
    declared = api.post(
        "/api/v1/incidents",
        json={"title": "Batch export slow", "severity": "sev3", "services": ["web-frontend"]},
    ).json()
    linked = create(api, name="Slow exports", components=["Website"], incident_id=declared["id"])
    assert linked["incident_id"] == declared["id"]
    again = api.post(f"{ADMIN}/incidents", json={"name": "Again", "incident_id": declared["id"]})
    assert again.status_code == 409


def test_a_drill_cannot_be_put_on_the_status_page(
    live_server: LiveServer, api: httpx.Client, anon: httpx.Client
) -> None:
    drill = api.post(
        "/api/v1/incidents",
        json={
            "title": "Rehearsal",
            "severity": "sev1",
            "services": ["checkout-api"],
            "drill": True,
        },
    ).json()
    refused = api.post(
        f"{ADMIN}/incidents",
        json={"name": "Checkout errors", "components": ["Checkout"], "incident_id": drill["id"]},
    )
    assert refused.status_code == 422, refused.text
    assert "incident_id" in refused.text and "drill" in refused.text
    public_update = api.post(
        f"/api/v1/incidents/{drill['id']}/updates",
        json={"message": "Rehearsing the failover", "public": True},
    )
    assert public_update.status_code == 201, public_update.text
    assert anon.get("/api/v2/incidents.json").json()["incidents"] == []


def test_maintenance_crud_and_clock_driven_status(
    live_server: LiveServer, api: httpx.Client, anon: httpx.Client
) -> None:
    now = live_server.clock.now()
    body = {
        "name": "Database upgrade",
        "body": "Checkout may be read-only for a few minutes.",
        "components": ["Checkout"],
        "scheduled_for": (now + timedelta(hours=1)).isoformat(),
        "scheduled_until": (now + timedelta(hours=2)).isoformat(),
    }
    response = api.post(f"{ADMIN}/maintenances", json=body)
    assert response.status_code == 201, response.text
    code = response.json()["id"]
    assert response.json()["status"] == "scheduled"
    upcoming = anon.get("/api/v2/scheduled-maintenances/upcoming.json").json()
    assert [m["id"] for m in upcoming["scheduled_maintenances"]] == [code]
    assert component(summary(anon), "Checkout")["status"] == "operational"

    live_server.clock.advance(timedelta(hours=1, minutes=5))
    data = summary(anon)
    assert component(data, "Checkout")["status"] == "under_maintenance"
    assert data["status"] == {"indicator": "none", "description": "Service Under Maintenance"}
    assert data["scheduled_maintenances"][0]["status"] == "in_progress"
    active = anon.get("/api/v2/scheduled-maintenances/active.json").json()
    assert [m["id"] for m in active["scheduled_maintenances"]] == [code]

    edited = api.patch(f"{ADMIN}/maintenances/{code}", json={"body": "Halfway there."})
    assert edited.status_code == 200 and edited.json()["updates"][0]["body"] == "Halfway there."
    bad = api.patch(f"{ADMIN}/maintenances/{code}", json={"scheduled_until": body["scheduled_for"]})
    assert bad.status_code == 422

    live_server.clock.advance(timedelta(hours=1))
    assert component(summary(anon), "Checkout")["status"] == "operational"
    assert summary(anon)["scheduled_maintenances"] == []
    listed = anon.get("/api/v2/scheduled-maintenances.json").json()["scheduled_maintenances"]
    assert listed[0]["status"] == "completed" and listed[0]["resolved_at"] is not None

    assert api.delete(f"{ADMIN}/maintenances/{code}").status_code == 204
    assert api.get(f"{ADMIN}/maintenances/{code}").status_code == 404
    bad_window = {**body, "scheduled_until": body["scheduled_for"]}
    assert api.post(f"{ADMIN}/maintenances", json=bad_window).status_code == 422


def _populate(live_server: LiveServer, api: httpx.Client) -> None:
    """A resolved incident, an open one with several updates, two maintenances."""
    old = create(api, name="Old outage", components={"Website": "major_outage"})
    live_server.clock.advance(timedelta(hours=1))
    api.post(f"{ADMIN}/incidents/{old['id']}/updates", json={"status": "resolved"})
    live_server.clock.advance(timedelta(hours=1))
    open_ = create(api, name="Login errors", components=["Login", "Checkout"], impact="minor")
    api.post(
        f"{ADMIN}/incidents/{open_['id']}/updates",
        json={"status": "monitoring", "body": "A fix is deployed."},
    )
    now = live_server.clock.now()
    for start in (now - timedelta(minutes=30), now + timedelta(days=2)):
        api.post(
            f"{ADMIN}/maintenances",
            json={
                "name": "Network work",
                "body": "Brief blips.",
                "components": ["Website"],
                "scheduled_for": start.isoformat(),
                "scheduled_until": (start + timedelta(hours=2)).isoformat(),
            },
        ).raise_for_status()


def test_json_matches_atlassians_documented_shape(
    live_server: LiveServer, api: httpx.Client, anon: httpx.Client
) -> None:
    empty = summary(anon)
    assert check_shape(empty, SUMMARY) == []
    _populate(live_server, api)
    page_only = {"page": PAGE}
    shapes = {
        "/api/v2/summary.json": SUMMARY,
        "/api/v2/status.json": {**page_only, "status": SUMMARY["status"]},
        "/api/v2/components.json": {**page_only, "components": [COMPONENT]},
        "/api/v2/incidents.json": {**page_only, "incidents": [INCIDENT]},
        "/api/v2/incidents/unresolved.json": {**page_only, "incidents": [INCIDENT]},
        "/api/v2/scheduled-maintenances.json": {
            **page_only,
            "scheduled_maintenances": [MAINTENANCE],
        },
        "/api/v2/scheduled-maintenances/upcoming.json": {
            **page_only,
            "scheduled_maintenances": [MAINTENANCE],
        },
        "/api/v2/scheduled-maintenances/active.json": {
            **page_only,
            "scheduled_maintenances": [MAINTENANCE],
        },
    }
    for path, shape in shapes.items():
        response = anon.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["access-control-allow-origin"] == "*"
        assert check_shape(response.json(), shape) == [], path

    data = summary(anon)
    assert len(data["incidents"]) == 1 and len(data["scheduled_maintenances"]) == 2
    assert data["incidents"][0]["impact"] == "minor"
    assert data["incidents"][0]["monitoring_at"] is not None
    assert data["page"]["name"] == "Example Inc. Status"
    assert data["page"]["url"] == "https://status.example.com"
    # groups are components with group: true and the ids of their members
    groups = {c["name"]: c for c in data["components"] if c["group"]}
    assert set(groups) == {"Payments", "Accounts"}
    checkout = component(data, "Checkout")
    assert checkout["group_id"] == groups["Payments"]["id"]
    assert groups["Payments"]["components"] == [checkout["id"]]
    assert component(data, "Website")["group_id"] is None
    assert component(data, "Website")["status"] == "under_maintenance"
    # the same component has the same id everywhere
    incident_components = {c["name"]: c["id"] for c in data["incidents"][0]["components"]}
    assert incident_components["Checkout"] == checkout["id"]
    # the shape checker itself catches drift
    broken = {**data, "page": {**data["page"], "extra": 1}}
    assert check_shape(broken, SUMMARY) == ["$.page: unexpected extra"]


def test_atom_feed_is_valid_and_complete(
    live_server: LiveServer, api: httpx.Client, anon: httpx.Client
) -> None:
    _populate(live_server, api)
    response = anon.get("/status/feed.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)  # well-formed XML or this raises
    assert root.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{required}") is not None, required
    assert root.find(f"{ATOM}author/{ATOM}name") is not None
    rels = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert rels["self"] == "https://status.example.com/feed.atom"
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 4  # two incidents and two maintenances
    ids = set()
    for entry in entries:
        for required in ("id", "title", "updated", "content"):
            element = entry.find(f"{ATOM}{required}")
            assert element is not None and (element.text or "").strip(), required
        entry_id = entry.findtext(f"{ATOM}id")
        assert entry_id is not None and entry_id.startswith("urn:uuid:")
        ids.add(entry_id)
        assert entry.find(f"{ATOM}link").get("href", "").startswith("https://status.example.com/")
    assert len(ids) == 4
    titles = [e.findtext(f"{ATOM}title") for e in entries]
    assert "Login errors" in titles and "Old outage" in titles
    login = next(e for e in entries if e.findtext(f"{ATOM}title") == "Login errors")
    assert "A fix is deployed." in (login.findtext(f"{ATOM}content") or "")
