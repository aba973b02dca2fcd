"""PagerDuty forwarding: PagerDuty's official client, driven by the delivery worker,
against a local Events API v2 over HTTPS (a throwaway CA the channel's ``ca_file``
trusts). The incident's trigger, acknowledgement and resolution each reach PagerDuty
once, under one dedup_key, in order, whatever the Events API answered in between."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.delivery_harness import ChannelHarness
from tests.support.pagerduty_api import PagerDutyApi

from tocsin.clock import FakeClock
from tocsin.web.context import AppContext

ROUTING_KEY = "R0UT1NGKEY0123456789abcdef012345"
TEAM_KEY = "TEAMKEY0123456789abcdef012345678"
ENV = {
    "TOCSIN_TEST_PD_KEY": ROUTING_KEY,
    "TOCSIN_TEST_PD_TEAM_KEY": TEAM_KEY,
    "TOCSIN_PUBLIC_URL": "https://tocsin.example.com",
}

BROADCAST = """
broadcasts:
  - name: pager
    severities: [SEV1, SEV2]
    events: {declared: initial_announcement, acknowledged: update, resolved: resolution,
             reopened: initial_announcement}
    to: [{channel: pagerduty, target: ops}]
"""


def channel(api: PagerDutyApi, **extra: str) -> str:
    settings = "".join(f", {k}: {v}" for k, v in extra.items())
    return (
        "channels:\n"
        f"  pagerduty: {{type: pagerduty, routing_key_env: TOCSIN_TEST_PD_KEY, "
        f"base_url: '{api.url}', ca_file: '{api.tls.ca}'{settings}}}\n"
    )


pytestmark = pytest.mark.postgres  # every test here runs on PostgreSQL only


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def pd(tmp_path: Path) -> Iterator[PagerDutyApi]:
    api = PagerDutyApi(tmp_path / "tls", routing_keys={ROUTING_KEY, TEAM_KEY}).start()
    yield api
    api.stop()


@pytest.fixture
def h(app_context: AppContext, clock: FakeClock) -> Iterator[ChannelHarness]:
    harness = ChannelHarness(app_context, clock, ENV)
    yield harness
    harness.delivery.shutdown()


def test_trigger_acknowledge_resolve_once_each_under_one_dedup_key(
    h: ChannelHarness, pd: PagerDutyApi
) -> None:
    h.configure(channel(pd) + BROADCAST)
    pd.script = [500]  # the first trigger fails; the worker retries it
    ref = h.declare("SEV1", title="Checkout API 5xx")
    h.at(1)
    h.act(ref, "ack")
    h.at(2)
    h.act(ref, "resolve")
    h.at(3)

    key = f"tocsin-{ref}"
    assert [e.status for e in pd.events] == [500, 202, 202, 202]
    assert pd.accepted == [("trigger", key), ("acknowledge", key), ("resolve", key)]
    trigger = pd.events[1].body
    assert trigger["routing_key"] == ROUTING_KEY
    assert trigger["payload"]["summary"] == f"[SEV1] {ref}: Checkout API 5xx"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["source"] == "tocsin"
    details = trigger["payload"]["custom_details"]
    assert details["incident"] == ref and details["status"] == "triggered"
    assert "Incident declared: Checkout API 5xx" in details["message"]
    assert trigger["links"] == [
        {
            "href": f"https://tocsin.example.com/dashboard/incidents/{ref}",
            "text": f"{ref} in Tocsin",
        }
    ]
    assert [d.state for d in h.deliveries("pagerduty")] == ["sent"] * 3


def test_a_broadcast_without_a_target_uses_the_channel_routing_key(
    h: ChannelHarness, pd: PagerDutyApi
) -> None:
    # As in the example policy: `to: [{channel: pagerduty}]`.
    h.configure(channel(pd) + BROADCAST.replace(", target: ops", ""))
    ref = h.declare("SEV1")
    h.at(1)
    assert pd.accepted == [("trigger", f"tocsin-{ref}")]
    assert pd.events[0].body["routing_key"] == ROUTING_KEY
    assert [d.state for d in h.deliveries("pagerduty")] == ["sent"]


def test_a_late_trigger_never_reopens_what_was_acknowledged_or_resolved(
    h: ChannelHarness, pd: PagerDutyApi
) -> None:
    h.configure(channel(pd) + BROADCAST)
    pd.script = [(429, {"Retry-After": "120"})]
    ref = h.declare("SEV2")
    h.at(0.5)  # the trigger waits out the rate limit ...
    h.act(ref, "ack")  # ... while the incident is acknowledged
    h.at(5)
    key = f"tocsin-{ref}"
    # The acknowledgement waited behind the channel's rate limit too; the trigger, sent
    # once the incident was acknowledged, is followed by an acknowledge at once.
    assert pd.accepted == [("trigger", key), ("acknowledge", key), ("acknowledge", key)]
    assert pd.events[1].body["payload"]["severity"] == "error"

    second = h.declare("SEV1", title="Queue stuck")
    pd.script = [503]
    h.at(5.1)
    h.act(second, "resolve")
    h.at(10)
    later = [a for a in pd.accepted if a[1] == f"tocsin-{second}"]
    assert later == [("resolve", f"tocsin-{second}")]  # nobody paged for a resolved incident


def test_pages_by_notification_rule_trigger_and_targets_pick_routing_keys(
    h: ChannelHarness, pd: PagerDutyApi
) -> None:
    h.configure(
        channel(pd, routing_key_envs="{platform: TOCSIN_TEST_PD_TEAM_KEY}")
        + "notification_rules:\n  alice:\n"
        + "    - kinds: [page]\n      notify: [{channel: pagerduty}]\n"
        + BROADCAST.replace("target: ops", "target: '{team}'").replace("[SEV1, SEV2]", "[SEV1]")
    )
    ref = h.declare("SEV2")  # no broadcast for SEV2: only alice's page
    h.at(1)
    [page] = pd.events
    assert (page.action, page.dedup_key) == ("trigger", f"tocsin-{ref}")
    assert page.body["routing_key"] == ROUTING_KEY
    assert page.body["payload"]["custom_details"]["paged"] == "alice"

    sev1 = h.declare("SEV1")
    h.at(2)
    broadcast = [e for e in pd.events if e.dedup_key == f"tocsin-{sev1}"]
    assert {e.body["routing_key"] for e in broadcast} == {ROUTING_KEY, TEAM_KEY}


def test_refusals_are_dead_letters_that_never_show_the_routing_key(
    h: ChannelHarness, pd: PagerDutyApi
) -> None:
    h.configure(channel(pd) + BROADCAST)
    pd.routing_keys.clear()  # PagerDuty no longer knows the key
    ref = h.declare("SEV1")
    h.at(1)
    [delivery] = h.deliveries("pagerduty")
    assert delivery.state == "failed"
    assert delivery.last_error == "trigger: HTTP 400: invalid event; Invalid routing key"
    assert ROUTING_KEY not in (delivery.last_error or "")
    assert len(pd.events) == 1

    # Without its routing key the channel is not configured: nothing is forwarded, and
    # nothing more fails.
    h.configure(channel(pd).replace("TOCSIN_TEST_PD_KEY", "TOCSIN_TEST_UNSET") + BROADCAST)
    h.act(ref, "ack")
    h.at(2)
    assert [d.state for d in h.deliveries("pagerduty")] == ["failed"]
    assert len(pd.events) == 1
