"""Bad input gets a clear 4xx that names the field, nothing is created, and never a 500.

Runs against a real server on SQLite and PostgreSQL: some inputs (NUL characters, numbers
beyond 64 bits) only break on one of the two databases.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.support.api import ApiAs

API = "/api/v1/incidents"
MIB = 1024 * 1024
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def api(api_as: ApiAs) -> httpx.Client:
    """The admin; Connection: close so that one failing request cannot poison the
    next one's socket."""
    return api_as("admin", headers={"Connection": "close"})


@pytest.fixture
def incident(api: httpx.Client) -> str:
    response = api.post(API, json={"title": "Checkout API 5xx", "severity": "sev2"})
    assert response.status_code == 201, response.text
    ref: str = response.json()["id"]
    return ref


def total(api: httpx.Client) -> int:
    response = api.get(API)
    assert response.status_code == 200, response.text
    count: int = response.json()["total"]
    return count


def refused(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    if field is not None:
        fields = [e["field"] for e in body["errors"]]
        assert any(f == field or f.startswith(f"{field}.") for f in fields), body
        assert field in body["detail"]
    return body


# ---------------------------------------------------------------- the named cases


def test_unknown_severity_lists_valid_names_and_aliases(api: httpx.Client) -> None:
    body = refused(api.post(API, json={"title": "x", "severity": "sev9"}), 422, "severity")
    assert body["errors"][0] == {"field": "severity", "message": body["errors"][0]["message"]}
    for name in ("sev9", "SEV1", "SEV2", "SEV3", "SEV4", "P0", "P3", "critical", "low"):
        assert name in body["detail"], name
    assert total(api) == 0


def test_missing_title_names_it(api: httpx.Client) -> None:
    body = refused(api.post(API, json={"severity": "sev2"}), 422, "title")
    assert body["errors"][0]["field"] == "title"
    blank = refused(api.post(API, json={"title": "   ", "severity": "sev2"}), 422, "title")
    assert blank["errors"][0]["field"] == "title"
    assert total(api) == 0


def test_several_problems_are_all_reported(api: httpx.Client) -> None:
    body = refused(api.post(API, json={"description": 3}), 422)
    assert {e["field"] for e in body["errors"]} >= {"title", "severity", "description"}


def test_body_over_one_mebibyte_is_413(api: httpx.Client) -> None:
    padding = "x" * MIB
    body = json.dumps({"title": "big", "severity": "sev2", "description": padding}).encode()
    assert len(body) > MIB
    refused(api.post(API, content=body, headers=JSON), 413)
    assert total(api) == 0


def test_chunked_body_over_one_mebibyte_is_413(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"title": "big", "severity": "sev2", "description": "'
        for _ in range(12):
            yield b"x" * 100_000
        yield b'"}'

    response = api.post(API, content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    refused(response, 413)
    assert total(api) == 0


def test_body_just_under_the_limit_is_accepted(api: httpx.Client) -> None:
    """The limit is about size, not content: a long description that fits is fine."""
    response = api.post(
        API, json={"title": "long", "severity": "sev2", "description": "y" * 50_000}
    )
    assert response.status_code == 201, response.text


def test_malformed_json_is_400(api: httpx.Client, incident: str) -> None:
    for raw in (b"{bad", b'{"title": "x", "severity": "sev2"', b"{'title': 'x'}"):
        refused(api.post(API, content=raw, headers=JSON), 400)
    refused(api.patch(f"{API}/{incident}", content=b'{"title": ', headers=JSON), 400)
    assert total(api) == 1


def test_non_json_content_type_is_415(api: httpx.Client, incident: str) -> None:
    body = refused(
        api.post(API, content=b"title=x&severity=sev2", headers={"Content-Type": "text/plain"}),
        415,
    )
    assert "application/json" in body["detail"]
    refused(api.post(API, data={"title": "x", "severity": "sev2"}), 415)
    refused(
        api.post(
            f"{API}/{incident}/updates",
            content=json.dumps({"message": "hi"}).encode(),
            headers={"Content-Type": "text/plain"},
        ),
        415,
    )
    assert total(api) == 1


def test_json_with_charset_and_vendor_types_are_accepted(api: httpx.Client) -> None:
    body = json.dumps({"title": "x", "severity": "sev2"}).encode()
    for content_type in ("application/json; charset=utf-8", "application/vnd.tocsin+json"):
        response = api.post(API, content=body, headers={"Content-Type": content_type})
        assert response.status_code == 201, (content_type, response.text)


def test_unknown_incident_is_404(api: httpx.Client) -> None:
    for ref in ("INC-404", "404", "inc-404", "nonsense", "INC-", "INC-1.5"):
        body = refused(api.get(f"{API}/{ref}"), 404)
        assert "not found" in body["detail"]
    refused(api.post(f"{API}/INC-404/acknowledge"), 404)
    refused(api.post(f"{API}/INC-404/resolve", json={}), 404)
    refused(api.patch(f"{API}/INC-404", json={"title": "x"}), 404)
    refused(api.post(f"{API}/INC-404/updates", json={"message": "x"}), 404)
    refused(api.get(f"{API}/INC-404/timeline"), 404)
    refused(api.get(f"{API}/INC-404/updates"), 404)


def test_incident_number_beyond_the_column_range_is_404(api: httpx.Client) -> None:
    """Any number up to twelve digits parses as an id; one that cannot exist is 404."""
    for ref in ("INC-999999999999", "99999999999"):
        refused(api.get(f"{API}/{ref}"), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "x", "severity": 5}, "severity"),
        ({"title": "x", "severity": "sev2", "services": "checkout-api"}, "services"),
        ({"title": "x", "severity": "sev2", "services": [1, 2]}, "services"),
        ({"title": ["x"], "severity": "sev2"}, "title"),
        ({"title": "x", "severity": "sev2", "started_at": "yesterday"}, "started_at"),
        ({"title": "x", "severity": "sev2", "started_at": "2026-03-02T08:00:00"}, "started_at"),
        ({"title": "x", "severity": "sev2", "started_at": "2030-01-01T00:00:00Z"}, "started_at"),
        ({"title": "x", "severity": "sev2", "services": ["billing"]}, "services"),
        ({"title": "x", "severity": "sev2", "priority": "high"}, "priority"),
        ({"title": "x" * 301, "severity": "sev2"}, "title"),
    ],
    ids=[
        "severity-int",
        "services-str",
        "services-ints",
        "title-list",
        "started-at-text",
        "started-at-naive",
        "started-at-future",
        "unknown-service",
        "extra-field",
        "title-too-long",
    ],
)
def test_declare_field_errors_name_the_field(
    api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    refused(api.post(API, json=body), 422, field)
    assert total(api) == 0


@pytest.mark.parametrize(
    ("path", "method", "body", "field"),
    [
        ("", "PATCH", {"severity": 5}, "severity"),
        ("", "PATCH", {"severity": "sev9"}, "severity"),
        ("", "PATCH", {"services": "x"}, "services"),
        ("", "PATCH", {"title": ""}, "title"),
        ("", "PATCH", {"status": "resolved"}, "status"),
        ("", "PATCH", {"roles": ["commander"]}, "roles"),
        ("/updates", "POST", {"status": "identified"}, "message"),
        ("/updates", "POST", {"message": "x", "public": "maybe"}, "public"),
        ("/updates", "POST", {"message": "x", "status": "fixed"}, "status"),
        ("/resolve", "POST", {"message": "", "public": True}, "message"),
        ("/resolve", "POST", {"note": "x"}, "note"),
    ],
)
def test_action_field_errors_name_the_field(
    api: httpx.Client, incident: str, path: str, method: str, body: dict[str, Any], field: str
) -> None:
    before = api.get(f"{API}/{incident}/timeline").json()["items"]
    refused(api.request(method, f"{API}/{incident}{path}", json=body), 422, field)
    after = api.get(f"{API}/{incident}").json()
    assert (after["status"], after["severity"], after["title"]) == (
        "triggered",
        "SEV2",
        "Checkout API 5xx",
    )
    assert api.get(f"{API}/{incident}/timeline").json()["items"] == before


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"severity": "sev9"}, "severity"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
def test_list_query_errors_name_the_parameter(
    api: httpx.Client, query: dict[str, Any], field: str
) -> None:
    refused(api.get(API, params=query), 422, field)


