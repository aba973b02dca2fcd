"""HTTP clients of the ``live_server`` with a token of a given role and person.

``api`` is a responder who is the policy's alice; a module that needs someone else
overrides it with ``api_as``::

    @pytest.fixture
    def api(api_as: ApiAs) -> httpx.Client:
        return api_as("admin")

``api_as(role, person, headers=...)`` may also be called in a test for a second client
(a viewer next to the responder, say). Every client it made is closed after the test.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Protocol

import httpx
import pytest

if TYPE_CHECKING:
    from tests.conftest import LiveServer

__all__ = ["ApiAs", "api", "api_as", "live_client"]

TIMEOUT_SECONDS = 30


class ApiAs(Protocol):
    def __call__(
        self,
        role: str = "responder",
        person: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Client: ...


def live_client(url: str, token: str, headers: Mapping[str, str] | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
        timeout=TIMEOUT_SECONDS,
    )


@pytest.fixture
def api_as(live_server: LiveServer) -> Iterator[ApiAs]:
    """A factory of clients: ``api_as("admin")`` uses the server's admin token,
    ``api_as("viewer", "bob")`` a fresh token of that role acting for that person."""
    made: list[httpx.Client] = []

    def make(
        role: str = "responder",
        person: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Client:
        if role == "admin" and person is None:
            token = live_server.admin_token
        else:
            token = live_server.make_token(role, person)
        client = live_client(live_server.url, token, headers)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def api(api_as: ApiAs) -> httpx.Client:
    """A responder who is the policy's alice."""
    return api_as("responder", "alice")
