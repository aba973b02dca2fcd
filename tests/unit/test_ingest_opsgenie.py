"""Opsgenie's create and close/acknowledge bodies: what each field becomes, and that
whatever JSON arrives the parser gives an event or an IngestError naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from tests.unit.test_ingest_properties import bodies, check_event, objects

from tocsin.ingest import IngestError
from tocsin.ingest.opsgenie import could_be_alias, parse_og_action, parse_og_create

text = st.text(max_size=20)
responder = objects(
    {"type": st.sampled_from(["team", "user", "escalation", "schedule", "group"])},
    {"name": text, "id": text, "username": text},
)
og_alert = objects(
    {"message": st.text(max_size=140)},
    {
        "alias": st.text(max_size=300),
        "description": text,
        "priority": st.sampled_from(["P1", "P2", "P3", "P4", "P5", "P6", "", "p1"]),
        "entity": text,
        "source": text,
        "details": st.dictionaries(text, text | st.integers() | st.booleans(), max_size=3),
        "tags": st.lists(text, max_size=3),
        "actions": st.lists(text, max_size=2),
        "responders": st.lists(responder, max_size=2),
        "visibleTo": st.lists(responder, max_size=2),
        "user": text,
        "note": text,
    },
)


@given(bodies(og_alert))
def test_create_never_crashes(body: Any) -> None:
    try:
        parsed = parse_og_create(body)
    except IngestError as exc:
        assert exc.field and exc.message
        event("IngestError")
        return
    event("event")
    check_event(parsed)
    assert parsed.action == "trigger" and parsed.source == "opsgenie"
    assert len(parsed.dedup_key) <= 255
    assert parsed.labels["priority"] in {"P1", "P2", "P3", "P4", "P5"}


@given(bodies(objects({}, {"user": text, "note": text, "source": text})))
def test_close_never_crashes(body: Any) -> None:
    try:
        parsed = parse_og_action(body, "resolve", "disk-full")
    except IngestError as exc:
        assert exc.field == "body" or exc.field in {"user", "note", "source"}
        return
    assert parsed.action == "resolve" and parsed.dedup_key == "disk-full"


@pytest.mark.parametrize(
    ("priority", "hint"),
    [("P1", "critical"), ("P2", "error"), (None, "warning"), ("P4", "info"), ("P5", "info")],
)
def test_priorities_become_severity_words(priority: str | None, hint: str) -> None:
    body: dict[str, Any] = {"message": "Disk full"}
    if priority:
        body["priority"] = priority
    assert parse_og_create(body).severity_hint == hint


def test_fields_become_labels_and_annotations() -> None:
    parsed = parse_og_create(
        {
            "message": "Checkout 5xx",
            "alias": "checkout-5xx",
            "description": "Error rate 7%",
            "entity": "checkout-api",
            "details": {"region": "eu", "pods": 3, "canary": True},
            "tags": ["prod", "payments"],
            "responders": [
                {"type": "team", "name": "payments"},
                {"type": "user", "username": "a@b"},
            ],
            "note": "first sighting",
        }
    )
    assert parsed.dedup_key == "checkout-5xx" and parsed.summary == "Error rate 7%"
    assert parsed.labels == {"priority": "P3", "entity": "checkout-api"}
    assert parsed.annotations == {
        "region": "eu",
        "pods": "3",
        "canary": "true",
        "tags": "prod, payments",
        "responders": "team:payments, user:a@b",
        "note": "first sighting",
    }


def test_aliases() -> None:
    assert parse_og_create({"message": "Disk full", "alias": " "}).dedup_key == "Disk full"
    long = "a" * 400
    hashed = parse_og_create({"message": "x", "alias": long}).dedup_key
    assert (
        hashed.startswith("alias-sha256:")
        and hashed == parse_og_action(None, "acknowledge", long).dedup_key
    )
    assert not could_be_alias(" ") and not could_be_alias("a" * 513) and could_be_alias("a")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": " "}, "message"),
        ({"message": "m" * 131}, "message"),
        ({"message": "x", "priority": "P6"}, "priority"),
        ({"message": "x", "responders": [{"type": "team"}]}, "responders[0]"),
        ({"message": "x", "responders": [{"type": "squad", "name": "a"}]}, "responders[0].type"),
        ({"message": "x", "tags": ["a", 1]}, "tags[1]"),
        ({"message": "x", "details": {"a": None}}, "details.a"),
        (
            {"message": "x", "responders": [{"type": "team", "name": "a", "id": 5}]},
            "responders[0].id",
        ),
    ],
)
def test_refusals_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(IngestError) as refused:
        parse_og_create(body)
    assert refused.value.field == field