# ---------------------------------------------------------------- never a 500

ODD_DECLARE_BODIES: list[bytes] = [
    b"",
    b"[]",
    b"null",
    b"0",
    b'"a string"',
    b"true",
    b"{}",
    b'{"title": null, "severity": null}',
    b'{"title": "x", "severity": "sev2", "services": null}',
    b'{"title": "x", "severity": 1e400}',
    b'{"title": "x", "severity": "sev2", "started_at": 1e400}',
    b'{"title": "x", "severity": "sev2", "started_at": 99999999999999999999}',
    b'{"title": 123456789012345678901234567890, "severity": "sev2"}',
    b'{"title": "x", "severity": "sev2", "services": [' + b"9" * 5000 + b"]}",
    b'{"title": "x", "severity": "sev2", "services": [[[[[[[[[[]]]]]]]]]]}',
    b'{"title": "x", "severity": "sev2", "description": {"nested": true}}',
    b'{"title": "\\ud800", "severity": "sev2"}',
    b'{"title": "x", "severity": "\\u0000"}',
    b'{"title": "x", "severity": "sev2", "services": ["\\u0000"]}',
    b"\xff\xfe\x00{",
    b'{"title": "x", "severity": "sev2"}{"title": "y"}',
    json.dumps({"title": "t" * 5000, "severity": "sev2"}).encode(),
    json.dumps({"title": "x", "severity": "s" * 10_000}).encode(),
    json.dumps({"title": "x", "severity": "sev2", "services": ["a"] * 1000}).encode(),
    json.dumps({"title": "x", "severity": "sev2", "started_at": "2026-13-45T99:00:00Z"}).encode(),
]


