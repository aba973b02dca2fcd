"""The script interface is Tocsin, not a copy of it: its incidents are Tocsin's rows
(paged through the outbox, moved by the lifecycle's rules), a time a script sets is
an audited correction that the metrics follow, and its review is Tocsin's post-mortem.
A fake clock reads Monday 2026-03-02 09:00 UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tocsin.clock import FakeClock
from tocsin.compat import (
    IncidentResponseSystem,
    IncidentStatus,
    PostIncidentReviewGenerator,
    SeverityLevel,
)
from tocsin.db import session_scope
from tocsin.notify.models import Notification

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def system(tmp_path: Path, clock: FakeClock) -> IncidentResponseSystem:
    return IncidentResponseSystem(database_url=f"sqlite:///{tmp_path / 'tocsin.db'}", clock=clock)


def pages(system: IncidentResponseSystem) -> list[str]:
    with session_scope(system.sessions, write=False) as session:
        rows = session.scalars(select(Notification).where(Notification.kind == "page"))
        return sorted({row.person for row in rows})


def test_declaring_pages_the_on_call_through_the_outbox(system: IncidentResponseSystem) -> None:
    ref = system.create_incident(
        "Checkout 5xx", "Errors above 5% on the database", SeverityLevel.SEV2, "alice",
        ["checkout-api"],
    )  # fmt: skip
    assert ref == "INC-1" and list(system.incidents) == ["INC-1"]
    incident = system.incidents[ref]
    events = [e.event for e in incident.timeline]
    assert events[0] == "declared" and "paged" in events
    assert incident.assignee is not None
    assert set(incident.assignee.split(", ")) <= set(pages(system))
    assert pages(system)  # the payments team was paged
    assert "database" in incident.tags and "checkout-api" in incident.tags
    assert incident.severity is SeverityLevel.SEV2 and incident.status is IncidentStatus.DETECTED


def test_the_lifecycle_rules_hold(system: IncidentResponseSystem) -> None:
    ref = system.create_incident("Queue lag", "Lag above 10 min", SeverityLevel.SEV3, "bob")
    assert not system.update_incident_status(ref, IncidentStatus.CLOSED, "bob", "skip ahead")
    assert system.incidents[ref].status is IncidentStatus.DETECTED
    assert not system.update_incident_status("INC-99", IncidentStatus.RESOLVED, "bob")
    assert "INC-99" not in system.incidents


def test_a_time_set_by_a_script_is_an_audited_correction_the_metrics_follow(
    system: IncidentResponseSystem, clock: FakeClock
) -> None:
    ref = system.create_incident("Login slow", "p99 above 2 s", SeverityLevel.SEV2, "carol")
    clock.advance(timedelta(minutes=50))
    assert system.update_incident_status(ref, IncidentStatus.RESOLVED, "carol", "cache warmed")
    assert system.calculate_mttr_metrics(30)["overall_mttr_minutes"] == 50
    incident = system.incidents[ref]
    incident.acknowledged_at = T0 + timedelta(minutes=5)
    incident.mitigated_at = T0 + timedelta(minutes=20)
    incident.resolved_at = T0 + timedelta(minutes=20)
    metrics = system.calculate_mttr_metrics(30)
    assert metrics["overall_mttr_minutes"] == 20
    assert metrics["mttr_by_severity"]["sev2_high"]["target_met"] is True
    corrected = [e for e in incident.timeline if e.event == "times_corrected"]
    assert len(corrected) == 3 and all("set by a script" in e.details for e in corrected)
    with pytest.raises(Exception, match="before"):
        incident.resolved_at = T0 - timedelta(minutes=5)  # before it was detected
    with pytest.raises(AttributeError):
        incident.title = "renamed"  # type: ignore[misc]


def test_escalating_pages_the_next_tier(system: IncidentResponseSystem) -> None:
    ref = system.create_incident("Site down", "All requests fail", SeverityLevel.SEV1, "dana")
    first = system.incidents[ref].assignee
    assert system.escalate_incident(ref, "no answer from primary", "vp-eng")
    incident = system.incidents[ref]
    assert [e.event for e in incident.timeline].count("escalated") == 1
    assert incident.assignee != first
    assert "Escalations**: 1" in system.generate_incident_report(ref)


def test_an_unknown_service_joins_the_systems_policy(system: IncidentResponseSystem) -> None:
    ref = system.create_incident("Batch late", "Nightly batch", SeverityLevel.SEV4, "erin", ["etl"])
    assert system.incidents[ref].affected_services == ["etl"]
    assert "paged" in [e.event for e in system.incidents[ref].timeline]  # through `default`


def test_the_review_is_tocsins_post_mortem(
    system: IncidentResponseSystem, clock: FakeClock
) -> None:
    ref = system.create_incident("Payments down", "Card declines", SeverityLevel.SEV1, "alice")
    generator = PostIncidentReviewGenerator(system)
    assert "must be resolved" in generator.generate_pir(ref)
    clock.advance(timedelta(minutes=42))
    system.add_communication(ref, "Card declines back to normal", "status_page", "alice")
    system.update_incident_status(ref, IncidentStatus.RESOLVED, "alice", "provider fixed")
    review = generator.generate_pir(ref)
    assert review.startswith("# Post-Incident Review: Payments down")
    assert "**Post-mortem**: PM-1" in review and "42.0 minutes" in review
    assert "## Timeline of Events" in review and "## Action Items" in review
    assert system.incidents[ref].communication_log[0]["channel"] == "status_page"


def test_the_readmes_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Scripts and tests without a server", 1)[1].split("\n## ", 1)[0]
    [example] = re.findall(r"^```python\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    exec(example, {})
    assert float(capsys.readouterr().out) >= 0  # the minutes it took to resolve
