"""Changes coming in over HTTP: ``POST /api/v1/changes`` (a responder's token or a
``changes`` integration's key) and GitHub ``deployment_status`` webhooks signed with
the webhook's secret (``X-Hub-Signature-256``), with a body shaped as GitHub's
documented example. The fake clock reads Monday 2026-03-02 09:00 UTC."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import LiveServer

FIXTURE = Path(__file__).parent.parent / "fixtures" / "github" / "deployment_status.json"
SECRET = "webhook secret from the GitHub settings page"


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=live_server.url,
        timeout=30,
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
    ) as client:
        yield client


def key_of(api: httpx.Client, name: str, service: str, kind: str) -> str:
    answer = api.post("/api/v1/integrations", json={"name": name, "service": service, "kind": kind})
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["key"]
    return key


def post_change(live_server: LiveServer, token: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{live_server.url}/api/v1/changes",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def errors(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


def test_a_responder_records_a_change_and_a_viewer_may_not(
    live_server: LiveServer, api: httpx.Client
) -> None:
    responder = live_server.make_token("responder", person="alice")
    body = {
        "service": "checkout-api",
        "summary": "Feature flag new-cart on",
        "kind": "feature_flag",
        "links": [{"href": "https://flags.example.com/new-cart", "text": "flag"}],
        "details": {"percent": 50},
    }
    made = post_change(live_server, responder, body)
    assert made.status_code == 201, made.text
    change = made.json()
    assert change["kind"] == "feature_flag" and change["source"] == "alice"
    assert change["timestamp"] == "2026-03-02T09:00:00Z" and change["custom_details"] == {
        "percent": 50
    }
    viewer = live_server.make_token("viewer")
    refused = post_change(live_server, viewer, body)
    assert refused.status_code == 403 and "responder" in refused.json()["detail"]
    assert post_change(live_server, "not-a-token", body).status_code == 401
    listed = api.get("/api/v1/changes", params={"service": "checkout-api"}).json()
    assert [c["id"] for c in listed["items"]] == [change["id"]]


def test_a_changes_integration_key_records_changes_to_its_service_only(
    live_server: LiveServer, api: httpx.Client
) -> None:
    key = key_of(api, "db-ci", "payments-db", "changes")
    made = post_change(live_server, key, {"summary": "Vacuum settings tuned", "kind": "config"})
    assert made.status_code == 201, made.text
    assert made.json()["service"] == "payments-db" and made.json()["integration"] == "db-ci"
    other = post_change(live_server, key, {"service": "checkout-api", "summary": "x"})
    assert other.status_code == 422 and errors(other) == ["service"]
    alerts_key = key_of(api, "mon", "checkout-api", "generic")
    assert post_change(live_server, alerts_key, {"summary": "x"}).status_code == 401
    sent_alert = httpx.post(
        f"{live_server.url}/api/v1/integrations/{key}/events", json={"title": "t"}, timeout=30
    )
    assert sent_alert.status_code == 422 and "changes integration" in sent_alert.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"summary": "x"}, "service"),
        ({"service": "nope", "summary": "x"}, "service"),
        ({"service": "checkout-api", "summary": ""}, "summary"),
        ({"service": "checkout-api", "summary": "x", "kind": "reboot"}, "kind"),
        ({"service": "checkout-api", "summary": "x", "timestamp": "yesterday"}, "timestamp"),
        (
            {"service": "checkout-api", "summary": "x", "links": [{"href": "javascript:alert(1)"}]},
            "links.0.href",
        ),
    ],
)
def test_a_bad_change_is_refused_naming_the_field(
    live_server: LiveServer, body: dict[str, Any], field: str
) -> None:
    answer = post_change(live_server, live_server.admin_token, body)
    assert answer.status_code == 422, answer.text
    assert field in errors(answer)


def test_changes_filter_by_service_and_since(live_server: LiveServer, api: httpx.Client) -> None:
    for service, at in (
        ("payments-db", "2026-03-02T08:00:00Z"),
        ("payments-db", "2026-03-01T08:00:00Z"),
        ("checkout-api", "2026-03-02T08:30:00Z"),
    ):
        body = {"service": service, "summary": f"deploy at {at}", "timestamp": at}
        assert post_change(live_server, live_server.admin_token, body).status_code == 201
    page = api.get(
        "/api/v1/changes", params={"service": "payments-db", "since": "2026-03-02T00:00:00Z"}
    ).json()
    assert [c["summary"] for c in page["items"]] == ["deploy at 2026-03-02T08:00:00Z"]
    assert page["total"] == 1


def deliver(
    live_server: LiveServer, key: str, body: bytes, signature: str | None, event: str
) -> httpx.Response:
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event}
    headers["X-GitHub-Delivery"] = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return httpx.post(
        f"{live_server.url}/api/v1/integrations/{key}/github",
        content=body,
        headers=headers,
        timeout=30,
    )


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_signed_github_deployment_status_is_a_change_and_a_mis_signed_one_is_refused(
    live_server: LiveServer, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = key_of(api, "github", "payments-db", "changes")
    body = FIXTURE.read_bytes()

    unset = deliver(live_server, key, body, sign(SECRET, body), "deployment_status")
    assert unset.status_code == 401 and "TOCSIN_GITHUB_WEBHOOK_SECRET" in unset.text
    monkeypatch.setenv("TOCSIN_GITHUB_WEBHOOK_SECRET", SECRET)

    for bad in (None, "", sign("another secret", body), sign(SECRET, body + b" "), "sha1=abc"):
        refused = deliver(live_server, key, body, bad, "deployment_status")
        assert refused.status_code == 401, bad
        assert SECRET not in refused.text
    tampered = body.replace(b"success", b"failure")
    assert (
        deliver(live_server, key, tampered, sign(SECRET, body), "deployment_status").status_code
        == 401
    )
    assert api.get("/api/v1/changes").json()["total"] == 0

    answer = deliver(live_server, key, body, sign(SECRET, body), "deployment_status")
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["recorded"] is True
    change = data["change"]
    assert change["service"] == "payments-db" and change["kind"] == "deploy"
    assert change["summary"] == (
        "Deployed acme/payments-db@main (7c1e2f9) to production: Schema migration 2026.03.1 applied"
    )
    assert change["timestamp"] == "2026-03-02T08:56:00Z"
    assert change["source"] == "github:acme/payments-db"
    assert [link["href"] for link in change["links"]] == [
        "https://ci.example.com/builds/4471/log",
        "https://github.com/acme/payments-db/commit/7c1e2f9a4b5d6e7f8091a2b3c4d5e6f708192a3b",
        "https://payments-db.example.com",
    ]
    assert change["custom_details"]["deployed_by"] == "octo-deployer"


def test_github_deliveries_that_are_not_a_successful_deployment_record_nothing(
    live_server: LiveServer, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOCSIN_GITHUB_WEBHOOK_SECRET", SECRET)
    key = key_of(api, "github", "payments-db", "changes")
    payload = json.loads(FIXTURE.read_text())
    payload["deployment_status"]["state"] = "in_progress"
    pending = json.dumps(payload).encode()
    answer = deliver(live_server, key, pending, sign(SECRET, pending), "deployment_status")
    assert answer.status_code == 200 and answer.json()["recorded"] is False
    assert "in_progress" in answer.json()["reason"]
    ping = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'
    assert deliver(live_server, key, ping, sign(SECRET, ping), "ping").json()["reason"] == "ping"
    broken = b'{"deployment_status": {"state": "success"}, "deployment": {}}'
    refused = deliver(live_server, key, broken, sign(SECRET, broken), "deployment_status")
    assert refused.status_code == 400 and errors(refused) == ["repository"]
    garbage = b"not json"
    assert (
        deliver(live_server, key, garbage, sign(SECRET, garbage), "deployment_status").status_code
        == 400
    )
    assert api.get("/api/v1/changes").json()["total"] == 0
    wrong = key_of(api, "mon", "payments-db", "generic")
    body = FIXTURE.read_bytes()
    refused = deliver(live_server, wrong, body, sign(SECRET, body), "deployment_status")
    assert refused.status_code == 422 and errors(refused) == ["key"]
