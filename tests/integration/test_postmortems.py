"""Post-mortems, action items and lessons learned through the REST API, on SQLite and
PostgreSQL, with the fake clock spacing the events and the engine's worker firing the
due dates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import select

from tocsin.db import session_scope
from tocsin.engine.worker import Worker
from tocsin.incidents import service as incidents
from tocsin.metrics.service import postmortem_inputs
from tocsin.notify.models import Notification
from tocsin.postmortems.rules import KEY_EVENT_KINDS

if TYPE_CHECKING:
    from tests.conftest import LiveServer

API = "/api/v1"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the fake clock's start

Connect = Callable[..., httpx.Client]


@pytest.fixture
def connect(live_server: LiveServer) -> Iterator[Connect]:
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


@pytest.fixture
def alice(live_server: LiveServer, connect: Connect) -> httpx.Client:
    return connect(live_server.make_token("responder", "alice"))


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def declare(api: httpx.Client, title: str, severity: str = "sev2", **fields: Any) -> str:
    body = {"title": title, "severity": severity, **fields}
    return str(ok(api.post(f"{API}/incidents", json=body), 201)["id"])


def resolve(api: httpx.Client, ref: str, message: str | None = None) -> None:
    ok(api.post(f"{API}/incidents/{ref}/resolve", json={"message": message} if message else {}))


def later(live_server: LiveServer, minutes: float) -> None:
    """Set the clock to T0 + minutes."""
    live_server.clock.set(T0 + timedelta(minutes=minutes))


def postmortem_notifications(live_server: LiveServer) -> list[Notification]:
    with session_scope(live_server.context.sessions, write=False) as session:
        rows = session.scalars(
            select(Notification).where(Notification.kind == "postmortem").order_by(Notification.id)
        ).all()
        session.expunge_all()
        return list(rows)


def run_worker(live_server: LiveServer) -> int:
    context = live_server.context
    return Worker(
        sessions=context.sessions, policy=context.policy, clock=live_server.clock
    ).run_due()


# ---------------------------------------------------------------- declare to close


def test_a_real_incident_from_declare_to_close(
    live_server: LiveServer, alice: httpx.Client, connect: Connect
) -> None:
    bob = connect(live_server.make_token("responder", "bob"))
    inc = declare(
        alice,
        "Checkout API 5xx",
        services=["checkout-api"],
        description="Error rate above 5% since the 04:00 deploy",
    )
    later(live_server, 4)
    ok(alice.post(f"{API}/incidents/{inc}/acknowledge"))
    later(live_server, 10)
    ok(
        alice.post(
            f"{API}/incidents/{inc}/updates",
            json={"status": "identified", "message": "Rolling back the 04:00 deploy"},
        ),
        201,
    )
    later(live_server, 15)
    ok(bob.post(f"{API}/incidents/{inc}/escalate", json={"reason": "need payments"}))
    later(live_server, 30)
    ok(
        alice.post(
            f"{API}/incidents/{inc}/updates",
            json={"status": "monitoring", "message": "Error rate back to normal", "public": True},
        ),
        201,
    )
    later(live_server, 47)
    resolve(alice, inc, "Rollback complete")

    # SEV2: the policy requires a post-mortem, so resolving drafted one
    pm = ok(alice.get(f"{API}/incidents/{inc}/postmortem"))
    incident = ok(alice.get(f"{API}/incidents/{inc}"))
    commander = (incident["roles"].get("commander") or ["alice"])[0]
    assert pm["status"] == "draft" and pm["required"] is True
    assert pm["owner"] == commander
    assert pm["customer_impact"] is True  # a public status update went out
    assert [pm["due"][stage][:19] for stage in ("draft", "review", "publish")] == [
        "2026-03-03T09:47:00",  # 24 h, 48 h and 72 h after the resolution at 09:47
        "2026-03-04T09:47:00",
        "2026-03-05T09:47:00",
    ]
    assert pm["overdue"] is False

    metrics = pm["metrics"]
    assert metrics["time_to_detect"] == 0
    assert metrics["time_to_acknowledge"] == 4 * 60
    assert metrics["time_to_mitigate"] == 30 * 60
    assert metrics["time_to_resolve"] == 47 * 60
    assert metrics["impact_duration"] == 47 * 60
    assert metrics["escalations"] == 1
    assert (metrics["status_updates"], metrics["public_updates"]) == (3, 1)

    sections = pm["sections"]
    assert "- **Time to acknowledge**: 4m (target 15m: met)" in sections["response"]
    assert "- **Time to mitigate**: 30m" in sections["response"]
    assert "- **Time to resolve**: 47m (target 2h: met)" in sections["response"]
    assert "- **Escalations**: 1" in sections["response"]
    assert "- **Duration**: 47m (2026-03-02 09:00 UTC → 2026-03-02 09:47 UTC)" in sections["impact"]
    assert "declared by alice" in sections["detection"]
    # checkout-api's SLO: 99.9 % over 30 days = 43.2 min; a SEV2 weighs 0.5 there, so
    # 47 min of impact spend 23.5 min, 54.4 % of the budget
    assert (
        "- **Error budget consumed**: checkout-api: 54.4% of its 99.9% / 30d budget (23m 30s)"
        in sections["impact"]
    )
    assert "| 2026-03-02 09:04:00 | +4m | Acknowledged by alice | alice |" in sections["timeline"]

    # close it: the draft's generated timeline follows the incident until people edit it
    later(live_server, 60)
    ok(alice.post(f"{API}/incidents/{inc}/close"))
    pm = ok(alice.get(f"{API}/incidents/{inc}/postmortem"))
    timeline = ok(alice.get(f"{API}/incidents/{inc}/timeline"))["items"]
    table = pm["sections"]["timeline"]
    key = [e for e in timeline if e["kind"] in KEY_EVENT_KINDS]
    kinds = {e["kind"] for e in key}
    assert {"declared", "acknowledged", "update_posted", "escalated", "resolved", "closed"} <= kinds
    for event in key:
        stamp = datetime.fromisoformat(event["at"]).strftime("%Y-%m-%d %H:%M:%S")
        summary = " ".join(event["summary"].split()).replace("|", "\\|")
        assert f"| {stamp} | " in table and summary in table, event
    assert "Post-mortem" not in table  # its own events stay out of the table
    assert "Rollback complete" in table and "Rolling back the 04:00 deploy" in table

    # the rules' suggestion: the description mentions a deploy
    suggested = [i for i in pm["action_items"] if i["status"] == "suggested"]
    assert [i["title"] for i in suggested] == ["Improve deployment testing"]

    # people write the analysis; the blameless check flags, never blocks
    pm = ok(
        alice.patch(
            f"{API}/postmortems/{pm['id']}",
            json={
                "sections": {
                    "root_cause": "A bad deploy of the checkout config. Engineer X didn't test it.",
                    "lessons_learned": "- Canary every config change.",
                },
                "root_cause_category": "technical/deployment",
                "tags": ["Config", "deploy", "config"],
            },
        )
    )
    assert pm["edited_sections"] == ["root_cause", "lessons_learned"]
    assert pm["root_cause_category"] == "technical"
    assert pm["root_cause_subcategory"] == "deployment"
    assert pm["tags"] == ["config", "deploy"]
    assert pm["blameless_findings"] == [
        {
            "section": "root_cause",
            "sentence": "Engineer X didn't test it.",
            "reason": "names a person as the culprit",
            "suggestion": pm["blameless_findings"][0]["suggestion"],
        }
    ]
    assert "## Root cause\n\nA bad deploy of the checkout config." in pm["markdown"]

    # draft -> in_review -> published; anything else is refused, naming what is allowed
    refused = alice.post(f"{API}/postmortems/{pm['id']}/publish")
    assert refused.status_code == 409
    assert "allowed from draft: in_review" in refused.json()["detail"]
    pm = ok(alice.post(f"{API}/postmortems/{pm['id']}/submit"))
    assert pm["status"] == "in_review" and pm["allowed_transitions"] == ["published"]
    again = alice.post(f"{API}/postmortems/{pm['id']}/submit")
    assert again.status_code == 409
    assert "allowed from in_review: published" in again.json()["detail"]
    pm = ok(alice.post(f"{API}/postmortems/{pm['id']}/publish"))
    assert pm["status"] == "published" and pm["allowed_transitions"] == []
    final = alice.patch(f"{API}/postmortems/{pm['id']}", json={"sections": {"summary": "x"}})
    assert final.status_code == 409
    assert alice.post(f"{API}/postmortems/{pm['id']}/submit").status_code == 409

    markdown = alice.get(f"{API}/postmortems/{pm['id']}.md")
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith(f"# Post-mortem {pm['id']}: Checkout API 5xx\n")
    assert markdown.text == pm["markdown"]
    listed = ok(alice.get(f"{API}/postmortems", params={"status": "published"}))
    assert [p["id"] for p in listed["items"]] == [pm["id"]]


def test_drafted_automatically_for_sev1_and_sev2_not_sev3(
    live_server: LiveServer, alice: httpx.Client
) -> None:
    refs = {sev: declare(alice, f"{sev} incident", sev) for sev in ("sev1", "sev2", "sev3")}
    later(live_server, 20)
    for ref in refs.values():
        resolve(alice, ref)
    for sev in ("sev1", "sev2"):
        pm = ok(alice.get(f"{API}/incidents/{refs[sev]}/postmortem"))
        assert pm["required"] is True and pm["status"] == "draft"
    missing = alice.get(f"{API}/incidents/{refs['sev3']}/postmortem")
    assert missing.status_code == 404
    assert "has no post-mortem yet" in missing.json()["detail"]

    # a reopened and resolved-again incident keeps its one post-mortem
    ok(alice.post(f"{API}/incidents/{refs['sev1']}/reopen"))
    resolve(alice, refs["sev1"])
    assert ok(alice.get(f"{API}/postmortems"))["total"] == 2

    # by hand, a SEV3 gets one too: not required, due from its creation
    pm = ok(alice.post(f"{API}/incidents/{refs['sev3']}/postmortem"), 201)
    incident = ok(alice.get(f"{API}/incidents/{refs['sev3']}"))
    assert pm["required"] is False
    assert pm["owner"] == (incident["roles"].get("commander") or ["alice"])[0]
    assert pm["due"]["draft"].startswith("2026-03-03T09:20:00")
    duplicate = alice.post(f"{API}/incidents/{refs['sev3']}/postmortem")
    assert duplicate.status_code == 409
    assert f"already has post-mortem {pm['id']}" in duplicate.json()["detail"]


def test_customer_impact_makes_a_sev3_require_one(
    live_server: LiveServer, alice: httpx.Client
) -> None:
    inc = declare(alice, "Slow search", "sev3")
    body = {"message": "Search is slow for some customers", "public": True}
    ok(alice.post(f"{API}/incidents/{inc}/updates", json=body), 201)
    resolve(alice, inc)
    pm = ok(alice.get(f"{API}/incidents/{inc}/postmortem"))
    assert pm["required"] is True and pm["customer_impact"] is True


def test_refusals(live_server: LiveServer, alice: httpx.Client, connect: Connect) -> None:
    inc = declare(alice, "Still burning", "sev3")
    early = alice.post(f"{API}/incidents/{inc}/postmortem")
    assert early.status_code == 409
    assert "drafted once the incident is resolved" in early.json()["detail"]
    assert alice.post(f"{API}/incidents/INC-999/postmortem").status_code == 404
    assert alice.get(f"{API}/postmortems/PM-999").status_code == 404
    assert alice.get(f"{API}/postmortems/nonsense").status_code == 404
    resolve(alice, inc)
    viewer = connect(live_server.make_token("viewer"))
    assert viewer.post(f"{API}/incidents/{inc}/postmortem").status_code == 403
    pm = ok(alice.post(f"{API}/incidents/{inc}/postmortem"), 201)
    path = f"{API}/postmortems/{pm['id']}"
    for body, field in [
        ({"sections": {"rootcause": "x"}}, "sections.rootcause"),
        ({"sections": {"action_items": "x"}}, "sections.action_items"),
        ({"root_cause_category": "bad luck"}, "root_cause_category"),
        ({"owner": "nobody"}, "owner"),
        ({"colour": "red"}, "colour"),
    ]:
        response = alice.patch(path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field
    assert alice.get(f"{API}/postmortems", params={"status": "nope"}).status_code == 422
    # a section set to null (or blank) goes back to the generated text
    edited = ok(alice.patch(path, json={"sections": {"summary": "Mine."}}))
    assert edited["sections"]["summary"] == "Mine."
    reset = ok(alice.patch(path, json={"sections": {"summary": None}}))
    assert reset["sections"]["summary"].startswith("SEV3 incident")
    assert reset["edited_sections"] == []


# ---------------------------------------------------------------- due dates


def test_due_dates_remind_the_owner_and_mark_overdue(
    live_server: LiveServer, alice: httpx.Client
) -> None:
    inc = declare(alice, "Payments down", "sev1", services=["checkout-api"])
    later(live_server, 30)
    resolve(alice, inc)
    pm = ok(alice.get(f"{API}/incidents/{inc}/postmortem"))
    owner = pm["owner"]
    assert owner
    path = f"{API}/postmortems/{pm['id']}"
    run_worker(live_server)
    assert [
        n.subject for n in postmortem_notifications(live_server) if "overdue" in n.subject
    ] == []

    # 24 h after resolution: the draft (a written root cause) is overdue
    later(live_server, 30 + 24 * 60 + 1)
    pm = ok(alice.get(path))
    assert pm["overdue"] is True and pm["overdue_stages"] == ["draft"]
    assert pm["overdue_since"] is None  # the worker has not fired the job yet
    assert [
        p["id"] for p in ok(alice.get(f"{API}/postmortems", params={"overdue": "true"}))["items"]
    ] == [pm["id"]]
    assert ok(alice.get(f"{API}/postmortems", params={"overdue": "false"}))["total"] == 0
    run_worker(live_server)
    overdue = [n for n in postmortem_notifications(live_server) if "overdue" in n.subject]
    assert [(n.person, n.subject) for n in overdue] == [
        (owner, f"Post-mortem {pm['id']} for {inc} is overdue: draft")
    ]
    assert overdue[0].state == "pending" and "root cause written" in overdue[0].reason
    pm = ok(alice.get(path))
    assert pm["overdue_since"].startswith("2026-03-03T09:31:00")
    timeline = ok(alice.get(f"{API}/incidents/{inc}/timeline"))["items"]
    assert [e["summary"] for e in timeline if e["kind"] == "postmortem_overdue"] == [
        f"Post-mortem {pm['id']}: the draft (root cause written) of post-mortem {pm['id']} is "
        f"overdue (due 2026-03-03 09:30 UTC, 1m ago); reminded {owner}"
    ]
    run_worker(live_server)  # nothing more: one reminder per stage
    assert len([n for n in postmortem_notifications(live_server) if "overdue" in n.subject]) == 1

    # writing the root cause meets the draft stage; the review is still to come
    ok(alice.patch(path, json={"sections": {"root_cause": "Disk filled by logs."}}))
    assert ok(alice.get(path))["overdue"] is False
    later(live_server, 30 + 48 * 60)
    run_worker(live_server)
    stages = [
        n.subject.rsplit(": ", 1)[1]
        for n in postmortem_notifications(live_server)
        if "overdue" in n.subject
    ]
    assert stages == ["draft", "review"]
    assert ok(alice.get(path))["overdue_stages"] == ["review"]

    # submitted and published: nothing is overdue, the publish reminder never goes out
    ok(alice.post(f"{path}/submit"))
    ok(alice.post(f"{path}/publish"))
    later(live_server, 30 + 80 * 60)
    run_worker(live_server)
    stages = [
        n.subject.rsplit(": ", 1)[1]
        for n in postmortem_notifications(live_server)
        if "overdue" in n.subject
    ]
    assert stages == ["draft", "review"]
    pm = ok(alice.get(path))
    assert pm["overdue"] is False and pm["overdue_stages"] == []


# ---------------------------------------------------------------- action items


def test_action_items(live_server: LiveServer, alice: httpx.Client) -> None:
    inc = declare(alice, "Login errors after the 04:00 deploy", "sev2")
    later(live_server, 12)  # detection is immediate, but the response is slow
    resolve(alice, inc)
    pm = ok(alice.get(f"{API}/incidents/{inc}/postmortem"))
    items_path = f"{API}/postmortems/{pm['id']}/action-items"
    suggested = {i["suggested_by"]: i for i in ok(alice.get(items_path))["items"]}
    assert set(suggested) == {"deployment", "communication"}
    assert all(i["status"] == "suggested" for i in suggested.values())
    assert suggested["deployment"]["due_date"] == "2026-03-16"  # two weeks after drafting

    # suggestions stay out of everyone's list until accepted
    assert ok(alice.get(f"{API}/action-items"))["total"] == 0
    accepted = ok(
        alice.patch(f"{API}/action-items/{suggested['deployment']['id']}", json={"status": "open"})
    )
    assert accepted["status"] == "open" and accepted["allowed_statuses"] == [
        "in_progress",
        "done",
        "dropped",
    ]
    dropped = ok(
        alice.patch(
            f"{API}/action-items/{suggested['communication']['id']}", json={"status": "dropped"}
        )
    )
    assert dropped["status"] == "dropped"

    mine = ok(
        alice.post(
            items_path,
            json={
                "title": "Add a canary stage",
                "owner": "bob",
                "due_date": "2026-03-05",
                "priority": "P1",
                "link": "https://tracker.example/OPS-1",
            },
        ),
        201,
    )
    assert (mine["status"], mine["priority"], mine["postmortem"], mine["incident"]) == (
        "open",
        "p1",
        pm["id"],
        inc,
    )
    for body, field in [
        ({"title": "x", "owner": "nobody"}, "owner"),
        ({"title": "x", "priority": "p5"}, "priority"),
        ({"title": "x", "link": "javascript:alert(1)"}, "link"),
        ({"title": ""}, "title"),
    ]:
        response = alice.post(items_path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field

    # overdue once the due date has passed (by UTC calendar day) while still open
    assert ok(alice.get(f"{API}/action-items", params={"overdue": "true"}))["total"] == 0
    live_server.clock.set(datetime(2026, 3, 6, 0, 1, tzinfo=UTC))
    late = ok(alice.get(f"{API}/action-items", params={"overdue": "true"}))
    assert [(i["id"], i["overdue"]) for i in late["items"]] == [(mine["id"], True)]
    assert ok(alice.get(f"{API}/action-items", params={"owner": "bob"}))["total"] == 1
    assert ok(alice.get(f"{API}/action-items", params={"owner": "erin"}))["total"] == 0
    assert ok(alice.get(f"{API}/action-items", params={"status": "suggested"}))["total"] == 0
    assert ok(alice.get(f"{API}/action-items", params={"status": "dropped"}))["total"] == 1

    done = ok(alice.patch(f"{API}/action-items/{mine['id']}", json={"status": "done"}))
    assert done["completed_at"] is not None and done["overdue"] is False
    assert ok(alice.get(f"{API}/action-items", params={"overdue": "true"}))["total"] == 0
    illegal = alice.patch(f"{API}/action-items/{mine['id']}", json={"status": "in_progress"})
    assert illegal.status_code == 409
    assert "allowed from done: open" in illegal.json()["detail"]
    assert alice.patch(f"{API}/action-items/999", json={"status": "done"}).status_code == 404

    # the document lists them (dropped ones left out)
    markdown = ok(alice.get(f"{API}/postmortems/{pm['id']}"))["markdown"]
    assert (
        "| [Add a canary stage](<https://tracker.example/OPS-1>) | bob | 2026-03-05 | P1 | done |"
        in markdown
    )
    assert "Improve deployment testing" in markdown
    assert "Assign a communications lead" not in markdown


# ---------------------------------------------------------------- lessons learned


def test_recurring_patterns(live_server: LiveServer, alice: httpx.Client) -> None:
    def finished(title: str, category: str, services: list[str], day: int) -> str:
        live_server.clock.set(T0 + timedelta(days=day))
        inc = declare(alice, title, "sev3", services=services)
        live_server.clock.set(T0 + timedelta(days=day, minutes=30))
        resolve(alice, inc)
        pm = ok(alice.post(f"{API}/incidents/{inc}/postmortem"), 201)
        ok(alice.patch(f"{API}/postmortems/{pm['id']}", json={"root_cause_category": category}))
        return inc

    a = finished("Bad config push", "technical/deployment", ["checkout-api"], 0)
    b = finished("Broken migration", "technical/deployment", ["payments-db"], 10)
    finished("Runbook out of date", "process", ["auth-service"], 20)
    finished("Runbook missing", "process", ["auth-service"], 30)
    c = finished("Bad feature flag", "technical/deployment", ["checkout-api", "web-frontend"], 40)

    found = ok(alice.get(f"{API}/patterns"))
    assert (found["days"], found["more_than"]) == (90, 2)
    assert [p["pattern"] for p in found["items"]] == ["technical/deployment"]
    pattern = found["items"][0]
    assert pattern["occurrences"] == 3
    assert [i["incident"] for i in pattern["incidents"]] == [c, b, a]
    assert pattern["services"] == ["checkout-api", "payments-db", "web-frontend"]
    assert pattern["description"] == "Recurring issue: technical/deployment affecting 3 services"
    assert pattern["average_duration_minutes"] == 30.0

    # 95 days after the first: it has left the 90-day window, leaving two
    live_server.clock.set(T0 + timedelta(days=95))
    assert ok(alice.get(f"{API}/patterns"))["items"] == []
    assert [
        p["pattern"] for p in ok(alice.get(f"{API}/patterns", params={"days": 120}))["items"]
    ] == ["technical/deployment"]
    assert alice.get(f"{API}/patterns", params={"days": 0}).status_code == 422


def test_similar_past_incidents(live_server: LiveServer, alice: httpx.Client) -> None:
    same = declare(alice, "Checkout API timeouts after deploy", services=["checkout-api"])
    other = declare(alice, "Checkout API timeouts after deploy", services=["auth-service"])
    service_only = declare(alice, "Card form layout broken", services=["checkout-api"])
    declare(alice, "Office wifi flaky", "sev4")
    resolve(alice, same)
    pm = ok(alice.get(f"{API}/incidents/{same}/postmortem"))
    ok(
        alice.patch(
            f"{API}/postmortems/{pm['id']}",
            json={"sections": {"root_cause": "Connection pool exhausted"}},
        )
    )
    target = declare(
        alice,
        "Checkout API timeouts",
        services=["checkout-api"],
        description="connection pool exhausted again",
    )
    found = ok(alice.get(f"{API}/incidents/{target}/similar"))
    assert found["incident"] == target
    ranked = [i["incident"] for i in found["items"]]
    assert ranked == [same, other, service_only]
    assert found["items"][0]["postmortem"] == pm["id"]
    assert found["items"][0]["shared_services"] == ["checkout-api"]
    # only earlier incidents are compared
    assert ok(alice.get(f"{API}/incidents/{same}/similar"))["items"] == []


# ---------------------------------------------------------------- page


def test_the_page_escapes_html(live_server: LiveServer, alice: httpx.Client) -> None:
    inc = declare(alice, "<script>alert(1)</script> checkout", "sev3")
    resolve(alice, inc)
    pm = ok(alice.post(f"{API}/incidents/{inc}/postmortem"), 201)
    ok(
        alice.patch(
            f"{API}/postmortems/{pm['id']}",
            json={
                "sections": {
                    "root_cause": "A **bad** push. <img src=x onerror=alert(2)> "
                    "[link](javascript:alert(3)). The cause was human error."
                }
            },
        )
    )
    page = alice.get(f"/postmortems/{pm['id']}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    body = page.text
    assert "<script>" not in body and "<img" not in body and 'href="javascript:' not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; checkout" in body
    assert "<strong>bad</strong>" in body  # Markdown is rendered
    assert "&lt;img src=x onerror=alert(2)&gt;" in body
    assert "blames &#39;human error&#39;" in body  # the finding is shown on the page
    assert alice.get("/postmortems/PM-999").status_code == 404
    assert httpx.get(f"{live_server.url}/postmortems/{pm['id']}").status_code == 401


# ---------------------------------------------------------------- metrics


def test_what_the_metrics_get(live_server: LiveServer, alice: httpx.Client) -> None:
    done = declare(alice, "Published one", "sev1")
    open_ = declare(alice, "Draft one", "sev2")
    quiet = declare(alice, "No post-mortem", "sev3")
    for ref in (done, open_, quiet):
        resolve(alice, ref)
    pm = ok(alice.get(f"{API}/incidents/{done}/postmortem"))
    path = f"{API}/postmortems/{pm['id']}"
    ok(alice.patch(path, json={"sections": {"root_cause": "x"}, "root_cause_category": "external"}))
    ok(alice.post(f"{path}/submit"))
    ok(alice.post(f"{path}/publish"))
    item = ok(
        alice.post(f"{path}/action-items", json={"title": "Retry", "due_date": "2026-03-04"}), 201
    )
    ok(alice.patch(f"{API}/action-items/{item['id']}", json={"status": "done"}))

    with session_scope(live_server.context.sessions, write=False) as session:
        ids = {ref: incidents.get(session=session, ref=ref).id for ref in (done, open_, quiet)}
        inputs = postmortem_inputs(session=session, incident_ids=list(ids.values()))
    assert inputs is not None
    assert inputs.required == {ids[done], ids[open_]}
    assert inputs.completed == {ids[done]}
    assert inputs.categories == {ids[done]: "external"}
    assert [(a.incident_id, a.title, a.status) for a in inputs.action_items] == [
        (ids[done], "Retry", "done")
    ]
    assert inputs.action_items[0].due_at == datetime(2026, 3, 5, tzinfo=UTC)
