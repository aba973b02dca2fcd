"""Alert storms collapse into one incident (the service layer, fake clock, SQLite and
PostgreSQL).

The pipeline harness's policy has no ``storm`` section, so the defaults apply: more
than 10 new alert groups opening incidents for one service within 2 minutes are a
storm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.integration.test_alert_pipeline import Harness, am, policy_text, webhook

from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert, AlertLink
from tocsin.alerts.pipeline import ingest
from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.incidents import service as incidents
from tocsin.incidents.drills import DrillPlan
from tocsin.incidents.models import Incident, IncidentCreate
from tocsin.notify.models import Notification
from tocsin.web.context import AppContext


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(policy_text(), encoding="utf-8")
    return path


@pytest.fixture
def harness(app_context: AppContext, clock: FakeClock, policy_file: Path) -> Harness:
    return Harness(app_context, clock, policy_file)


def storm_alert(i: int, **labels: str) -> dict[str, Any]:
    return am(f"Storm{i:05d}", "checkout", instance=f"node-{i % 7}", **labels)


def active(h: Harness) -> list[dict[str, Any]]:
    return [i for i in h.incidents() if i["status"] not in ("resolved", "closed")]


def storm_of(h: Harness, ref: str) -> Any:
    with session_scope(h.context.sessions, write=False) as session:
        incident = incidents.get(session=session, ref=ref)
        return alerts.storm_for_incident(session=session, incident_id=incident.id)


def page_count(h: Harness, ref: str) -> int:
    with session_scope(h.context.sessions, write=False) as session:
        incident = incidents.get(session=session, ref=ref)
        rows = session.scalars(
            select(Notification).where(
                Notification.incident_id == incident.id, Notification.kind == "page"
            )
        ).all()
        return len(rows)


def test_a_storm_in_one_webhook_opens_one_incident_that_pages_once(harness: Harness) -> None:
    results = harness.fire(*(storm_alert(i) for i in range(100)))
    opened = {incident for _, incident in results}
    assert len(opened) == 1
    [storm] = harness.incidents()
    assert storm["severity"] == "SEV1"
    assert storm["title"].startswith("Alert storm on checkout-api: 100 alerts")
    assert page_count(harness, storm["id"]) == 1  # alice, on call, once
    summary = storm_of(harness, storm["id"])
    assert summary.alerts == 100
    assert summary.top_label_values[0].name == "instance=node-0"
    assert summary.top_label_values[0].alerts == 15
    assert "Alert storm" in harness.summaries(storm["id"])[-1] or any(
        s.startswith("Alert storm: more than 10") for s in harness.summaries(storm["id"])
    )


def test_a_storms_members_written_in_bulk_keep_their_own_rows_and_links(
    harness: Harness,
) -> None:
    """Hundreds of members joining in one transaction are written in bulk (on
    PostgreSQL, one COPY): each answer names its own alert, each alert keeps its own
    labels, the ids follow the order the alerts came in, and each link names its alert."""
    harness.fire(*(storm_alert(i) for i in range(11)))  # the storm
    results = _ingest_part(harness, range(11, 311))
    [storm] = harness.incidents()
    assert {r.incident for r in results} == {storm["id"]}
    ids = [r.alert_id for r in results]
    assert None not in ids and ids == sorted(ids) and len(set(ids)) == 300
    with session_scope(harness.context.sessions, write=False) as session:
        stored = {a.id: a for a in session.scalars(select(Alert).where(Alert.id.in_(ids)))}
        linked = dict(
            session.execute(
                select(AlertLink.alert_id, AlertLink.incident_id).where(AlertLink.alert_id.in_(ids))
            ).all()
        )
        storm_id = incidents.get(session=session, ref=storm["id"]).id
    for n, result in enumerate(results, start=11):
        alert = stored[result.alert_id]
        assert alert.dedup_key == result.dedup_key
        assert alert.labels["alertname"] == f"Storm{n:05d}"
        assert alert.incident_id == storm_id and linked[alert.id] == storm_id
    assert storm_of(harness, storm["id"]).alerts == 311


def _ingest_part(harness: Harness, part: range, upcoming: range = range(0)) -> list[Any]:
    """Decide the storm's alerts ``part`` in one call, with ``upcoming`` arrived after
    them (the rest of a queued body); the results."""
    with session_scope(harness.context.sessions) as session:
        found = alerts.find_integration(session=session, key=harness.keys["prometheus"])
        assert found is not None
        return alerts.ingest(
            session=session,
            policy=harness.policy,
            integration=found,
            events=webhook(*(storm_alert(i) for i in part)),
            now=harness.clock.now(),
            upcoming=webhook(*(storm_alert(i) for i in upcoming)),
        )


def _landed(harness: Harness, part: range, upcoming: range) -> set[str | None]:
    """The incidents the alerts ``part`` landed on (see :func:`_ingest_part`)."""
    return {r.incident for r in _ingest_part(harness, part, upcoming)}


def test_a_storm_queued_in_one_body_is_recognised_by_its_first_chunk(harness: Harness) -> None:
    """A body of 100 alerts decided two at a time: the first two see the 98 that
    arrived with them and open the storm, instead of ten incidents that page and are
    merged later."""
    landed = _landed(harness, range(2), upcoming=range(2, 100))
    [storm] = harness.incidents()
    assert landed == {storm["id"]} and storm["title"].startswith("Alert storm on checkout-api")
    for start in range(2, 100, 2):
        assert _landed(harness, range(start, start + 2), range(start + 2, 100)) == landed
    assert len(harness.incidents()) == 1
    assert page_count(harness, storm["id"]) == 1
    assert storm_of(harness, storm["id"]).alerts == 100


def test_alerts_still_to_come_that_repeat_firing_alerts_make_no_storm(harness: Harness) -> None:
    harness.fire(*(storm_alert(i) for i in range(5)))  # five incidents of their own
    assert len(harness.incidents()) == 5
    # Two new alerts followed by repeats of the five that fire: 7 new groups, no storm.
    landed = _landed(harness, range(5, 7), upcoming=range(5))
    assert len(landed) == 2 and len(active(harness)) == 7
    assert not any(i["title"].startswith("Alert storm") for i in harness.incidents())


def test_the_incidents_a_burst_opened_before_it_was_a_storm_are_merged(harness: Harness) -> None:
    for i in range(10):  # one at a time: each opens its own incident, as it should
        harness.at(i * 0.1)
        harness.fire(storm_alert(i))
    assert len(active(harness)) == 10
    harness.at(1.1)
    harness.fire(storm_alert(10))  # the eleventh new group within 2 minutes
    [storm] = active(harness)
    assert storm["title"].startswith("Alert storm on checkout-api: 11 alerts")
    merged = [i for i in harness.incidents() if i["id"] != storm["id"]]
    assert [i["status"] for i in merged] == ["resolved"] * 10
    for incident in merged:
        assert any(
            f"Merged into alert storm {storm['id']}" in s for s in harness.summaries(incident["id"])
        )
    summary = storm_of(harness, storm["id"])
    assert summary.merged == [i["id"] for i in merged]
    assert summary.alerts == 11
    with session_scope(harness.context.sessions, write=False) as session:
        homes = set(session.scalars(select(Alert.incident_id)))
        assert len(homes) == 1  # every alert now lives on the storm
    # Later alerts of the burst join without paging; a merged group's next alert too.
    harness.at(1.5)
    assert harness.fire(storm_alert(11), storm_alert(3, extra="x"))[0][1] == storm["id"]
    assert page_count(harness, storm["id"]) == 1
    assert len(active(harness)) == 1


def test_a_storm_grows_and_says_so(harness: Harness) -> None:
    harness.fire(*(storm_alert(i) for i in range(20)))
    [storm] = harness.incidents()
    harness.at(0.5)
    harness.fire(*(storm_alert(i) for i in range(20, 30)))  # +10: not doubled, too soon
    assert harness.kinds(storm["id"]).count("storm_grew") == 0
    harness.at(1.5)
    harness.fire(*(storm_alert(i) for i in range(30, 40)))  # a minute since it last said
    assert harness.kinds(storm["id"]).count("storm_grew") == 1
    assert any("grew to 40 alerts" in s for s in harness.summaries(storm["id"]))
    assert harness.incident(storm["id"])["title"].startswith("Alert storm on checkout-api: 40")
    assert storm_of(harness, storm["id"]).alerts == 40


def test_the_storm_takes_the_worst_severity_of_its_alerts(harness: Harness) -> None:
    harness.fire(*(storm_alert(i, severity="warning") for i in range(30)))
    [storm] = harness.incidents()
    assert storm["severity"] == "SEV3"
    harness.at(0.5)
    harness.fire(storm_alert(99, severity="critical"))
    assert harness.incident(storm["id"])["severity"] == "SEV1"


def test_incidents_of_people_and_from_before_the_burst_are_never_merged(
    harness: Harness,
) -> None:
    harness.fire(am("OldProblem", "checkout"))  # minute 0: long before the burst
    with session_scope(harness.context.sessions) as session:
        incidents.declare(
            session=session,
            policy=harness.policy,
            actor="alice",
            data=IncidentCreate(title="Checkout slow", severity="SEV2", services=["checkout-api"]),
            now=harness.clock.now(),
        )
    harness.at(10)
    for i in range(10):
        harness.fire(storm_alert(i))
    harness.fire(storm_alert(10))
    still = {i["title"] for i in active(harness)}
    assert "Checkout slow" in still
    assert any(t.startswith("Alert storm") for t in still)
    assert len(still) == 3  # the old alert's incident, the person's, the storm


def test_the_storm_ends_when_its_alerts_stop_coming(harness: Harness) -> None:
    harness.fire(*(storm_alert(i) for i in range(30)))
    harness.at(10)  # quiet for longer than the window
    [(_, incident)] = harness.fire(am("NewProblem", "checkout"))
    assert incident != harness.incidents()[0]["id"]
    assert harness.incident(incident)["title"] != harness.incidents()[0]["title"]


def test_a_route_may_switch_storms_off(harness: Harness) -> None:
    text = policy_text().replace(
        "    - name: checkout\n      match: ['service=~\"checkout|checkout-api\"']\n",
        "    - name: checkout\n      match: ['service=~\"checkout|checkout-api\"']\n"
        "      storm: {enabled: false}\n",
    )
    assert text != policy_text()
    harness.use_policy(text)
    results = harness.fire(*(storm_alert(i) for i in range(30)))
    assert len({incident for _, incident in results}) == 30


def test_integration_scope_counts_alerts_without_a_service_per_integration(
    harness: Harness,
) -> None:
    harness.use_policy(
        policy_text().replace(
            "alerting:\n", "alerting:\n  storm: {threshold: 3, window: 5m, scope: integration}\n"
        )
    )
    results = harness.fire(*(am(f"Mixed{i}", ["checkout", "search"][i % 2]) for i in range(8)))
    assert len({incident for _, incident in results}) == 1
    [storm] = harness.incidents()
    assert storm["title"].startswith("Alert storm on prometheus: 8 alerts")


def test_a_storm_across_related_services_is_the_cascade(harness: Harness) -> None:
    # The harness's cascade rule: 4 alerts on 3 related services.
    results = harness.fire(
        *(am(f"Dep{i}", ["checkout", "payments-db", "auth-service"][i % 3]) for i in range(60))
    )
    [incident] = {incident for _, incident in results}
    assert harness.incident(incident)["title"].startswith("Cascade failure")
    assert len(harness.incidents()) == 1


def test_alerts_of_a_storm_page_through_the_service(harness: Harness) -> None:
    harness.fire(*(storm_alert(i) for i in range(120)))
    [storm] = harness.incidents()
    with session_scope(harness.context.sessions, write=False) as session:
        number = incidents.get(session=session, ref=storm["id"]).id
        first = alerts.alerts_for_incident(session=session, incident_id=number, limit=50)
        rest = alerts.alerts_for_incident(session=session, incident_id=number, limit=100, offset=50)
        assert alerts.count_for_incident(session=session, incident_id=number) == 120
    assert len(first) == 50 and len(rest) == 70
    assert not {a.id for a in first} & {a.id for a in rest}


def test_merging_stops_the_merged_escalations(harness: Harness) -> None:
    for i in range(11):
        harness.fire(storm_alert(i))
    harness.at(60)  # every tier timeout of the merged incidents has long passed
    with session_scope(harness.context.sessions, write=False) as session:
        merged = session.scalars(select(Incident).where(Incident.status == "resolved")).all()
        assert len(merged) == 10
    pending = [
        n
        for n in _notifications(harness)
        if n.state == "pending" and n.incident_id in {m.id for m in merged}
    ]
    assert pending == []


def _notifications(h: Harness) -> list[Notification]:
    with session_scope(h.context.sessions, write=False) as session:
        return list(session.scalars(select(Notification)))


def _drill_fire(h: Harness, *alerts_: dict[str, Any]) -> list[str | None]:
    """Fire alerts as a game day does: through the pipeline, as a drill (labelled with
    the game day, as its alerts are)."""
    for alert in alerts_:
        alert["labels"]["game_day"] = "storm-rehearsal"
    with session_scope(h.context.sessions) as session:
        found = alerts.find_integration(session=session, key=h.keys["prometheus"])
        assert found is not None
        results = ingest(
            session=session,
            policy=h.policy,
            integration=found,
            events=webhook(*alerts_),
            now=h.clock.now(),
            drill=DrillPlan("storm-rehearsal", responders=("bob",)),
        )
    return [r.incident for r in results]


def test_a_drill_storm_and_real_alerts_never_meet(harness: Harness) -> None:
    drill = set(_drill_fire(harness, *(storm_alert(i) for i in range(50))))
    [storm] = harness.incidents()
    assert drill == {storm["id"]} and storm["drill"] is True
    assert storm["title"].startswith("Alert storm on checkout-api: 50 alerts")
    # Real alerts of the same service, within the storm's window: their own incidents,
    # and a real storm of their own once there are enough of them.
    harness.at(0.5)
    real = {incident for _, incident in harness.fire(storm_alert(1), storm_alert(2))}
    assert storm["id"] not in real
    assert all(not harness.incident(ref)["drill"] for ref in real)
    harness.at(1)
    burst = {incident for _, incident in harness.fire(*(storm_alert(i) for i in range(3, 40)))}
    [real_storm] = [i for i in active(harness) if i["id"] in burst and i["id"] != storm["id"]]
    assert real_storm["drill"] is False
    assert storm_of(harness, storm["id"]).alerts == 50  # the drill storm took none of them
    # The drill's next alerts keep to the drill's storm.
    harness.at(1.5)
    assert set(_drill_fire(harness, storm_alert(60))) == {storm["id"]}
