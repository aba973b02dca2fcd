"""The quick read paths tell the same story as the slow ones.

- The incident list is read as columns (:func:`tocsin.incidents.queries.list_reads`):
  every item must equal what the incident's own page says, under every filter, page
  and cursor.
- The public front page is kept in memory between changes: a change made through the
  API, a maintenance window starting within the same minute and a policy reload must
  show at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from tests.support.api import ApiAs
from tests.support.statuspage import client

if TYPE_CHECKING:
    from tests.conftest import LiveServer

API = "/api/v1"


@pytest.fixture
def api(api_as: ApiAs) -> httpx.Client:
    return api_as("responder", "bob")


@pytest.fixture
def anon(live_server: LiveServer) -> Iterator[httpx.Client]:
    with client(live_server.url) as http:
        yield http


def _declare(api: httpx.Client, n: int) -> str:
    services = [["checkout-api"], ["payments-db", "checkout-api"], [], ["auth-service"]][n % 4]
    body: dict[str, Any] = {
        "title": f"Read path {n}",
        "severity": f"SEV{n % 4 + 1}",
        "services": services,
        "drill": n % 5 == 0,
    }
    created = api.post(f"{API}/incidents", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_list_items_equal_each_incidents_own_view(api: httpx.Client) -> None:
    refs = [_declare(api, n) for n in range(12)]
    patched = api.patch(
        f"{API}/incidents/{refs[3]}", json={"roles": {"sme": ["alice", "bob"], "scribe": "dana"}}
    )
    assert patched.status_code == 200, patched.text
    api.post(f"{API}/incidents/{refs[4]}/acknowledge", json={}).raise_for_status()
    api.post(f"{API}/incidents/{refs[5]}/resolve", json={}).raise_for_status()
    own = {ref: api.get(f"{API}/incidents/{ref}").json() for ref in refs}
    assert own[refs[3]]["roles"]["sme"] == ["alice", "bob"]

    queries = [
        "",
        "status=active",
        "status=resolved",
        "severity=SEV2",
        "service=checkout-api",
        "status=triggered,acknowledged&service=checkout-api",
        "limit=5&offset=3",
    ]
    for query in queries:
        page = api.get(f"{API}/incidents?{query}&limit=500" if "limit" not in query else
                       f"{API}/incidents?{query}")  # fmt: skip
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["items"], query
        for item in body["items"]:
            assert item == own[item["id"]], query
        numbers = [item["number"] for item in body["items"]]
        assert numbers == sorted(numbers, reverse=True)
        if "limit=5" not in query:
            assert body["total"] == len(body["items"]), query
    assert api.get(f"{API}/incidents?severity=SEV9").status_code == 422

    # Cursor pages: every incident once, newest first, the same items as by offset.
    seen: list[str] = []
    cursor: str | None = None
    while True:
        after = f"&after={cursor}" if cursor else ""
        page = api.get(f"{API}/incidents?limit=5{after}").json()
        seen += [item["id"] for item in page["items"]]
        for item in page["items"]:
            assert item == own[item["id"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(refs) and len(seen) == len(set(seen))


def _front(anon: httpx.Client) -> str:
    response = anon.get("/status")
    assert response.status_code == 200
    return response.text


def test_front_page_follows_every_change(
    live_server: LiveServer, api_as: ApiAs, anon: httpx.Client
) -> None:
    admin = api_as("admin")
    first = _front(anon)
    assert "All Systems Operational" in first
    assert _front(anon) == first  # nothing changed: the same page

    created = admin.post(
        f"{API}/statuspage/incidents",
        json={"name": "Checkout errors", "components": {"Checkout": "partial_outage"},
              "body": "Some payments fail."},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    code = created.json()["id"]
    assert "Checkout errors" in _front(anon) and "Some payments fail." in _front(anon)

    updated = admin.post(
        f"{API}/statuspage/incidents/{code}/updates",
        json={"status": "monitoring", "body": "A fix is out; we are watching."},
    )
    assert updated.status_code in (200, 201), updated.text
    assert "A fix is out; we are watching." in _front(anon)

    # A window that starts 20 s from now shows as in progress once it has started, even
    # within the same minute.
    now = live_server.clock.now()
    planned = admin.post(
        f"{API}/statuspage/maintenances",
        json={"name": "Login upgrade", "body": "Sessions may reset.", "components": ["Login"],
              "scheduled_for": (now + timedelta(seconds=20)).isoformat(),
              "scheduled_until": (now + timedelta(hours=1)).isoformat()},
    )  # fmt: skip
    assert planned.status_code == 201, planned.text
    assert "Scheduled ·" in _front(anon)
    live_server.clock.advance(timedelta(seconds=30))
    assert "In progress ·" in _front(anon)

    # A policy reload that renames the page shows at once.
    policy_file = live_server.context.settings.policy
    text = policy_file.read_text(encoding="utf-8")
    title = live_server.context.policy.current.status_page.title
    policy_file.write_text(text.replace(f"title: {title}", "title: Renamed Status"), "utf-8")
    reloaded = admin.post(f"{API}/policy/reload")
    assert reloaded.status_code == 200, reloaded.text
    assert "Renamed Status" in _front(anon)
