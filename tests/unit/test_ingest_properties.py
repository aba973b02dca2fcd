"""Whatever JSON a client sends, each parser gives events or an IngestError: never
another exception (which the HTTP layer would turn into a 500)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from tocsin.ingest import (
    ACTIONS,
    AlertEvent,
    IngestError,
    parse_alertmanager,
    parse_generic,
    parse_grafana,
    parse_pd_change,
    parse_pd_event,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=15,
)
offsets = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7))])
times = st.one_of(
    st.datetimes(timezones=offsets).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),  # no offset
    st.sampled_from(
        [
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
            "9999-12-31T23:59:59-05:00",  # after year 9999 in UTC
            "2026-11-23T03:22:33.808065505Z",
            "2026-02-30T00:00:00Z",
            "",
        ]
    ),
    st.text(max_size=30),
)
label_maps = st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=4)


def objects(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    """Well-formed objects: every required key, some optional ones, an unknown key
    now and then (sources add fields across versions)."""
    return st.builds(
        lambda known, extra: {**extra, **known},
        st.fixed_dictionaries(required, optional=optional),
        st.dictionaries(st.text(max_size=6), json_values, max_size=1),
    )


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def broken(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> Any:
    """A well-formed body with one value replaced by any JSON, or removed."""
    body = copy.deepcopy(draw(valid))
    path = draw(st.sampled_from(_paths(body)))
    if not path:
        return draw(json_values)
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return body


def bodies(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(json_values, valid, broken(valid))


text = st.text(max_size=20)
nonblank = st.text(min_size=1, max_size=20).filter(str.strip)
am_alert = objects(
    {
        "status": st.sampled_from(["firing", "resolved"]),
        "labels": st.dictionaries(text, text, min_size=1, max_size=4),
    },
    {
        "annotations": label_maps,
        "startsAt": times,
        "endsAt": times,
        "fingerprint": text,
        "generatorURL": text,
        "silenceURL": text,
        "dashboardURL": text,
        "panelURL": text,
        "imageURL": text,
    },
)
am_body = bodies(
    objects(
        {"alerts": st.lists(am_alert, max_size=3)},
        {
            "status": st.sampled_from(["firing", "resolved"]),
            "receiver": text,
            "groupKey": text,
            "truncatedAlerts": st.integers(min_value=0),
            "externalURL": text,
            "commonLabels": label_maps,
        },
    )
)


def _instances(alerts: list[tuple[dict[str, str], dict[str, str]]]) -> str:
    """Alertmanager's ``pagerduty.default.instances`` text for ``alerts``."""
    text = ""
    for labels, notes in alerts:
        text += "Labels:\n" + "".join(f" - {k} = {v}\n" for k, v in labels.items())
        text += "Annotations:\n" + "".join(f" - {k} = {v}\n" for k, v in notes.items())
        text += "Source: http://prometheus/graph\n"
    return text


instance_text = st.one_of(
    st.lists(st.tuples(label_maps, label_maps), max_size=3).map(_instances), text
)
pd_trigger = objects(
    {
        "routing_key": nonblank,
        "event_action": st.just("trigger"),
        "payload": objects(
            {
                "summary": st.text(min_size=1, max_size=1030).filter(str.strip),
                "source": nonblank,
                "severity": st.sampled_from(["critical", "error", "warning", "info"]),
            },
            {
                "timestamp": times,
                "component": text,
                "group": text,
                "class": text,
                "custom_details": json_values | objects({"firing": instance_text}, {}),
            },
        ),
    },
    {
        "dedup_key": st.text(max_size=260),
        "links": st.lists(objects({"href": nonblank}, {"text": text}), max_size=2),
        "images": st.lists(objects({"src": nonblank}, {"href": text, "alt": text}), max_size=2),
        "client": text,
        "client_url": text,
    },
)
pd_follow_up = objects(
    {
        "routing_key": nonblank,
        "event_action": st.sampled_from(["acknowledge", "resolve"]),
        "dedup_key": nonblank,
    },
    {"payload": json_values},
)
pd_body = bodies(st.one_of(pd_trigger, pd_follow_up))
pd_change = bodies(
    objects(
        {
            "routing_key": nonblank,
            "payload": objects(
                {"summary": st.text(min_size=1, max_size=1030).filter(str.strip)},
                {"source": text, "timestamp": times, "custom_details": json_values},
            ),
        },
        {"links": st.lists(objects({"href": nonblank}, {"text": text}), max_size=2)},
    )
)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | text
generic_alert = objects(
    {"title": nonblank},
    {
        "severity": text,
        "dedup_key": st.text(max_size=260),
        "labels": st.dictionaries(text, scalars.filter(lambda v: v is not None), max_size=3),
        "annotations": st.dictionaries(text, json_values, max_size=3),
        "details": st.dictionaries(text, json_values, max_size=3),
        "status": st.sampled_from(["firing", "resolved"]),
        "source_url": text,
    },
)
generic_body = bodies(
    st.one_of(generic_alert, objects({"alerts": st.lists(generic_alert, max_size=3)}, {}))
)


def check_event(event: AlertEvent) -> None:
    assert event.dedup_key.strip()
    assert event.action in ACTIONS
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in event.labels.items())
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in event.annotations.items())
    assert len(event.title) <= 300
    for moment in (event.starts_at, event.ends_at):
        assert moment is None or (isinstance(moment, datetime) and moment.tzinfo is UTC)


def events_or_ingest_error(parse: Callable[[Any], list[AlertEvent]], body: Any) -> None:
    try:
        events = parse(body)
    except IngestError as exc:
        assert exc.field and exc.message
        event("IngestError")
        return
    event("events" if events else "no events")
    for one in events:
        check_event(one)


@given(am_body)
def test_alertmanager_never_crashes(body: Any) -> None:
    events_or_ingest_error(parse_alertmanager, body)


@given(am_body)
def test_grafana_never_crashes(body: Any) -> None:
    events_or_ingest_error(parse_grafana, body)


@given(generic_body)
def test_generic_never_crashes(body: Any) -> None:
    events_or_ingest_error(parse_generic, body)


@given(pd_body)
def test_pagerduty_never_crashes(body: Any) -> None:
    try:
        routing_key, parsed = parse_pd_event(body)
    except IngestError as exc:
        assert exc.field and exc.message
        event("IngestError")
        return
    event(f"event: {parsed.action}")
    assert routing_key.strip()
    check_event(parsed)
    if parsed.action == "trigger":
        assert parsed.severity_hint in {"critical", "error", "warning", "info"}
        assert 0 < len(parsed.summary) <= 1024


@given(pd_change)
def test_pagerduty_change_never_crashes(body: Any) -> None:
    try:
        routing_key, change = parse_pd_change(body)
    except IngestError as exc:
        assert exc.field and exc.message
        event("IngestError")
        return
    event("change")
    assert routing_key.strip()
    assert 0 < len(change.summary) <= 1024
    assert change.timestamp is None or change.timestamp.tzinfo is UTC
    assert all(set(link) == {"href", "text"} for link in change.links)
