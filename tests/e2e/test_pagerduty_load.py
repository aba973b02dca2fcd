"""Many PagerDuty events at once: 1,000 triggers with 1,000 dedup_keys from four
concurrent senders (PagerDuty's official client, over TLS) open 1,000 incidents, and
sending them all again only counts repeats on the same 1,000 alerts.

Alert-storm collapsing is switched off in this policy: the claim here is PagerDuty's
contract (a new dedup_key is a new alert and incident), not the storm rule, which
would otherwise fold such a burst into one storm incident.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pagerduty
from tests.support.tls_serve import TlsTocsin

from tocsin.policy import example_policy_text

EVENTS = 1_000
SENDERS = 4


def policy() -> str:
    text = example_policy_text()
    assert "  storm:\n    enabled: true\n" in text
    return text.replace("  storm:\n    enabled: true\n", "  storm:\n    enabled: false\n", 1)


def send_share(tocsin: TlsTocsin, key: str, share: range) -> list[str]:
    """One sender: its share of the dedup_keys, one event each, in order."""
    client = pagerduty.EventsApiV2Client(key, base_url=tocsin.base, verify=tocsin.trust())
    with client:
        return [
            client.trigger(
                f"Host node-{n:04d} unreachable",
                f"node-{n:04d}",
                dedup_key=f"node-{n:04d}/ping",
                severity="warning",
            )
            for n in share
        ]


def send_all(tocsin: TlsTocsin, key: str) -> tuple[list[str], float]:
    shares = [range(i, EVENTS, SENDERS) for i in range(SENDERS)]
    started = time.monotonic()
    with ThreadPoolExecutor(SENDERS) as pool:
        answered = [
            k for keys in pool.map(lambda s: send_share(tocsin, key, s), shares) for k in keys
        ]
    return answered, time.monotonic() - started


def test_a_thousand_dedup_keys_from_concurrent_senders(tmp_path: Path) -> None:
    with TlsTocsin(tmp_path, policy(), "--no-worker") as tocsin:
        key = tocsin.integration("fleet", "pagerduty")
        first, first_seconds = send_all(tocsin, key)
        expected = {f"node-{n:04d}/ping" for n in range(EVENTS)}
        assert len(first) == EVENTS and set(first) == expected
        assert tocsin.get("/api/v1/incidents", limit=1)["total"] == EVENTS

        again, again_seconds = send_all(tocsin, key)
        assert set(again) == expected
        incidents = tocsin.incidents()
        assert len(incidents) == EVENTS
        assert {i["title"] for i in incidents} == {
            f"Host node-{n:04d} unreachable" for n in range(EVENTS)
        }
        alerts = [
            alert
            for offset in range(0, EVENTS, 500)
            for alert in tocsin.get("/api/v1/alerts", limit=500, offset=offset)["items"]
        ]
        assert len(alerts) == EVENTS
        assert {a["dedup_key"] for a in alerts} == expected
        assert {a["occurrences"] for a in alerts} == {2}
        assert len({a["incident"] for a in alerts}) == EVENTS
    print(
        json.dumps(
            {
                "new_events_per_second": round(EVENTS / first_seconds),
                "repeat_events_per_second": round(EVENTS / again_seconds),
                "senders": SENDERS,
            }
        )
    )
