"""Downstream links stay bounded when many incidents are open: a new incident is linked
to the oldest open incident of each service it depends on, and an open incident that is
already downstream of an open one is not gathered again by every later upstream
incident. (Linking every open incident made each declaration cost more than the last:
200 declarations took 158 s.) The example policy: checkout-api depends on payments-db."""

from __future__ import annotations

from datetime import timedelta

import httpx
from tests.conftest import LiveServer
from tests.integration.test_hints import api, hints_of, ok

__all__ = ["api"]


def declare(api: httpx.Client, title: str, service: str) -> str:
    body = {"title": title, "severity": "sev2", "services": [service]}
    ref: str = ok(api.post("/api/v1/incidents", json=body), 201)["id"]
    return ref


def test_many_open_upstream_incidents_make_one_link_each_way(
    live_server: LiveServer, api: httpx.Client
) -> None:
    databases = []
    for number in range(30):
        databases.append(declare(api, f"payments-db replica {number} down", "payments-db"))
        live_server.clock.advance(timedelta(seconds=5))
    checkout = declare(api, "Checkout 5xx above 5%", "checkout-api")
    assert [u["incident"] for u in hints_of(api, checkout)["downstream_of"]] == [databases[0]]

    # a later database incident finds the checkout incident already below an open one
    later = declare(api, "payments-db primary down", "payments-db")
    assert hints_of(api, later)["upstream_of"] == []
    assert [d["incident"] for d in hints_of(api, databases[0])["upstream_of"]] == [checkout]
    assert all(hints_of(api, ref)["upstream_of"] == [] for ref in databases[1:])
