"""Cursor pages of the incident list and of a timeline, through the real API on SQLite
and PostgreSQL: following ``next_cursor`` reads every row once, in order, even when rows
are added between two pages; a cursor the list did not give is refused naming ``after``."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

API = "/api/v1/incidents"


def declare(api: httpx.Client, title: str, severity: str = "SEV2") -> str:
    answer = api.post(API, json={"title": title, "severity": severity})
    assert answer.status_code == 201, answer.text
    ref: str = answer.json()["id"]
    return ref


def page(api: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    answer = api.get(path, params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_incident_pages_by_cursor_hold_every_incident_once(api: httpx.Client) -> None:
    first = [declare(api, f"Outage {n}") for n in range(7)]
    seen: list[str] = []
    body = page(api, API, limit=3)
    assert body["total"] == 7
    seen += [i["id"] for i in body["items"]]
    # Newer incidents declared between pages are not on the later pages (they come
    # before the cursor) and push nothing of the older ones off them.
    newer = [declare(api, f"Later {n}") for n in range(2)]
    while body["next_cursor"]:
        body = page(api, API, limit=3, after=body["next_cursor"])
        seen += [i["id"] for i in body["items"]]
    assert seen == list(reversed(first))
    # A page after a cursor does not count the matches again.
    assert body["total"] is None
    assert page(api, API, limit=3)["total"] == 9
    assert [i["id"] for i in page(api, API, limit=2)["items"]] == list(reversed(newer))


def test_a_filtered_list_pages_by_cursor(api: httpx.Client) -> None:
    refs = {declare(api, f"Outage {n}", "SEV1" if n % 2 else "SEV3"): n for n in range(9)}
    sev1 = [ref for ref, n in refs.items() if n % 2]
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"severity": "SEV1", "limit": 2}
        if cursor:
            params["after"] = cursor
        body = page(api, API, **params)
        assert body["total"] == (len(sev1) if cursor is None else None)
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(sev1))


def test_timeline_pages_by_cursor_with_events_added_between(api: httpx.Client) -> None:
    ref = declare(api, "API down")
    for n in range(4):
        answer = api.post(f"{API}/{ref}/updates", json={"message": f"update {n}"})
        assert answer.status_code == 201, answer.text
    everything = page(api, f"{API}/{ref}/timeline")
    assert everything["next_cursor"] is None
    before = [e["id"] for e in everything["items"]]

    body = page(api, f"{API}/{ref}/timeline", limit=3)
    seen = [e["id"] for e in body["items"]]
    api.post(f"{API}/{ref}/updates", json={"message": "one more"})
    while body["next_cursor"]:
        body = page(api, f"{API}/{ref}/timeline", limit=3, after=body["next_cursor"])
        seen += [e["id"] for e in body["items"]]
    after = [e["id"] for e in page(api, f"{API}/{ref}/timeline")["items"]]
    assert seen == after and after[: len(before)] == before and len(after) > len(before)
    assert len(set(seen)) == len(seen)


def _encoded(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    ["not a cursor", _encoded(b'["x"]'), _encoded(b"[1, 2]"), _encoded(b"{}"), "%%%"],
)
def test_a_cursor_the_list_did_not_give_is_refused_naming_after(
    api: httpx.Client, cursor: str
) -> None:
    ref = declare(api, "API down")
    for path in (API, f"{API}/{ref}/timeline"):
        answer = api.get(path, params={"after": cursor, "limit": 5})
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == "after", answer.text
    timeline_cursor = _encoded(b'["yesterday", 3]')
    answer = api.get(f"{API}/{ref}/timeline", params={"after": timeline_cursor})
    assert answer.status_code == 422 and "after" in answer.json()["detail"]
