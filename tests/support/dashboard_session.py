"""Driving the dashboard over HTTP the way a browser does: cookies, forms with their
CSRF token, redirects looked at one by one."""

from __future__ import annotations

import re
from collections.abc import Mapping

import httpx
import pytest
from argon2 import PasswordHasher

from tocsin.auth import Role, passwords
from tocsin.auth.users import create_user
from tocsin.db import session_scope
from tocsin.web.context import AppContext

PASSWORD = "correct horse battery"
#: Argon2 parameters that take a millisecond instead of a tenth of a second: the tests
#: sign in hundreds of times; the real parameters are tested on their own.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_hasher", lambda: CHEAP_HASHER)


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_user(
    context: AppContext,
    username: str,
    role: str = "responder",
    person: str | None = None,
    password: str = PASSWORD,
) -> None:
    with session_scope(context.sessions) as session:
        create_user(
            session=session,
            username=username,
            password=password,
            role=Role(role),
            person=person,
            now=context.clock.now(),
        )


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None, "the page has no form with a CSRF token"
    return match.group(1)


class Browser:
    """One browser: its own cookie jar; redirects are returned, not followed."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=10)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.http.close()

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def sign_in(
        self, username: str, password: str = PASSWORD, next_path: str | None = None
    ) -> httpx.Response:
        page = self.http.get("/login", params={"next": next_path} if next_path else None)
        assert page.status_code == 200
        fields = {"csrf_token": csrf_of(page.text), "username": username, "password": password}
        if next_path is not None:
            fields["next"] = next_path
        return self.http.post("/login", data=fields)

    def submit(
        self, page: str, action: str, fields: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """Post a form of ``page`` (its CSRF token included) to ``action``."""
        token = csrf_of(self.http.get(page).text)
        return self.http.post(action, data={"csrf_token": token, **(fields or {})})

    def follow(self, response: httpx.Response) -> httpx.Response:
        assert response.status_code == 303, response.text
        return self.http.get(response.headers["location"])
