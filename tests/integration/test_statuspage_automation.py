"""Status page automation, driven through the incident API of a real server.

The example policy automates SEV1/SEV2 on customer-facing services: checkout-api
(component Checkout), auth-service (Login) and web-frontend (Website); payments-db has
no component.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from tests.support.statuspage import client, edit_policy

if TYPE_CHECKING:
    from tests.conftest import LiveServer

ADMIN = "/api/v1/statuspage"


@pytest.fixture
def anon(live_server: LiveServer) -> Iterator[httpx.Client]:
    with client(live_server.url) as http:
        yield http


def declare(api: httpx.Client, severity: str, *services: str, title: str = "x") -> str:
    response = api.post(
        "/api/v1/incidents",
        json={"title": title, "severity": severity, "services": list(services)},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def post(api: httpx.Client, incident: str, message: str, **fields: Any) -> None:
    response = api.post(
        f"/api/v1/incidents/{incident}/updates", json={"message": message, **fields}
    )
    assert response.status_code == 201, response.text


def status_incidents(api: httpx.Client, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"{ADMIN}/incidents", params=params).json()["items"]
    return items


def public(anon: httpx.Client) -> dict[str, Any]:
    data: dict[str, Any] = anon.get("/api/v2/summary.json").json()
    return data


def states(data: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in data["components"] if not c["group"]}


def test_a_sev1_opens_mirrors_public_updates_and_resolves(
    live_server: LiveServer, api: httpx.Client, anon: httpx.Client
) -> None:
    inc = declare(api, "sev1", "checkout-api", "payments-db", title="Primary DB failover loop")
    [opened] = status_incidents(api)
    assert opened["incident_id"] == inc and opened["draft"] is False
    assert opened["name"] == "Checkout - service disruption"  # the template, not the title
    assert opened["impact"] == "critical"
    assert opened["components"] == {"Checkout": "major_outage"}  # payments-db has none
    assert opened["updates"][0]["body"].startswith("We are currently investigating")
    data = public(anon)
    assert states(data)["Checkout"] == "major_outage"
    assert data["status"]["indicator"] == "critical"
    assert [i["name"] for i in data["incidents"]] == ["Checkout - service disruption"]
    timeline = api.get(f"/api/v1/incidents/{inc}/timeline").json()["items"]
    notes = [e for e in timeline if e["kind"] == "status_page"]
    assert notes and notes[0]["summary"].startswith("Status page incident published")

    live_server.clock.advance(timedelta(minutes=10))
    post(api, inc, "Replica 3 is flapping; failing over by hand", public=False)
    post(api, inc, "We found the cause and are fixing it.", public=True, status="identified")
    [current] = status_incidents(api)
    bodies = [u["body"] for u in current["updates"]]
    assert bodies[0] == "We found the cause and are fixing it."
    assert not any("Replica 3" in b for b in bodies)  # internal updates stay internal
    assert current["status"] == "identified" and current["updates"][0]["mirrored"] is True

    live_server.clock.advance(timedelta(minutes=50))
    response = api.post(f"/api/v1/incidents/{inc}/resolve", json={})
    assert response.status_code == 200, response.text
    [resolved] = status_incidents(api)
    assert resolved["status"] == "resolved"
    assert resolved["components"] == {"Checkout": "operational"}
    body = resolved["updates"][0]["body"]
    assert body.startswith("The issue affecting Checkout has been resolved as of")
    assert "(1h)" in body
    data = public(anon)
    assert states(data)["Checkout"] == "operational" and data["incidents"] == []
    assert data["status"]["indicator"] == "none"


def test_lower_severities_and_services_without_a_component_stay_off_the_page(
    api: httpx.Client, anon: httpx.Client
) -> None:
    declare(api, "sev3", "checkout-api")
    declare(api, "sev4", "auth-service")
    declare(api, "sev1", "payments-db")
    declare(api, "sev1")
    assert status_incidents(api) == []
    assert public(anon)["status"]["indicator"] == "none"


def test_a_public_update_opens_one_for_any_severity(api: httpx.Client, anon: httpx.Client) -> None:
    inc = declare(api, "sev3", "auth-service", "payments-db")
    post(api, inc, "Internal: token cache at 95 %", public=False)
    assert status_incidents(api) == []
    post(api, inc, "Some logins are slow.", public=True)
    [opened] = status_incidents(api)
    assert opened["impact"] == "minor" and opened["components"] == {"Login": "degraded_performance"}
    assert [u["body"] for u in opened["updates"]] == ["Some logins are slow."]
    assert states(public(anon))["Login"] == "degraded_performance"


def test_severity_changes_open_one_or_change_its_impact(
    api: httpx.Client, anon: httpx.Client
) -> None:
    inc = declare(api, "sev3", "web-frontend")
    assert status_incidents(api) == []
    assert api.patch(f"/api/v1/incidents/{inc}", json={"severity": "sev2"}).status_code == 200
    [opened] = status_incidents(api)
    assert opened["impact"] == "major" and opened["components"] == {"Website": "partial_outage"}
    assert api.patch(f"/api/v1/incidents/{inc}", json={"severity": "sev1"}).status_code == 200
    [raised] = status_incidents(api)
    assert raised["impact"] == "critical" and raised["components"] == {"Website": "major_outage"}
    assert len(raised["updates"]) == 1  # an impact change posts no public text
    assert states(public(anon))["Website"] == "major_outage"
    timeline = api.get(f"/api/v1/incidents/{inc}/timeline").json()["items"]
    assert any(e["summary"] == "Status page impact is now critical" for e in timeline)


def test_draft_mode_waits_for_the_communications_lead(
    live_server: LiveServer, api: httpx.Client, anon: httpx.Client
) -> None:
    edit_policy(
        live_server.context,
        lambda doc: doc["status_page"]["automation"].__setitem__("draft", True),
    )
    inc = declare(api, "sev2", "checkout-api")
    [draft] = status_incidents(api, draft="true")
    assert draft["draft"] is True and draft["incident_id"] == inc
    assert public(anon)["incidents"] == [] and states(public(anon))["Checkout"] == "operational"
    timeline = api.get(f"/api/v1/incidents/{inc}/timeline").json()["items"]
    assert any("drafted for the communications lead" in e["summary"] for e in timeline)
    post(api, inc, "Payments are failing for some cards.", public=True)
    assert public(anon)["incidents"] == []  # mirrored into the draft, still not public

    published = api.post(f"{ADMIN}/incidents/{draft['id']}/publish").json()
    assert published["draft"] is False
    data = public(anon)
    latest = data["incidents"][0]["incident_updates"][0]
    assert latest["body"] == "Payments are failing for some cards."
    assert states(data)["Checkout"] == "partial_outage"


def test_policy_switches(live_server: LiveServer, api: httpx.Client) -> None:
    def internal_only(doc: Any) -> None:
        for service in doc["services"]:
            if service["name"] == "web-frontend":
                service["customer_facing"] = False

    edit_policy(live_server.context, internal_only)
    declare(api, "sev1", "web-frontend")
    assert status_incidents(api) == []  # customer_facing_only

    def reuse_title(doc: Any) -> None:
        doc["status_page"]["automation"]["reuse_title"] = True
        doc["status_page"]["automation"]["customer_facing_only"] = False

    edit_policy(live_server.context, reuse_title)
    declare(api, "sev1", "web-frontend", title="Website down for everyone")
    [opened] = status_incidents(api)
    assert opened["name"] == "Website down for everyone"

    edit_policy(
        live_server.context,
        lambda doc: doc["status_page"]["automation"].__setitem__("enabled", False),
    )
    inc = declare(api, "sev1", "checkout-api")
    post(api, inc, "Visible?", public=True)
    assert len(status_incidents(api)) == 1


def test_incidents_on_covered_components_share_one_public_incident(
    live_server: LiveServer, api: httpx.Client, anon: httpx.Client
) -> None:
    first = declare(api, "sev2", "checkout-api", title="Checkout errors")
    second = declare(api, "sev1", "checkout-api", title="Checkout down in eu-west")
    third = declare(api, "sev2", "checkout-api", "auth-service", title="Checkout and login")
    # the third needs Login too, which the first does not cover: a public incident of its own
    by_incident = {i["incident_id"]: i for i in status_incidents(api)}
    assert sorted(by_incident) == sorted([first, third])
    checkout, both = by_incident[first], by_incident[third]
    assert checkout["incident_id"] == first and checkout["also_about"] == [second]
    assert both["incident_id"] == third and both["also_about"] == []
    assert checkout["impact"] == "critical"  # raised to the worse incident's impact
    assert [i["name"] for i in public(anon)["incidents"]].count(checkout["name"]) == 1
    timeline = api.get(f"/api/v1/incidents/{second}/timeline").json()["items"]
    [note] = [e["summary"] for e in timeline if e["kind"] == "status_page"]
    assert note.startswith("Status page incident already open for Checkout: linked to it")

    # the public incident stays open while any incident it is about is open, at the
    # impact of the worst of those
    assert api.post(f"/api/v1/incidents/{second}/resolve").status_code == 200
    [still] = [i for i in status_incidents(api) if i["id"] == checkout["id"]]
    assert still["resolved_at"] is None and still["impact"] == "major"
    timeline = api.get(f"/api/v1/incidents/{second}/timeline").json()["items"]
    assert any(
        e["summary"] == f"Status page incident stays open: {first} still affects it"
        for e in timeline
    )
    assert api.post(f"/api/v1/incidents/{first}/resolve").status_code == 200
    [done] = [i for i in status_incidents(api) if i["id"] == checkout["id"]]
    assert done["resolved_at"] is not None and done["status"] == "resolved"
    # a resolved one covers nothing: the next Checkout incident joins the one still open
    fourth = declare(api, "sev1", "checkout-api")
    [covering] = status_incidents(api, unresolved="true")
    assert covering["id"] == both["id"] and covering["also_about"] == [fourth]
