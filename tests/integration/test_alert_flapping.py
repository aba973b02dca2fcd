"""Flapping alerts: their re-fires page nobody again while they flap, and flapping
never lowers an incident's severity (a real outage that comes back within the hour
stays a SEV1). The pipeline harness of ``test_alert_pipeline`` drives the fake clock;
pages are counted in the notifications outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.integration.test_alert_pipeline import Harness, am, policy_text

from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.incidents import service as incidents
from tocsin.incidents.models import IncidentUpdate
from tocsin.incidents.rules import IncidentStatus
from tocsin.incidents.timeline import SYSTEM_ACTOR
from tocsin.notify.models import Notification
from tocsin.web.context import AppContext

FLAPPING_NOTE = "its re-fires won't page again while it flaps"


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(policy_text(), encoding="utf-8")
    return path


@pytest.fixture
def h(app_context: AppContext, clock: FakeClock, policy_file: Path) -> Harness:
    return Harness(app_context, clock, policy_file)


def page_rows(h: Harness) -> int:
    """Page notifications in the outbox, whatever their state."""
    with session_scope(h.context.sessions, write=False) as session:
        count = session.scalar(
            select(func.count()).select_from(Notification).where(Notification.kind == "page")
        )
    return int(count or 0)


def edit_severity(h: Harness, ref: str, severity: str, actor: str) -> None:
    with session_scope(h.context.sessions) as session:
        incidents.edit(
            session=session,
            policy=h.policy,
            incident=incidents.get(session=session, ref=ref),
            actor=actor,
            changes=IncidentUpdate(severity=severity),
            now=h.clock.now(),
        )


def move(h: Harness, ref: str, target: IncidentStatus, actor: str = "alice") -> None:
    with session_scope(h.context.sessions) as session:
        incidents.transition(
            session=session,
            policy=h.policy,
            incident=incidents.get(session=session, ref=ref),
            actor=actor,
            target=target,
            now=h.clock.now(),
        )


def flap(h: Harness, alert: dict[str, Any], start: float, times: int) -> None:
    """``times`` resolve/fire pairs, two minutes apart, from minute ``start``."""
    minute = start
    for _ in range(times):
        h.at(minute)
        h.resolve(alert)
        h.at(minute + 2)
        h.fire(alert)
        minute += 4


def lowered(h: Harness, ref: str) -> list[str]:
    return [s for s in h.summaries(ref) if s.startswith("Severity lowered")]


def test_a_sev1_outage_that_recurs_within_the_window_stays_sev1(h: Harness) -> None:
    h.use_policy(policy_text("resolved"))
    down = am("ServiceDown", "checkout", severity="critical")
    assert h.fire(down) == [("new_incident", "INC-1")]
    h.at(10)
    h.resolve(down)
    assert h.incident("INC-1")["status"] == "resolved"
    h.at(20)  # the outage is back
    assert h.fire(down) == [("reopened", "INC-1")]
    h.at(30)
    h.resolve(down)  # the 4th change within the hour: flapping
    h.at(40)
    assert h.fire(down) == [("flapping", "INC-1")]
    incident = h.incident("INC-1")
    assert incident["severity"] == "SEV1"
    assert incident["status"] == "monitoring"  # a flapping alert's resolve does not resolve
    assert lowered(h, "INC-1") == []
    [stored] = h.alerts()
    assert stored["flapping"] is True and stored["severity"] == "SEV1"
    assert h.pages() == [("alice", "INC-1"), ("alice", "INC-1")]  # declared, reopened


def test_re_fires_while_flapping_page_nobody_and_the_timeline_says_why(h: Harness) -> None:
    alert = am("Flappy", "checkout", severity="error")  # routed SEV2
    h.fire(alert)
    flap(h, alert, start=2, times=1)
    h.at(6)
    h.resolve(alert)  # the 4th change: flapping
    pages = page_rows(h)
    assert pages == 1
    flap(h, alert, start=8, times=5)
    assert page_rows(h) == pages
    summaries = h.summaries("INC-1")
    title = "Flappy: 5xx rate above 5%"
    assert f"Alert {title} is flapping (4 changes within 1h): {FLAPPING_NOTE}" in summaries
    assert summaries.count(f"Flapping alert fired again: {title}") == 5
    assert h.incident("INC-1")["severity"] == "SEV2"
    assert len(h.incidents()) == 1


def test_flapping_never_lowers_a_severity_a_person_set(h: Harness) -> None:
    alert = am("Flappy", "checkout", severity="warning")  # routed SEV3
    h.fire(alert)
    h.at(1)
    edit_severity(h, "INC-1", "SEV1", actor="alice")
    flap(h, alert, start=2, times=4)
    assert h.incident("INC-1")["severity"] == "SEV1"
    assert lowered(h, "INC-1") == []


def test_a_persons_severity_is_restored_when_tocsin_had_lowered_it(h: Harness) -> None:
    """An incident lowered by Tocsin itself (as the old flapping rule did) comes back
    to the severity its person chose as soon as its alert flaps."""
    alert = am("Flappy", "checkout", severity="warning")  # routed SEV3
    h.fire(alert)
    h.at(1)
    edit_severity(h, "INC-1", "SEV2", actor="alice")
    edit_severity(h, "INC-1", "SEV4", actor=SYSTEM_ACTOR)
    flap(h, alert, start=2, times=2)  # the 4th change, a resolve, marks it flapping
    assert h.incident("INC-1")["severity"] == "SEV2"


def test_a_flapping_alerts_incident_is_never_lower_than_its_worst_firing_alert(
    h: Harness,
) -> None:
    flappy = am("Flappy", "checkout", severity="warning", instance="a")  # SEV3
    steady = am("Flappy", "checkout", severity="error", instance="b")  # SEV2, same group
    h.fire(flappy)
    h.at(1)
    assert h.fire(steady) == [("attached", "INC-1")]
    assert h.incident("INC-1")["severity"] == "SEV2"
    edit_severity(h, "INC-1", "SEV4", actor=SYSTEM_ACTOR)  # lowered behind its back
    flap(h, flappy, start=2, times=2)
    assert h.incident("INC-1")["severity"] == "SEV2"  # the steady alert still fires
    flap(h, flappy, start=10, times=2)
    assert h.incident("INC-1")["severity"] == "SEV2"


def test_a_flapping_alert_raises_its_incident_to_its_own_routed_severity(h: Harness) -> None:
    down = am("ServiceDown", "checkout", severity="critical")
    h.fire(down)
    h.at(1)
    edit_severity(h, "INC-1", "SEV4", actor=SYSTEM_ACTOR)
    flap(h, down, start=2, times=2)
    assert h.incident("INC-1")["severity"] == "SEV1"


def test_a_flapping_alert_opens_a_new_incident_at_its_severity_and_pages_once(
    h: Harness,
) -> None:
    down = am("ServiceDown", "checkout", severity="critical")
    h.fire(down)
    flap(h, down, start=2, times=1)
    h.at(6)
    h.resolve(down)  # flapping; INC-1 moves to monitoring
    h.at(7)
    move(h, "INC-1", IncidentStatus.resolved)
    move(h, "INC-1", IncidentStatus.closed)
    before = page_rows(h)
    h.at(8)
    assert h.fire(down) == [("flapping", "INC-2")]
    incident = h.incident("INC-2")
    assert incident["severity"] == "SEV1"  # a real problem, at its routed severity
    assert incident["title"] == "Flapping: ServiceDown: 5xx rate above 5%"
    assert any(FLAPPING_NOTE in s for s in h.summaries("INC-2"))
    assert page_rows(h) == before + 1
    flap(h, down, start=10, times=3)
    assert page_rows(h) == before + 1  # its re-fires attach without paging
    assert len(h.incidents()) == 2
