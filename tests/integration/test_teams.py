"""Microsoft Teams: Adaptive Cards POSTed by the delivery worker to a local receiver
standing in for an incoming webhook / Workflows URL, which comes from the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.delivery_harness import ChannelHarness
from tests.support.receivers import WebhookReceiver

from tocsin.clock import FakeClock
from tocsin.web.context import AppContext

BROADCAST = """
broadcasts:
  - name: incidents
    to: [{channel: teams, target: incidents}]
"""
CHANNEL = "channels:\n  teams: {type: teams, url_env: TOCSIN_TEST_TEAMS_URL}\n"


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "tocsin.db"
    target.write_bytes(sqlite_template.read_bytes())
    return f"sqlite:///{target}"


@pytest.fixture
def teams() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def h(
    app_context: AppContext, clock: FakeClock, teams: WebhookReceiver
) -> Iterator[ChannelHarness]:
    env = {
        "TOCSIN_TEST_TEAMS_URL": teams.url + "?sig=s3cr3t",
        "TOCSIN_PUBLIC_URL": "https://tocsin.example.com/",
    }
    harness = ChannelHarness(app_context, clock, env)
    yield harness
    harness.delivery.shutdown()


def test_incident_announcements_arrive_as_adaptive_cards(
    h: ChannelHarness, teams: WebhookReceiver
) -> None:
    h.configure(CHANNEL + BROADCAST)
    ref = h.declare("SEV1", title="Payments <failing>")
    h.at(1)
    h.act(ref, "resolve")
    h.at(2)

    declared, resolved = (r.json() for r in teams.requests)
    assert declared["type"] == "message"
    [attachment] = declared["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, facts, text = card["body"]
    assert title["text"] == "[SEV1] Incident declared: Payments <failing>"
    assert title["color"] == "Attention"
    assert facts["facts"] == [
        {"title": "Incident", "value": ref},
        {"title": "Title", "value": "Payments <failing>"},
        {"title": "Severity", "value": "SEV1"},
        {"title": "Status", "value": "triggered"},
    ]
    assert f"Incident ID: {ref}" in text["text"] and text["wrap"] is True
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open incident",
            "url": f"https://tocsin.example.com/dashboard/incidents/{ref}",
        }
    ]
    resolved_card = resolved["attachments"][0]["content"]
    assert resolved_card["body"][0]["text"] == f"[RESOLVED] {ref}: Payments <failing>"
    assert resolved_card["body"][1]["facts"][3] == {"title": "Status", "value": "resolved"}


def test_429_waits_5xx_retries_4xx_is_final_and_the_url_stays_secret(
    h: ChannelHarness, teams: WebhookReceiver
) -> None:
    h.configure(CHANNEL + BROADCAST)
    teams.script = [(429, {"Retry-After": "90"}), 503]
    h.declare("SEV2")
    h.at(1)
    assert [r.status for r in teams.requests] == [429]
    [waiting] = h.deliveries("teams")
    assert waiting.state == "pending"
    assert waiting.delay_reason == "rate-limited by the receiver: retry after 1m30s"
    h.at(3)
    assert [r.status for r in teams.requests] == [429, 503, 200]
    assert h.deliveries("teams")[0].state == "sent"

    teams.script = [400]
    h.declare("SEV3")
    h.at(4)
    failed = h.deliveries("teams")[-1]
    assert (failed.state, failed.last_error) == ("failed", "HTTP 400")

    teams.script = [502]  # perhaps posted: never a blind second card
    h.declare("SEV3", title="Queue backlog")
    h.at(6)
    unknown = h.deliveries("teams")[-1]
    assert unknown.state == "failed" and "may have been posted" in (unknown.last_error or "")
    assert [r.status for r in teams.requests][-2:] == [400, 502]
    assert "s3cr3t" not in (failed.last_error or "")
