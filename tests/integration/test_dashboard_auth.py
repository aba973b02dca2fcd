"""Dashboard sign-in: passwords, session cookies, CSRF, redirects and roles."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update
from starlette.testclient import TestClient
from tests.support.dashboard_session import PASSWORD, Browser, add_user, cheap_hashing, csrf_of

from tocsin.auth import passwords, users
from tocsin.auth.models import User
from tocsin.auth.passwords import hash_password, needs_rehash, verify_password
from tocsin.auth.users import disable_user, set_password, sign_in
from tocsin.config import Settings
from tocsin.db import session_scope
from tocsin.web.app import create_app
from tocsin.web.context import AppContext
from tocsin.web.dashboard.secret import KEY_FILE

if TYPE_CHECKING:
    from tests.conftest import LiveServer

# Sessions and forms behave the same on both databases; the CLI and event tests cover
# PostgreSQL.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


@pytest.fixture
def browser(live_server: LiveServer) -> Iterator[Browser]:
    with Browser(live_server.url) as b:
        yield b


@pytest.fixture
def incident(live_server: LiveServer) -> str:
    response = httpx.post(
        f"{live_server.url}/api/v1/incidents",
        json={"title": "Checkout API 5xx", "severity": "sev2", "services": ["checkout-api"]},
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
    )
    assert response.status_code == 201
    return str(response.json()["id"])


def status_of(live_server: LiveServer, incident: str) -> str:
    response = httpx.get(
        f"{live_server.url}/api/v1/incidents/{incident}",
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
    )
    return str(response.json()["status"])


def test_passwords_are_argon2_and_old_parameters_are_upgraded(
    app_context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = PasswordHasher()
    monkeypatch.setattr(passwords, "_hasher", lambda: real)
    stored = hash_password("s3cret-enough")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "s3cret-enough")
    assert not verify_password(stored, "s3cret-enougH")
    assert not verify_password("not a hash", "s3cret-enough")
    assert not needs_rehash(stored)

    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash("old password")
    assert needs_rehash(weak)
    add_user(app_context, "olduser", password="old password")
    with session_scope(app_context.sessions) as session:
        session.scalars(select(User)).one().password_hash = weak
    assert sign_in(sessions=app_context.sessions, username="olduser", password="old password")
    with session_scope(app_context.sessions) as session:
        upgraded = session.scalars(select(User)).one().password_hash
    assert upgraded != weak and not needs_rehash(upgraded)
    assert verify_password(upgraded, "old password")


def test_sign_in_returns_to_the_page_asked_for_and_sign_out_ends_it(
    live_server: LiveServer, browser: Browser
) -> None:
    add_user(live_server.context, "alice", person="alice")
    first = browser.get("/dashboard/oncall")
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=/dashboard/oncall"
    assert browser.get("/dashboard").headers["location"] == "/login?next=/dashboard"
    filtered = browser.get("/dashboard?status=active&service=checkout-api")
    assert filtered.headers["location"] == (
        "/login?next=/dashboard%3Fstatus%3Dactive%26service%3Dcheckout-api"
    )

    login = browser.get("/login?next=/dashboard/oncall")
    assert '<label for="username">Username</label>' in login.text
    assert '<label for="password">Password</label>' in login.text
    assert re.search(r'<input id="password" name="password" type="password"', login.text)
    assert re.search(r"<button type=\"submit\">Sign in</button>", login.text)

    signed = browser.sign_in("alice", next_path="/dashboard/oncall")
    assert signed.status_code == 303
    assert signed.headers["location"] == "/dashboard/oncall"
    page = browser.get("/dashboard/oncall")
    assert page.status_code == 200 and "alice" in page.text
    for text, href in [
        ("Incidents", "/dashboard"),
        ("On call", "/dashboard/oncall"),
        ("Silences", "/dashboard/silences"),
        ("Metrics", "/dashboard/metrics"),
    ]:
        assert f'href="{href}"' in page.text and text in page.text

    out = browser.submit("/dashboard", "/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert browser.get("/dashboard").status_code == 303


def test_a_wrong_password_and_an_unknown_user_look_the_same(
    live_server: LiveServer, browser: Browser
) -> None:
    add_user(live_server.context, "alice")
    wrong = browser.sign_in("alice", "not the password")
    unknown = browser.sign_in("mallory", "not the password")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Wrong username or password" in response.text
        assert "set-cookie" not in response.headers or "tocsin_session" not in response.headers.get(
            "set-cookie", ""
        )
    assert "mallory" in unknown.text  # the username is kept in the form
    assert wrong.text.replace("alice", "X") == unknown.text.replace("mallory", "X")
    assert browser.get("/dashboard").status_code == 303


def test_the_session_cookie_is_httponly_lax_and_secure_over_https(
    app_context: AppContext,
) -> None:
    add_user(app_context, "alice")
    app = create_app(app_context)
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        with TestClient(app, base_url=base, follow_redirects=False) as client:
            login = client.get("/login")
            signed = client.post(
                "/login",
                data={"csrf_token": csrf_of(login.text), "username": "alice", "password": PASSWORD},
            )
            assert signed.status_code == 303
            cookie = signed.headers["set-cookie"]
            assert cookie.startswith("tocsin_session=")
            assert "HttpOnly" in cookie
            assert "SameSite=lax" in cookie
            assert "Max-Age=43200" in cookie
            assert ("Secure" in cookie) is secure
            assert PASSWORD not in cookie


def test_a_tampered_or_foreign_cookie_is_refused(
    live_server: LiveServer, browser: Browser, tmp_path: Path
) -> None:
    add_user(live_server.context, "alice")
    add_user(live_server.context, "bob", role="admin")
    browser.sign_in("alice")
    genuine = browser.http.cookies["tocsin_session"]
    payload, _, signature = genuine.rpartition(".")
    assert browser.get("/dashboard").status_code == 200

    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    for forged in (f"{flipped}.{signature}", f"{payload}.{signature[::-1]}", "garbage"):
        browser.http.cookies.clear()
        browser.http.cookies.set("tocsin_session", forged)
        assert browser.get("/dashboard").status_code == 303

    # A cookie signed by a server with another key is worth nothing here.
    other = AppContext(
        settings=Settings(policy=tmp_path / "tocsin.yaml", secret_key="another-key" * 4),
        policy=live_server.context.policy,
        sessions=live_server.context.sessions,
        clock=live_server.clock,
    )
    with TestClient(create_app(other), follow_redirects=False) as client:
        login = client.get("/login")
        client.post(
            "/login",
            data={"csrf_token": csrf_of(login.text), "username": "bob", "password": PASSWORD},
        )
        foreign = client.cookies["tocsin_session"]
    browser.http.cookies.clear()
    browser.http.cookies.set("tocsin_session", foreign)
    assert browser.get("/dashboard").status_code == 303


def test_the_signing_key_is_generated_once_into_a_private_file(
    live_server: LiveServer, browser: Browser
) -> None:
    add_user(live_server.context, "alice")
    browser.sign_in("alice")
    key_file = live_server.context.settings.state_dir / KEY_FILE
    assert key_file.stat().st_mode & 0o077 == 0
    key = key_file.read_text()
    assert len(key) >= 32
    assert browser.get("/dashboard").status_code == 200
    assert key_file.read_text() == key


def test_failed_sign_ins_do_not_hold_the_write_lock(
    live_server: LiveServer, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The password is checked outside any transaction: while one is being checked,
    a write (an acknowledgement, an alert) goes through at once."""
    add_user(live_server.context, "alice")
    checking, release = threading.Event(), threading.Event()
    real = users.verify_password

    def slow(stored: str, password: str) -> bool:
        checking.set()
        release.wait(5)
        return real(stored, password)

    monkeypatch.setattr(users, "verify_password", slow)
    attempt = threading.Thread(target=browser.sign_in, args=("alice", "wrong password"))
    attempt.start()
    try:
        assert checking.wait(5)
        started = time.monotonic()
        with session_scope(live_server.context.sessions) as session:
            session.execute(update(User).values(role=User.role))
        assert time.monotonic() - started < 1
    finally:
        release.set()
        attempt.join(10)


