"""What must never leak: a secret planted in every internal field of an incident that
did go public appears in no public response; and user text is always escaped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from tests.support.statuspage import (
    client,
    edit_policy,
    notifications,
    run_worker,
    walk_strings,
)

from tocsin.db import session_scope
from tocsin.incidents import service as incidents
from tocsin.incidents.timeline import record
from tocsin.notify.models import NotificationKind
from tocsin.notify.service import enqueue

if TYPE_CHECKING:
    from tests.conftest import LiveServer

#: Slug-shaped, so that it can also be a person's, a tag's and a service's name.
SECRET = "xq7f3secret9k"
XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
ADMIN = "/api/v1/statuspage"

JSON_PATHS = (
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json",
    "/api/v2/scheduled-maintenances/upcoming.json",
    "/api/v2/scheduled-maintenances/active.json",
)


@pytest.fixture
def anon(live_server: LiveServer) -> Iterator[httpx.Client]:
    with client(live_server.url) as http:
        yield http


def public_paths(anon: httpx.Client) -> list[str]:
    """Every public URL there is: the pages, each incident and maintenance, the feeds."""
    incidents_json = anon.get("/api/v2/incidents.json").json()["incidents"]
    maintenances = anon.get("/api/v2/scheduled-maintenances.json").json()
    paths = ["/status", "/status/history", "/status/feed.atom", *JSON_PATHS]
    paths += [f"/status/incidents/{i['id']}" for i in incidents_json]
    paths += [f"/status/maintenances/{m['id']}" for m in maintenances["scheduled_maintenances"]]
    return paths


def plant_policy(doc: Any) -> None:
    doc["people"].append({"name": SECRET, "full_name": f"Full {SECRET}", "email": "s@example.com"})
    doc["services"].append({"name": f"{SECRET}-svc", "description": f"svc {SECRET}"})
    doc["tagging"].append({"tag": SECRET, "keywords": ["meltdown"]})


def test_no_internal_field_reaches_any_public_response(
    live_server: LiveServer, anon: httpx.Client
) -> None:
    edit_policy(live_server.context, plant_policy)
    token = live_server.make_token("responder", SECRET)  # the actor's name is secret too
    with client(live_server.url, token) as api:
        # a subscriber, so that the public emails are checked as well
        anon.post(
            "/status/subscribe",
            content="email=reader@example.com",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        confirm = notifications(live_server.context)[0]["body"].split("/subscribe/confirm")[1]
        assert anon.get("/status/subscribe/confirm" + confirm.split()[0]).status_code == 200

        # monitoring opens the incident: an alert whose every field carries the secret
        with client(live_server.url, live_server.admin_token) as admin:
            integration = admin.post(
                "/api/v1/integrations",
                json={"name": f"prom-{SECRET}", "service": "checkout-api", "kind": "generic"},
            )
            assert integration.status_code == 201, integration.text
        alert = anon.post(
            f"/api/v1/integrations/{integration.json()['key']}/events",
            json={
                "title": f"Checkout meltdown {SECRET} title",
                "severity": "critical",
                "dedup_key": f"dedup-{SECRET}",
                "labels": {"alertname": f"HighErrorRate-{SECRET}", "pod": SECRET},
                "annotations": {"runbook": f"https://wiki/{SECRET}"},
                "source_url": f"https://prometheus/{SECRET}",
            },
        )
        assert alert.status_code == 202, alert.text
        inc = alert.json()["alerts"][0]["incident"]
        api.patch(
            f"/api/v1/incidents/{inc}",
            json={
                "roles": {"commander": SECRET, "sme": [SECRET, "alice"], "scribe": "bob"},
                "description": f"new description {SECRET}",
                "services": ["checkout-api", f"{SECRET}-svc"],
            },
        ).raise_for_status()
        api.post(
            f"/api/v1/incidents/{inc}/updates",
            json={"message": f"internal update {SECRET}", "status": "investigating"},
        ).raise_for_status()
        api.post(
            f"/api/v1/incidents/{inc}/updates",
            json={"message": "We are working on a fix.", "public": True},
        ).raise_for_status()
        with session_scope(live_server.context.sessions) as session:
            incident = incidents.get(session=session, ref=inc)
            record(
                session=session,
                incident=incident,
                now=live_server.clock.now(),
                actor=SECRET,
                kind="alert_linked",
                summary=f"Alert HighErrorRate {SECRET}",
                data={"labels": {"alertname": f"HighErrorRate{SECRET}", "pod": SECRET}},
            )
            enqueue(
                session=session,
                key=f"leak-test:{SECRET}",
                person=SECRET,
                kind=NotificationKind.page,
                subject=f"page {SECRET}",
                body=f"body {SECRET}",
                reason=f"reason {SECRET}",
                now=live_server.clock.now(),
                incident_id=incident.id,
                data={"labels": {"secret": SECRET}},
            )
        live_server.clock.advance(timedelta(minutes=30))
        api.post(
            f"/api/v1/incidents/{inc}/resolve", json={"message": f"resolved note {SECRET}"}
        ).raise_for_status()
        now = live_server.clock.now()
        api.post(
            f"{ADMIN}/maintenances",
            json={
                "name": "Network work",
                "body": "Brief blips.",
                "components": ["Checkout"],
                "scheduled_for": (now + timedelta(hours=1)).isoformat(),
                "scheduled_until": (now + timedelta(hours=2)).isoformat(),
            },
        ).raise_for_status()
        run_worker(live_server.context)

        # the planting worked: the internal API shows the secret everywhere
        internal = api.get(f"/api/v1/incidents/{inc}").json()
        assert SECRET in internal["title"] and SECRET in internal["description"]
        alerts = api.get(f"/api/v1/incidents/{inc}/alerts").text
        assert alerts.count(SECRET) >= 4
        assert SECRET in internal["tags"] and f"{SECRET}-svc" in internal["services"]
        assert internal["roles"]["commander"] == [SECRET]
        timeline = api.get(f"/api/v1/incidents/{inc}/timeline").text
        assert timeline.count(SECRET) > 5
        # ... and the incident did go public, with its public update
        [public] = api.get(f"{ADMIN}/incidents").json()["items"]
        assert public["incident_id"] == inc and public["draft"] is False
        assert "We are working on a fix." in [u["body"] for u in public["updates"]]

    paths = public_paths(anon)
    assert len(paths) == 3 + len(JSON_PATHS) + 2
    for path in paths:
        response = anon.get(path)
        assert response.status_code == 200, path
        text = response.text
        assert SECRET not in text.lower(), path
        assert "INC-" not in text, path  # nor the internal incident's id
        if path.endswith(".json"):
            for value in walk_strings(response.json()):
                assert SECRET not in value.lower() and inc not in value, path
    page = anon.get(paths[-2]).text  # the incident's page has the public update
    assert "We are working on a fix." in page
    emails = [n for n in notifications(live_server.context) if n["key"].startswith("statuspage:")]
    assert len(emails) >= 3  # investigating, the public update, resolved (+ maintenance)
    for email in emails:
        blob = json.dumps(email)
        assert SECRET not in blob and "INC-" not in blob


def test_user_text_is_escaped_everywhere(live_server: LiveServer, anon: httpx.Client) -> None:
    with client(live_server.url, live_server.make_token("responder", "alice")) as api:
        created = api.post(
            f"{ADMIN}/incidents",
            json={"name": f"Name {XSS}", "components": ["Login"], "body": f"Body {XSS}"},
        ).json()
        inc = api.post(
            "/api/v1/incidents",
            json={"title": XSS, "severity": "sev1", "services": ["checkout-api"]},
        ).json()["id"]
        api.post(
            f"/api/v1/incidents/{inc}/updates", json={"message": f"Mirrored {XSS}", "public": True}
        ).raise_for_status()
        now = live_server.clock.now()
        api.post(
            f"{ADMIN}/maintenances",
            json={
                "name": f"Maintenance {XSS}",
                "body": f"Maintenance body {XSS}",
                "components": ["Website"],
                "scheduled_for": (now - timedelta(minutes=5)).isoformat(),
                "scheduled_until": (now + timedelta(hours=1)).isoformat(),
            },
        ).raise_for_status()

    for path in public_paths(anon):
        response = anon.get(path)
        assert response.status_code == 200, path
        assert "<script" not in response.text.lower(), path
        if path.endswith(".json"):
            strings = list(walk_strings(response.json()))
            if path == "/api/v2/summary.json":
                assert f"Name {XSS}" in strings and f"Mirrored {XSS}" in strings
        elif path.endswith(".atom"):
            root = ET.fromstring(response.content)
            titles = [t.text for t in root.iter("{http://www.w3.org/2005/Atom}title")]
            assert f"Name {XSS}" in titles
        else:
            assert ESCAPED in response.text, path
    front = anon.get("/status").text
    for text in ("Name ", "Body ", "Mirrored ", "Maintenance ", "Maintenance body "):
        assert f"{text}{ESCAPED}" in front, text
    assert f"Body {ESCAPED}" in anon.get(f"/status/incidents/{created['id']}").text

    echoed = anon.post(
        "/status/subscribe",
        content="email=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert echoed.status_code == 422
    assert "<script" not in echoed.text and ESCAPED in echoed.text
