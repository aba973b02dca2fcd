"""The incident's Slack channel hears of its likely causes: the pinned summary lists
the upstream incident, the ranked hints and the recent changes to its services and
their dependencies; a responder's verdict on a hint is posted in the channel. Through
the real delivery worker against a local server speaking Slack's Web API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from tests.integration.test_slack_channel import POLICY, TOKEN, Harness, _channel_calls
from tests.support.slack_api import SlackApi

from tocsin.changes import service as changes
from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.hints import service as hints
from tocsin.incidents import service
from tocsin.web.context import AppContext

SERVICES = """services:
  - {name: api, escalation_policy: main, depends_on: [db]}
  - {name: db, escalation_policy: main}
"""


class HintHarness(Harness):
    def configure(self, extra: str = "") -> None:
        path = self.context.policy.path
        assert path is not None
        text = POLICY.replace("services:\n  - {name: api, escalation_policy: main}\n", SERVICES)
        assert "depends_on: [db]" in text
        text = text.replace("{base_url}", self.api.base_url).replace("{extra}", extra)
        path.write_text(text, encoding="utf-8")
        self.context.policy.reload()

    def record_change(self, summary: str, minutes_ago: int) -> None:
        with session_scope(self.context.sessions) as session:
            now = self.clock.now()
            changes.record_change(
                session=session,
                service="db",
                integration=None,
                summary=summary,
                source="ci",
                timestamp=now - timedelta(minutes=minutes_ago),
                links=[{"href": "https://ci.example.com/builds/9", "text": "Build 9"}],
                custom_details=None,
                now=now,
            )

    def decide(self, ref: str, *, confirm: bool) -> None:
        with session_scope(self.context.sessions) as session:
            incident = service.get(session=session, ref=ref)
            top = hints.hints_for(session=session, incident=incident)[0]
            hints.decide(
                session=session,
                policy=self.context.policy.current,
                incident=incident,
                hint_id=top.id,
                confirm=confirm,
                actor="alice",
                now=self.clock.now(),
            )


@pytest.fixture
def slack_api() -> Iterator[SlackApi]:
    with SlackApi(token=TOKEN) as api:
        yield api


@pytest.fixture
def harness(
    app_context: AppContext, clock: FakeClock, slack_api: SlackApi
) -> Iterator[HintHarness]:
    h = HintHarness(app_context, clock, slack_api)
    h.configure()
    yield h
    h.delivery.shutdown()


def _text(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(str(b.get("text", {}).get("text", "")) for b in blocks)


def test_the_pinned_summary_lists_likely_causes_and_recent_changes(
    harness: HintHarness, slack_api: SlackApi
) -> None:
    harness.record_change("Deploy db 7.1", minutes_ago=3)
    ref = harness.declare()
    harness.advance(1)
    calls = _channel_calls(slack_api)
    summary = next(p for m, p in calls if m == "chat.postMessage")
    text = _text(summary["blocks"])
    assert "*Likely causes*" in text and "Deploy db 7.1 on db, a dependency" in text
    assert "*Recent changes*" in text and "db: Deploy db 7.1" in text

    before = len(slack_api.calls)
    harness.decide(ref, confirm=True)
    harness.advance(1)
    after = [(c.method, c.params) for c in slack_api.calls[before:]]
    assert [m for m, _ in after] == ["chat.postMessage", "chat.update"]
    assert after[0][1]["text"].startswith("*Cause confirmed* by alice: Deploy db 7.1 on db")
    assert "confirmed: Deploy db 7.1" in _text(after[1][1]["blocks"])