def test_odd_bodies_never_cause_a_500_and_create_nothing(api: httpx.Client) -> None:
    answers = {
        body[:60]: api.post(API, content=body, headers=JSON).status_code
        for body in ODD_DECLARE_BODIES
    }
    assert {body: status for body, status in answers.items() if not 400 <= status < 500} == {}
    assert total(api) == 0


def test_unicode_is_kept_exactly(api: httpx.Client) -> None:
    title = "Zahlung fehlgeschlagen — 決済エラー 🔥 café"
    response = api.post(API, json={"title": title, "severity": "sev2", "description": "ü" * 40})
    assert response.status_code == 201, response.text
    ref = response.json()["id"]
    stored = api.get(f"{API}/{ref}").json()
    assert (stored["title"], stored["description"]) == (title, "ü" * 40)


def test_odd_actions_never_cause_a_500(api: httpx.Client, incident: str) -> None:
    before = api.get(f"{API}/{incident}").json()
    requests: list[tuple[str, str, bytes]] = [
        ("POST", "/resolve", b"[]"),
        ("POST", "/resolve", b"{bad"),
        ("POST", "/resolve", b'{"public": "maybe"}'),
        ("POST", "/close", b'"close it"'),
        ("POST", "/reopen", b"[1, 2]"),
        ("POST", "/updates", b""),
        ("POST", "/updates", b'{"message": 5}'),
        ("PATCH", "", b""),
        ("PATCH", "", b"[]"),
        ("PATCH", "", b'{"roles": {"sme": [1, null]}}'),
        ("PATCH", "", b'{"roles": {"": "alice"}}'),
        ("PATCH", "", b'{"roles": {"commander": ""}}'),
        ("PATCH", "", b'{"services": [null]}'),
        ("PATCH", "", json.dumps({"title": "t" * 301}).encode()),
        ("PATCH", "", json.dumps({"severity": "🔥"}).encode()),
    ]
    answers = {
        (method, path, body[:40]): api.request(
            method, f"{API}/{incident}{path}", content=body, headers=JSON
        ).status_code
        for method, path, body in requests
    }
    assert {key: status for key, status in answers.items() if not 400 <= status < 500} == {}
    assert api.get(f"{API}/{incident}").json() == before


def test_started_at_near_the_minimum_date_is_not_a_500(api: httpx.Client) -> None:
    """0001-01-01T00:00:00+05:00 is a valid ISO time whose UTC value is before year 1."""
    for started_at in ("0001-01-01T00:00:00+05:00", "0001-01-01T03:00:00+14:00"):
        response = api.post(API, json={"title": "x", "severity": "sev2", "started_at": started_at})
        assert 400 <= response.status_code < 500, (started_at, response.text)
    assert total(api) == 0


def test_nul_characters_in_text_are_not_a_500(api: httpx.Client, incident: str) -> None:
    """PostgreSQL text cannot hold U+0000; the client must get a 4xx (or the text stored
    without it), never an internal error."""
    answers = {
        "declare title": api.post(API, json={"title": "a\u0000b", "severity": "sev2"}),
        "declare description": api.post(
            API, json={"title": "x", "severity": "sev2", "description": "\u0000"}
        ),
        "update message": api.post(f"{API}/{incident}/updates", json={"message": "a\u0000"}),
        "resolve message": api.post(f"{API}/{incident}/resolve", json={"message": "\u0000"}),
        "patch title": api.patch(f"{API}/{incident}", json={"title": "x\u0000"}),
        "list by service": api.get(API, params={"service": "\u0000"}),
    }
    assert {name: r.status_code for name, r in answers.items() if r.status_code >= 500} == {}


def test_huge_offset_is_not_a_500(api: httpx.Client, incident: str) -> None:
    for offset in ("9223372036854775808", "99999999999999999999"):
        response = api.get(API, params={"offset": offset})
        assert response.status_code in (200, 422), (offset, response.text)
        if response.status_code == 200:
            assert response.json()["items"] == []


def test_rejected_requests_leave_no_trace(api: httpx.Client, incident: str) -> None:
    """A mix of refused requests: the list total and the timeline are unchanged."""
    timeline = api.get(f"{API}/{incident}/timeline").json()["items"]
    refused(api.post(API, json={"title": "x", "severity": "nope"}), 422)
    refused(api.post(API, json={"title": "x", "severity": "sev1", "services": ["nope"]}), 422)
    refused(api.post(API, content=b"{", headers=JSON), 400)
    refused(api.post(f"{API}/{incident}/close"), 409)
    refused(api.patch(f"{API}/{incident}", json={"severity": "sev1", "services": ["nope"]}), 422)
    refused(
        api.patch(f"{API}/{incident}", json={"title": "new", "roles": {"commander": "mallory"}}),
        422,
    )
    assert total(api) == 1
    assert api.get(f"{API}/{incident}/timeline").json()["items"] == timeline
    # and the numbering has no gap: the next incident is INC-2
    response = api.post(API, json={"title": "next", "severity": "sev4"})
    assert response.json()["id"] == "INC-2"
