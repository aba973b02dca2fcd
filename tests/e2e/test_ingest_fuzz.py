"""Whatever a client sends to the inbound endpoints of a live server, the answer is
never a 5xx, and every alert answered 2xx is stored and listed by the API.

Hypothesis sends near-valid bodies of each source (odd text: NUL, lone surrogates,
huge and non-finite numbers, deep nesting), arbitrary JSON, and arbitrary bytes
under arbitrary content types, with good, unknown and odd keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tests.conftest import LiveServer

text = st.text(max_size=12) | st.sampled_from(
    ["", "\x00", "\ud800", "critical", "firing", "resolved", "checkout", "x" * 300]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | text
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=10,
)
#: Non-blank text, odd on purpose (NUL, lone surrogates, long), for fields that need one.
some_text = st.text(min_size=1, max_size=12).filter(str.strip) | st.sampled_from(
    ["x\x00y", "\ud800", "critical", "checkout", "y" * 300, "\u00e9t\u00e9"]
)
label_maps = st.dictionaries(
    st.sampled_from(["alertname", "service", "severity", "instance"]) | text, text, max_size=4
)
am_alert = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["firing", "resolved"]),
        "labels": st.dictionaries(
            st.sampled_from(["alertname", "service", "severity", "instance"]) | some_text,
            text,
            min_size=1,
            max_size=4,
        ),
    },
    optional={
        "annotations": st.dictionaries(text, text, max_size=3),
        "startsAt": st.sampled_from(["2026-03-02T08:00:00Z", "0001-01-01T00:00:00Z", ""]),
        "endsAt": st.sampled_from(["2026-03-02T09:00:00.123456789Z", "9999-12-31T23:59:59Z"]),
        "fingerprint": text,
        "generatorURL": text,
        "dashboardURL": text,
        "extra": json_values,
    },
)
#: Anything shaped roughly like an alert: wrong types, missing fields.
odd_alert = st.fixed_dictionaries(
    {"status": st.sampled_from(["firing", "resolved"]) | text, "labels": label_maps | scalars},
    optional={"annotations": json_values, "startsAt": text | scalars, "fingerprint": scalars},
)
webhook_bodies = st.fixed_dictionaries(
    {"alerts": st.lists(am_alert, min_size=1, max_size=3)},
    optional={"status": st.sampled_from(["firing", "resolved"]), "truncatedAlerts": scalars},
) | st.fixed_dictionaries({"alerts": st.lists(odd_alert | am_alert, max_size=3) | json_values})
generic_bodies = st.fixed_dictionaries(
    {"title": some_text},
    optional={
        "status": st.sampled_from(["firing", "resolved"]),
        "labels": st.dictionaries(text, scalars, max_size=3),
        "details": st.dictionaries(text, json_values, max_size=3),
        "dedup_key": text,
        "severity": text,
        "source_url": text,
    },
) | st.fixed_dictionaries({"alerts": st.lists(st.dictionaries(text, scalars, max_size=3))})
pd_trigger = st.fixed_dictionaries(
    {
        "event_action": st.just("trigger"),
        "payload": st.fixed_dictionaries(
            {
                "summary": some_text,
                "source": some_text,
                "severity": st.sampled_from(["critical", "error", "warning", "info"]),
            },
            optional={
                "custom_details": json_values,
                "component": text,
                "timestamp": st.sampled_from(["2026-03-02T08:59:00+01:00", "bad"]),
            },
        ),
    },
    optional={
        "dedup_key": text,
        "links": st.lists(st.fixed_dictionaries({"href": some_text}), max_size=2),
        "images": st.lists(st.fixed_dictionaries({"src": some_text}), max_size=2),
        "client_url": text,
    },
)
pd_follow_up = st.fixed_dictionaries(
    {"event_action": st.sampled_from(["acknowledge", "resolve"]), "dedup_key": some_text}
)
pd_odd = st.dictionaries(
    st.sampled_from(["event_action", "payload", "dedup_key", "links", "images"]),
    json_values,
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/problem+json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
    ]
)
odd_keys = st.sampled_from(["tcsi_unknown", "%2F", "..", "a" * 300, "\u00e9", "tcsi_"]) | text


def encode(body: Any) -> bytes:
    """JSON as a lenient client writes it: lone surrogates escaped, NaN as NaN."""
    return json.dumps(body, ensure_ascii=True, allow_nan=True).encode()


@dataclass
class Target:
    server: LiveServer
    client: httpx.Client
    keys: dict[str, str]
    alert_ids: set[int] = field(default_factory=set)
    pd_keys: set[str] = field(default_factory=set)

    def post(self, path: str, content: bytes, content_type: str = "application/json") -> Any:
        headers = {"content-type": content_type} if content_type else {}
        answer = self.client.post(path, content=content, headers=headers)
        assert answer.status_code < 500, (path, content[:300], answer.status_code, answer.text)
        event(f"HTTP {answer.status_code}")
        return answer

    def accepted_alerts(self, answer: httpx.Response) -> None:
        if answer.status_code // 100 != 2:
            return
        for alert in answer.json()["alerts"]:
            assert alert["id"] is not None, answer.text
            self.alert_ids.add(alert["id"])
            found = self.client.get(f"/api/v1/alerts/{alert['id']}")
            assert found.status_code == 200, found.text


@pytest.fixture
def target(live_server: LiveServer) -> Iterator[Target]:
    with httpx.Client(
        base_url=live_server.url,
        timeout=30,
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
    ) as client:
        keys = {}
        for kind, extra in (
            ("alertmanager", {}),
            ("pagerduty", {}),
            ("heartbeat", {"heartbeat_interval": "5m"}),
        ):
            body = {"name": kind, "service": "checkout-api", "kind": kind, **extra}
            keys[kind] = client.post("/api/v1/integrations", json=body).json()["key"]
        target = Target(live_server, client, keys)
        yield target
        _everything_accepted_is_listed(target)


def _everything_accepted_is_listed(target: Target) -> None:
    listed: list[dict[str, Any]] = []
    while True:
        page = target.client.get(
            "/api/v1/alerts", params={"limit": 500, "offset": len(listed)}
        ).json()
        listed += page["items"]
        if len(listed) >= page["total"] or not page["items"]:
            break
    assert target.alert_ids <= {a["id"] for a in listed}
    pd_listed = {a["dedup_key"] for a in listed if a["integration"] == "pagerduty"}
    assert target.pd_keys <= pd_listed


FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(
    endpoint=st.sampled_from(["alertmanager", "grafana", "events"]),
    body=st.one_of(webhook_bodies, webhook_bodies, generic_bodies, generic_bodies, json_values),
    key=st.one_of(st.none(), st.none(), st.none(), odd_keys),
)
def test_webhooks_never_fail_and_store_what_they_accept(
    target: Target, endpoint: str, body: Any, key: str | None
) -> None:
    used = target.keys["alertmanager"] if key is None else key
    path = quote(used.encode("utf-8", "surrogatepass"), safe="")
    answer = target.post(f"/api/v1/integrations/{path}/{endpoint}", encode(body))
    target.accepted_alerts(answer)


@FUZZ
@given(
    body=st.one_of(pd_trigger, pd_trigger, pd_follow_up, pd_odd, json_values),
    routing_key=st.one_of(st.none(), st.none(), st.none(), odd_keys, scalars),
)
def test_pagerduty_never_fails_and_stores_what_it_accepts(
    target: Target, body: Any, routing_key: Any
) -> None:
    if isinstance(body, dict):
        body = {
            **body,
            "routing_key": target.keys["pagerduty"] if routing_key is None else routing_key,
        }
    answer = target.post("/v2/enqueue", encode(body))
    payload = answer.json()
    if answer.status_code == 202:
        assert payload["status"] == "success" and payload["dedup_key"]
        # an acknowledge or resolve for an unknown alert stores none, as at PagerDuty
        if body.get("event_action") == "trigger":
            target.pd_keys.add(payload["dedup_key"])
    else:
        assert payload["status"] in {"invalid event"}, payload


@FUZZ
@given(
    path=st.sampled_from(
        [
            "/api/v1/integrations/{key}/alertmanager",
            "/api/v1/integrations/{key}/grafana",
            "/api/v1/integrations/{key}/events",
            "/v2/enqueue",
            "/api/v1/heartbeats/{key}",
            "/api/v1/heartbeats/{beat}",
        ]
    ),
    content=st.binary(max_size=200) | json_values.map(encode),
    content_type=content_types,
)
def test_any_bytes_under_any_content_type(
    target: Target, path: str, content: bytes, content_type: str
) -> None:
    url = path.format(key=target.keys["alertmanager"], beat=target.keys["heartbeat"])
    answer = target.post(url, content, content_type)
    if "integrations" in url:
        target.accepted_alerts(answer)
