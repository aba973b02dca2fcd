"""Whatever a parser accepts, the pipeline stores, on SQLite and on PostgreSQL.

An endpoint answers 2xx only after ``ingest`` committed, so an exception here would be
a 500 for a body the client was right to send. Hypothesis builds bodies of every shape
(odd text: NUL, lone surrogates, huge and non-finite numbers, deep nesting), each
source's parser takes what it accepts, and every accepted batch must be stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert
from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.ingest import IngestError, parse_alertmanager, parse_generic, parse_pd_event
from tocsin.web.context import AppContext

text = st.text(
    alphabet=st.characters(codec=None, blacklist_categories=()), max_size=20
) | st.sampled_from(["", "\x00", "\ud800", "critical", "firing", "resolved", "checkout"])
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
    max_leaves=12,
)
labels = st.dictionaries(
    st.sampled_from(["alertname", "service", "severity", "instance", "x\x00", "\ud83d"]) | text,
    text,
    min_size=1,
    max_size=4,
)
alert = st.fixed_dictionaries(
    {"status": st.sampled_from(["firing", "resolved"]), "labels": labels},
    optional={
        "annotations": st.dictionaries(text, text, max_size=3),
        "startsAt": st.sampled_from(["2026-03-02T08:00:00Z", "9999-12-31T23:59:59Z", ""]),
        "fingerprint": text,
        "generatorURL": text,
        "extra": json_values,
    },
)
alertmanager_bodies = st.fixed_dictionaries(
    {"status": st.just("firing"), "alerts": st.lists(alert, min_size=1, max_size=4)}
)
generic_bodies = st.fixed_dictionaries(
    {"title": text},
    optional={
        "status": st.sampled_from(["firing", "resolved"]),
        "labels": st.dictionaries(text, scalars, max_size=3),
        "details": st.dictionaries(text, json_values, max_size=3),
        "dedup_key": text,
        "severity": text,
        "source_url": text,
    },
)
pd_bodies = st.fixed_dictionaries(
    {
        "routing_key": st.just("key"),
        "event_action": st.sampled_from(["trigger", "acknowledge", "resolve"]),
        "payload": st.fixed_dictionaries(
            {
                "summary": text,
                "source": text,
                "severity": st.sampled_from(["critical", "error", "warning", "info"]),
            },
            optional={"custom_details": json_values, "component": text, "class": text},
        ),
    },
    optional={"dedup_key": text, "links": st.lists(st.fixed_dictionaries({"href": text}))},
)


def _events(source: str, body: Any) -> list[Any]:
    if source == "alertmanager":
        return list(parse_alertmanager(body))
    if source == "generic":
        return parse_generic(body)
    return [parse_pd_event(body)[1]]


@pytest.fixture
def integration_key(app_context: AppContext, clock: FakeClock) -> Iterator[str]:
    with session_scope(app_context.sessions) as session:
        _, key = alerts.create_integration(
            session=session,
            policy=app_context.policy.current,
            name="anything",
            service="checkout-api",
            kind="generic",
            now=clock.now(),
        )
    yield key


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batches=st.lists(
        st.one_of(
            st.tuples(st.just("alertmanager"), alertmanager_bodies),
            st.tuples(st.just("generic"), generic_bodies),
            st.tuples(st.just("pd"), pd_bodies),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_every_accepted_body_is_stored(
    app_context: AppContext, clock: FakeClock, integration_key: str, batches: list[Any]
) -> None:
    for source, body in batches:
        try:
            events = _events(source, body)
        except IngestError:
            event(f"{source}: refused by the parser")
            continue
        event(f"{source}: accepted")
        with session_scope(app_context.sessions) as session:
            integration = alerts.find_integration(session=session, key=integration_key)
            assert integration is not None
            results = alerts.ingest(
                session=session,
                policy=app_context.policy.current,
                integration=integration,
                events=events,
                now=clock.now(),
            )
        assert len(results) == len(events)
        stored = [r.alert_id for r in results if r.alert_id is not None]
        with session_scope(app_context.sessions, write=False) as session:
            count = session.scalar(select(func.count()).where(Alert.id.in_(stored)))
        assert count == len(set(stored))
