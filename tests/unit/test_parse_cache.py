"""The parse memo: an Alertmanager alert element equal to one parsed before yields the
same event, and anything else is parsed in full."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from tocsin.ingest import AlertEvent, IngestError, parse_alertmanager
from tocsin.ingest.memo import KeptEvent, ParseMemo


def element(n: int = 1, **changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "status": "firing",
        "labels": {"alertname": "HighLoad", "instance": f"host-{n}", "severity": "warning"},
        "annotations": {"summary": f"Load above threshold on host-{n}"},
        "startsAt": "2026-03-02T08:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.invalid/graph",
        "fingerprint": f"{n:016x}",
    }
    value.update(changes)
    return value


def body(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "alerts": list(alerts)}


def fields(event: AlertEvent) -> dict[str, Any]:
    return {f.name: getattr(event, f.name) for f in dataclasses.fields(AlertEvent)}


def remembered(memo: ParseMemo, key: str, *alerts: dict[str, Any]) -> list[AlertEvent]:
    """Parse and keep, as the endpoint does once the request is stored."""
    data = body(*alerts)
    events = parse_alertmanager(data, reuse=memo.lookup("alertmanager", key))
    memo.keep("alertmanager", key, data["alerts"], events)
    return events


def test_an_equal_element_yields_the_kept_event_equal_to_a_full_parse() -> None:
    memo = ParseMemo()
    [first] = remembered(memo, "key-a", element())
    assert not isinstance(first, KeptEvent)
    again = copy.deepcopy(element())
    [reused] = parse_alertmanager(body(again), reuse=memo.lookup("alertmanager", "key-a"))
    assert isinstance(reused, KeptEvent) and reused.maps_clean
    assert fields(reused) == fields(first)
    [reused_again] = remembered(memo, "key-a", again)
    assert reused_again is reused


@pytest.mark.parametrize(
    "changes",
    [
        {"annotations": {"summary": "Load above threshold on host-1", "note": "new"}},
        {"labels": {"alertname": "HighLoad", "instance": "host-1", "severity": "critical"}},
        {"status": "resolved"},
        {"endsAt": "2026-03-02T09:00:00Z"},
        {"extra": "a field the parser ignores, but raw keeps"},
        # the same content in another order is stored in that order
        {"labels": {"severity": "warning", "instance": "host-1", "alertname": "HighLoad"}},
    ],
)
def test_any_difference_is_parsed_in_full(changes: dict[str, Any]) -> None:
    memo = ParseMemo()
    remembered(memo, "key-a", element())
    changed = element(**changes)
    [event] = parse_alertmanager(body(changed), reuse=memo.lookup("alertmanager", "key-a"))
    assert not isinstance(event, KeptEvent)
    assert fields(event) == fields(parse_alertmanager(body(changed))[0])
    assert list(event.labels) == list(changed["labels"])


def test_a_changed_element_replaces_the_kept_one() -> None:
    memo = ParseMemo()
    remembered(memo, "key-a", element())
    changed = element(annotations={"summary": "now worse"})
    remembered(memo, "key-a", changed)
    [event] = parse_alertmanager(body(element()), reuse=memo.lookup("alertmanager", "key-a"))
    assert not isinstance(event, KeptEvent)
    [event] = parse_alertmanager(body(changed), reuse=memo.lookup("alertmanager", "key-a"))
    assert isinstance(event, KeptEvent) and event.annotations == {"summary": "now worse"}
    assert len(memo) == 1


def test_one_integration_keys_elements_never_answer_for_another() -> None:
    memo = ParseMemo()
    remembered(memo, "key-a", element())
    assert memo.lookup("alertmanager", "key-b")(element()) is None
    assert memo.lookup("grafana", "key-a")(element()) is None
    assert memo.lookup("alertmanager", "key-a")(element()) is not None


@pytest.mark.parametrize(
    "value",
    [
        element(extra=1),  # 1 == 1.0 == True in Python, not in JSON
        element(extra=None),
        element(extra=["a"]),
        element(annotations={"summary": "nul \x00 inside"}),  # stored cleaned
        element(labels={"alertname": "lone \ud800 surrogate"}),
    ],
)
def test_elements_that_equality_or_cleaning_could_confuse_are_not_kept(
    value: dict[str, Any],
) -> None:
    memo = ParseMemo()
    remembered(memo, "key-a", value)
    assert len(memo) == 0


def test_a_number_never_matches_a_kept_string() -> None:
    memo = ParseMemo()
    remembered(memo, "key-a", element(extra="1"))
    reuse = memo.lookup("alertmanager", "key-a")
    assert reuse(element(extra="1")) is not None
    assert reuse(element(extra=1)) is None
    assert reuse(element(extra=float("nan"))) is None


def test_the_memo_stays_bounded() -> None:
    memo = ParseMemo(max_entries=3, max_text=10_000)
    for n in range(10):
        remembered(memo, "key-a", element(n))
    assert len(memo) == 3
    reuse = memo.lookup("alertmanager", "key-a")
    assert [n for n in range(10) if reuse(element(n)) is not None] == [7, 8, 9]
    big = element(annotations={"description": "x" * 20_000})
    remembered(memo, "key-a", big)
    assert reuse(big) is None


def test_a_bad_element_is_refused_whatever_the_others() -> None:
    memo = ParseMemo()
    remembered(memo, "key-a", element(1), element(2))
    bad = element(3, labels={"alertname": 5})
    with pytest.raises(IngestError) as refused:
        parse_alertmanager(
            body(element(1), element(2), bad), reuse=memo.lookup("alertmanager", "key-a")
        )
    assert refused.value.field == "alerts[2].labels.alertname"
