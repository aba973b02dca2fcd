"""An incident's checklists on its page in real Chromium against a real `tocsin serve`:
a responder ticks an item and skips another with a reason, the page and the API agree,
and a viewer sees the lists without a button to change them."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from tests.support.browser import TocsinServer, declare

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple 42"


@pytest.fixture(scope="module")
def people(tocsin: TocsinServer) -> tuple[str, str]:
    """A responder acting as the policy's alice, and a viewer."""
    for name, role, person in (("rosa", "responder", "alice"), ("vic", "viewer", "bob")):
        created = tocsin.cli(
            "user", "create", name, "--role", role, "--person", person, "--password-stdin",
            stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr
    return "rosa", "vic"


def sign_in(page: Page, url: str, username: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{url}/dashboard")


def test_a_responder_ticks_and_skips_items_on_the_incident_page(
    tocsin: TocsinServer, people: tuple[str, str], page: Page
) -> None:
    with tocsin.api() as api:
        ref = declare(api, "Checkout errors", "SEV2", "checkout-api")
        tasks = api.get(f"/api/v1/incidents/{ref}/tasks").json()
    numbers = {i["text"]: i["number"] for c in tasks["checklists"] for i in c["items"]}
    assess = numbers["Assess the severity and change it if needed"]
    notify = numbers["Notify the stakeholders the severity calls for"]

    sign_in(page, tocsin.url, people[0])
    page.goto(f"{tocsin.url}/dashboard/incidents/{ref}")
    checklists = page.locator("#checklists")
    expect(checklists.get_by_role("heading", name="Immediate actions")).to_be_visible()
    item = checklists.locator(f'[data-task="{assess}"]')
    expect(item).to_have_attribute("data-state", "open")

    item.get_by_role("button", name="Done").click()
    expect(page.locator(".flash")).to_contain_text(f"Ticked {assess}.")
    item = page.locator(f'#checklists [data-task="{assess}"]')
    expect(item).to_have_attribute("data-state", "done")
    expect(item).to_contain_text("done by alice")
    expect(item.get_by_role("button", name="Done")).to_have_count(0)

    skip = page.locator(f'#checklists [data-task="{notify}"]')
    skip.get_by_label(f"Why skip item {notify}").fill("a SEV2 has no stakeholders to tell")
    skip.get_by_role("button", name="Skip").click()
    skip = page.locator(f'#checklists [data-task="{notify}"]')
    expect(skip).to_have_attribute("data-state", "skipped")
    expect(skip).to_contain_text("skipped by alice: a SEV2 has no stakeholders to tell")

    with tocsin.api() as api:
        after = api.get(f"/api/v1/incidents/{ref}/tasks").json()
        timeline = api.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]
    by_number = {i["number"]: i for c in after["checklists"] for i in c["items"]}
    assert (by_number[assess]["state"], by_number[assess]["settled_by"]) == ("done", "alice")
    assert by_number[notify]["reason"] == "a SEV2 has no stakeholders to tell"
    assert {(e["kind"], e["actor"]) for e in timeline} >= {
        ("checklist_ticked", "alice"),
        ("checklist_skipped", "alice"),
    }


def test_a_viewer_sees_the_lists_but_cannot_tick(
    tocsin: TocsinServer, people: tuple[str, str], page: Page
) -> None:
    with tocsin.api() as api:
        ref = declare(api, "Login slow", "SEV3", "auth-service")
    sign_in(page, tocsin.url, people[1])
    page.goto(f"{tocsin.url}/dashboard/incidents/{ref}")
    checklists = page.locator("#checklists")
    expect(checklists.get_by_role("heading", name="Resolution")).to_be_visible()
    expect(checklists.locator("[data-state=open]").first).to_be_visible()
    expect(checklists.get_by_role("button")).to_have_count(0)
