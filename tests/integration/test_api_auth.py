"""Tokens and roles, the policy endpoints and the unauthenticated probes, over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tocsin.auth import revoke_token
from tocsin.db import session_scope
from tocsin.policy import example_policy_text

if TYPE_CHECKING:
    from tests.conftest import LiveServer

API = "/api/v1/incidents"
Connect = Callable[..., httpx.Client]


@pytest.fixture
def connect(live_server: LiveServer) -> Iterator[Connect]:
    """`connect(token)` is a client for that token (None: no Authorization header)."""
    clients: list[httpx.Client] = []

    def make(token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        client = httpx.Client(base_url=live_server.url, headers=headers, timeout=10)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def admin(live_server: LiveServer, connect: Connect) -> httpx.Client:
    return connect(live_server.admin_token)


def declare(client: httpx.Client, **fields: Any) -> httpx.Response:
    return client.post(API, json={"title": "Checkout API 5xx", "severity": "sev2", **fields})


def total(client: httpx.Client) -> int:
    count: int = client.get(API).json()["total"]
    return count


# ---------------------------------------------------------------- authentication


def test_no_token_is_401_with_a_bearer_challenge(live_server: LiveServer, connect: Connect) -> None:
    anonymous = connect(None)
    for response in (
        anonymous.get(API),
        anonymous.get(f"{API}/INC-1"),
        declare(anonymous),
        anonymous.get("/api/v1/policy"),
        anonymous.get("/api/v1/me"),
        anonymous.post("/api/v1/policy/reload"),
    ):
        assert response.status_code == 401, (response.request.url, response.text)
        assert response.headers["www-authenticate"].lower().startswith("bearer")
        assert "token" in response.json()["detail"]


@pytest.mark.parametrize(
    "authorization",
    ["Bearer tcs_not-a-real-token", "Bearer", "Basic YWRtaW46YWRtaW4=", "tcs_no_scheme"],
)
def test_bad_credentials_are_401(
    live_server: LiveServer, connect: Connect, authorization: str
) -> None:
    with httpx.Client(base_url=live_server.url, headers={"Authorization": authorization}) as c:
        response = c.get(API)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].lower().startswith("bearer")
        assert declare(c).status_code == 401
    assert total(connect(live_server.admin_token)) == 0


def test_the_admin_token_with_a_different_case_scheme_works(live_server: LiveServer) -> None:
    headers = {"Authorization": f"bearer {live_server.admin_token}"}
    with httpx.Client(base_url=live_server.url, headers=headers) as client:
        assert client.get(API).status_code == 200


def test_revoked_token_is_401(live_server: LiveServer, connect: Connect) -> None:
    token = live_server.make_token("responder")
    client = connect(token)
    assert client.get("/api/v1/me").status_code == 200
    name = client.get("/api/v1/me").json()["name"]
    with session_scope(live_server.context.sessions) as session:
        assert revoke_token(session=session, name=name, now=live_server.clock.now())
    assert client.get("/api/v1/me").status_code == 401
    assert declare(client).status_code == 401


def test_me_describes_the_token(live_server: LiveServer, connect: Connect) -> None:
    assert connect(live_server.admin_token).get("/api/v1/me").json() == {
        "name": "admin",
        "role": "admin",
        "person": None,
    }
    me = connect(live_server.make_token("responder", person="alice")).get("/api/v1/me").json()
    assert (me["role"], me["person"]) == ("responder", "alice")


# ---------------------------------------------------------------- roles


def test_viewer_reads_but_cannot_act(live_server: LiveServer, connect: Connect) -> None:
    ref = declare(connect(live_server.admin_token)).json()["id"]
    viewer = connect(live_server.make_token("viewer"))
    before = viewer.get(f"{API}/{ref}").json()
    timeline = viewer.get(f"{API}/{ref}/timeline").json()["items"]

    assert viewer.get(API).json()["total"] == 1
    assert viewer.get(f"{API}/{ref}").status_code == 200
    assert viewer.get(f"{API}/{ref}/timeline").status_code == 200
    assert viewer.get(f"{API}/{ref}/updates").status_code == 200
    assert viewer.get("/api/v1/policy").status_code == 200

    refusals = [
        declare(viewer),
        viewer.post(f"{API}/{ref}/acknowledge"),
        viewer.post(f"{API}/{ref}/resolve", json={}),
        viewer.patch(f"{API}/{ref}", json={"roles": {"commander": "alice"}}),
        viewer.post(f"{API}/{ref}/updates", json={"message": "hello"}),
        viewer.post("/api/v1/policy/reload"),
    ]
    for response in refusals:
        assert response.status_code == 403, (response.request.url, response.text)
        detail = response.json()["detail"]
        assert "viewer" in detail
        assert "responder" in detail or "admin" in detail

    assert viewer.get(f"{API}/{ref}").json() == before
    assert viewer.get(f"{API}/{ref}/timeline").json()["items"] == timeline
    assert viewer.get(API).json()["total"] == 1


def test_responder_acts_and_is_recorded_as_the_actor(
    live_server: LiveServer, connect: Connect
) -> None:
    bob = connect(live_server.make_token("responder", person="bob"))
    declared = declare(bob)
    assert declared.status_code == 201, declared.text
    assert declared.json()["created_by"] == "bob"
    ref = declared.json()["id"]
    assert bob.post(f"{API}/{ref}/acknowledge").status_code == 200
    assert bob.patch(f"{API}/{ref}", json={"severity": "sev1"}).status_code == 200
    items = bob.get(f"{API}/{ref}/timeline").json()["items"]
    # every event is bob's, except those the server records on its own (paging)
    assert {e["actor"] for e in items} - {"tocsin"} == {"bob"}
    assert {e["kind"] for e in items if e["actor"] == "bob"} >= {
        "declared",
        "acknowledged",
        "severity_changed",
    }

    # a token without a person acts under its own name
    ops = connect(live_server.make_token("responder"))
    ops_name = ops.get("/api/v1/me").json()["name"]
    assert ops.post(f"{API}/{ref}/resolve").status_code == 200
    items = bob.get(f"{API}/{ref}/timeline").json()["items"]
    assert [e["actor"] for e in items if e["kind"] == "resolved"] == [ops_name]


def test_policy_reload_needs_admin(live_server: LiveServer, connect: Connect) -> None:
    responder = connect(live_server.make_token("responder"))
    response = responder.post("/api/v1/policy/reload")
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]
    assert connect(live_server.admin_token).post("/api/v1/policy/reload").status_code == 200


# ---------------------------------------------------------------- policy reload


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_broken_policy_is_refused_with_field_and_line_and_the_old_one_stays(
    live_server: LiveServer, admin: httpx.Client
) -> None:
    path = Path(live_server.context.settings.policy)
    good = example_policy_text()
    broken = good.replace("respond_within: 5m", "respond_within: soon", 1).replace(
        "  - name: SEV4\n", "  - name: SEV4\n    colour: green\n", 1
    )
    path.write_text(broken, encoding="utf-8")

    response = admin.post("/api/v1/policy/reload")

    assert response.status_code == 422, response.text
    body = response.json()
    by_field = {e["field"]: e for e in body["errors"]}
    assert by_field["severities[0].respond_within"]["line"] == _line_of(broken, "soon")
    assert "soon" in by_field["severities[0].respond_within"]["message"]
    colour = [e for e in body["errors"] if "colour" in e["field"] + e["message"]]
    assert colour and colour[0]["line"] == _line_of(broken, "colour: green")
    assert "unchanged" in body["detail"]

    # the running policy is the old one, whole
    policy = admin.get("/api/v1/policy").json()
    assert [s["name"] for s in policy["severities"]] == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert policy["severities"][0]["respond_within"] == "5m"
    accepted = declare(admin, severity="critical")
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["severity"] == "SEV1"


def test_yaml_syntax_error_is_refused_with_its_line(
    live_server: LiveServer, admin: httpx.Client
) -> None:
    path = Path(live_server.context.settings.policy)
    text = example_policy_text() + "extra: [unclosed\n"
    path.write_text(text, encoding="utf-8")
    response = admin.post("/api/v1/policy/reload")
    assert response.status_code == 422, response.text
    lines = [e["line"] for e in response.json()["errors"]]
    start = _line_of(text, "extra: [unclosed")
    assert lines and all(isinstance(n, int) and n >= start for n in lines), lines
    assert declare(admin).status_code == 201


def test_valid_changed_policy_takes_effect(live_server: LiveServer, admin: httpx.Client) -> None:
    path = Path(live_server.context.settings.policy)
    refused = declare(admin, services=["search-api"])
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "services"

    changed = example_policy_text().replace(
        "services:\n  - name: checkout-api\n",
        "services:\n"
        "  - name: search-api\n"
        '    description: "Product search"\n'
        "    team: platform\n"
        "    tier: 2\n"
        "  - name: checkout-api\n",
        1,
    )
    assert "search-api" in changed
    path.write_text(changed, encoding="utf-8")

    response = admin.post("/api/v1/policy/reload")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "reloaded"
    assert "search-api" in [s["name"] for s in admin.get("/api/v1/policy").json()["services"]]
    accepted = declare(admin, services=["search-api"])
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["services"] == ["search-api"]
    assert accepted.json()["tags"] == ["api", "search-api"]


def test_policy_endpoint_lists_severities_with_aliases(admin: httpx.Client) -> None:
    policy = admin.get("/api/v1/policy").json()
    sev1 = policy["severities"][0]
    assert (sev1["name"], sev1["rank"]) == ("SEV1", 1)
    assert {"P0", "critical"} <= set(sev1["aliases"])
    assert "checkout-api" in [s["name"] for s in policy["services"]]
    assert {"alice", "bob"} <= {p["name"] for p in policy["people"]}
    roles = {r["name"]: r["multiple"] for r in policy["roles"]}
    assert roles["commander"] is False and roles["sme"] is True


# ---------------------------------------------------------------- probes and OpenAPI


def test_health_and_readiness_need_no_token(live_server: LiveServer, connect: Connect) -> None:
    anonymous = connect(None)
    health = anonymous.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = anonymous.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


def test_openapi_lists_the_contract_paths(live_server: LiveServer, connect: Connect) -> None:
    response = connect(None).get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        "/api/v1/incidents": {"get", "post"},
        "/api/v1/incidents/{incident_id}": {"get", "patch"},
        "/api/v1/incidents/{incident_id}/acknowledge": {"post"},
        "/api/v1/incidents/{incident_id}/resolve": {"post"},
        "/api/v1/incidents/{incident_id}/close": {"post"},
        "/api/v1/incidents/{incident_id}/reopen": {"post"},
        "/api/v1/incidents/{incident_id}/updates": {"get", "post"},
        "/api/v1/incidents/{incident_id}/timeline": {"get"},
        "/api/v1/policy": {"get"},
        "/api/v1/policy/reload": {"post"},
        "/api/v1/me": {"get"},
        "/healthz": {"get"},
        "/readyz": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