def test_a_session_lasts_twelve_hours(live_server: LiveServer, browser: Browser) -> None:
    add_user(live_server.context, "alice")
    browser.sign_in("alice")
    live_server.clock.advance(timedelta(hours=11, minutes=59))
    assert browser.get("/dashboard").status_code == 200
    live_server.clock.advance(timedelta(minutes=1))
    assert browser.get("/dashboard").status_code == 303


def test_disabling_a_user_or_changing_the_password_ends_their_sessions(
    live_server: LiveServer,
) -> None:
    context = live_server.context
    add_user(context, "alice")
    add_user(context, "bob")
    with Browser(live_server.url) as alice, Browser(live_server.url) as bob:
        alice.sign_in("alice")
        bob.sign_in("bob")
        with session_scope(context.sessions) as session:
            set_password(session=session, username="alice", password="a brand new one")
            disable_user(session=session, username="bob", now=context.clock.now())
        assert alice.get("/dashboard").status_code == 303
        assert bob.get("/dashboard").status_code == 303
        assert alice.sign_in("alice").status_code == 401
        assert alice.sign_in("alice", "a brand new one").status_code == 303
        assert bob.sign_in("bob").status_code == 401


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    live_server: LiveServer, browser: Browser, incident: str
) -> None:
    add_user(live_server.context, "alice")
    browser.sign_in("alice")
    action = f"/dashboard/incidents/{incident}/acknowledge"
    missing = browser.http.post(action, data={})
    wrong = browser.http.post(action, data={"csrf_token": "x" * 43})
    non_ascii = browser.http.post(action, data={"csrf_token": "é" * 10})
    with Browser(live_server.url) as other:
        add_user(live_server.context, "bob")
        other.sign_in("bob")
        someone_elses = browser.http.post(
            action, data={"csrf_token": csrf_of(other.get("/dashboard").text)}
        )
    for response in (missing, wrong, non_ascii, someone_elses):
        assert response.status_code == 403
        assert "security token" in response.text
    assert status_of(live_server, incident) == "triggered"

    # Sign-in and sign-out forms are protected too.
    with Browser(live_server.url) as fresh:
        fresh.get("/login")
        refused = fresh.http.post("/login", data={"username": "alice", "password": PASSWORD})
        assert refused.status_code == 403
    assert browser.http.post("/logout", data={}).status_code == 403
    assert browser.get("/dashboard").status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "dashboard",
        "/\t/evil.example",
    ],
)
def test_next_never_leaves_the_site(live_server: LiveServer, browser: Browser, target: str) -> None:
    add_user(live_server.context, "alice")
    response = browser.sign_in("alice", next_path=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"


def test_roles_are_the_apis(live_server: LiveServer, incident: str) -> None:
    context = live_server.context
    add_user(context, "vera", role="viewer")
    add_user(context, "rita", role="responder", person="alice")
    page = f"/dashboard/incidents/{incident}"
    with Browser(live_server.url) as viewer:
        viewer.sign_in("vera")
        for path in ("/dashboard", page, "/dashboard/oncall", "/dashboard/silences"):
            assert viewer.get(path).status_code == 200, path
        assert ">Acknowledge</button>" not in viewer.get(page).text
        refused = viewer.submit(page, f"{page}/acknowledge")
        assert refused.status_code == 403
        assert "needs the responder role" in refused.text
        silence = viewer.submit(
            "/dashboard/silences", "/dashboard/silences", {"matchers": 'service="x"'}
        )
        assert silence.status_code == 403
    assert status_of(live_server, incident) == "triggered"
    with Browser(live_server.url) as responder:
        responder.sign_in("rita")
        assert ">Acknowledge</button>" in responder.get(page).text
        done = responder.submit(page, f"{page}/acknowledge")
        assert done.status_code == 303
    assert status_of(live_server, incident) == "acknowledged"


def test_api_tokens_keep_working_and_do_not_open_the_dashboard(
    live_server: LiveServer, incident: str
) -> None:
    headers = {"Authorization": f"Bearer {live_server.admin_token}"}
    assert httpx.get(f"{live_server.url}/api/v1/incidents", headers=headers).status_code == 200
    page = httpx.get(f"{live_server.url}/dashboard", headers=headers, follow_redirects=False)
    assert page.status_code == 303
