"""The API's documentation pages work on a machine without internet access: Swagger UI
and ReDoc come from this server, and the browser is allowed nowhere else."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from playwright.sync_api import Page, Route
from tests.support.browser import TIMEOUT_MS, TocsinServer, screenshot


def _offline(page: Page) -> list[str]:
    """Refuse every request that does not go to this machine; the refused URLs."""
    refused: list[str] = []

    def handle(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    handler: Callable[[Route], None] = handle
    page.route("**/*", handler)
    return refused


def test_swagger_ui_shows_every_operation_offline(page: Page, tocsin: TocsinServer) -> None:
    refused = _offline(page)
    page.goto(f"{tocsin.url}/docs")
    operations = page.locator(".opblock-summary-method")
    operations.first.wait_for(timeout=3 * TIMEOUT_MS)  # 1.5 MB of script to run first
    document = page.request.get(f"{tocsin.url}/openapi.json").json()
    shown = [  # an operation is listed under each of its tags
        max(1, len(set(operation.get("tags", ()))))
        for methods in document["paths"].values()
        for operation in methods.values()
    ]
    assert operations.count() == sum(shown)
    assert page.get_by_text("/api/v1/incidents/{incident_id}/escalate").count() >= 1
    assert page.locator(".btn.authorize").is_visible()  # the bearer token can be entered
    screenshot(page, "api-docs-swagger")
    assert refused == []


def test_redoc_shows_the_reference_offline(page: Page, tocsin: TocsinServer) -> None:
    refused = _offline(page)
    page.goto(f"{tocsin.url}/redoc")
    page.locator("h1", has_text="Tocsin").first.wait_for(timeout=3 * TIMEOUT_MS)
    page.get_by_text("Alertmanager's webhook body (version 4).").first.wait_for()
    for operation in ("Escalate Incident", "Pagerduty Enqueue", "Heartbeat Ping"):
        assert page.get_by_text(operation).count() >= 1, operation
    assert refused == []
