"""Holding a downstream incident's pages while its upstream incident is open
(``hints.hold_downstream_pages``), over HTTP: held, not dropped — when the upstream
resolves and the downstream incident still waits for someone, it pages; if it was
resolved meanwhile, nobody is paged. The example policy (checkout-api depends on
payments-db) plus the option; the fake clock reads Monday 2026-03-02 09:00 UTC."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from tests.conftest import LiveServer
from tests.integration.test_hints import fire, hints_of, integration, kinds, ok, pages

from tocsin.policy import example_policy_text


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=live_server.url,
        timeout=30,
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
    ) as client:
        yield client


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    text = example_policy_text() + "\nhints:\n  hold_downstream_pages: true\n"
    path = tmp_path / "tocsin.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_held_downstream_pages_go_out_when_the_upstream_resolves(
    live_server: LiveServer, api: httpx.Client
) -> None:
    key = integration(api, "monitoring", "checkout-api")
    db = fire(api, key, "payments-db down", "payments-db")
    assert pages(api, db)
    live_server.clock.advance(timedelta(minutes=1))
    checkout = fire(api, key, "Checkout 5xx above 5%", "checkout-api")
    assert pages(api, checkout) == []
    assert "pages_held" in kinds(api, checkout)
    assert hints_of(api, checkout)["downstream_of"][0]["held"] is True

    ok(api.post(f"/api/v1/incidents/{db}/resolve"))
    assert "pages_released" in kinds(api, checkout)
    assert pages(api, checkout), "held pages go out once the upstream resolves"


def test_a_held_incident_resolved_meanwhile_never_pages(
    live_server: LiveServer, api: httpx.Client
) -> None:
    key = integration(api, "monitoring", "checkout-api")
    db = fire(api, key, "payments-db down", "payments-db")
    checkout = fire(api, key, "Checkout 5xx above 5%", "checkout-api")
    ok(api.post(f"/api/v1/incidents/{checkout}/resolve"))
    ok(api.post(f"/api/v1/incidents/{db}/resolve"))
    assert pages(api, checkout) == []
    assert "pages_released" not in kinds(api, checkout)
