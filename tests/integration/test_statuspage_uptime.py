"""Uptime from stored impact windows, with the fake clock, on SQLite and PostgreSQL.

The window is the 90 days before now: 90 x 24 h = 2160 h.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.statuspage import public, service
from tocsin.statuspage.models import MaintenanceCreate, PublicUpdateCreate, StatusIncidentCreate
from tocsin.statuspage.rules import ComponentStatus, IncidentState
from tocsin.web.context import AppContext

HOURS = 90 * 24


def outage(
    context: AppContext,
    clock: FakeClock,
    *,
    ago: timedelta,
    length: timedelta,
    components: dict[str, ComponentStatus | None],
) -> None:
    """A public incident that began ``ago`` and was resolved ``length`` later."""
    now = clock.now()
    policy = context.policy.current
    clock.set(now - ago)
    with session_scope(context.sessions) as session:
        incident = service.create_incident(
            session=session,
            policy=policy,
            actor="alice",
            data=StatusIncidentCreate(name="Outage", components=components),
            now=clock.now(),
        )
        code = incident.code
    clock.advance(length)
    with session_scope(context.sessions) as session:
        service.add_update(
            session=session,
            policy=policy,
            actor="alice",
            incident=service.get_incident(session=session, code=code),
            data=PublicUpdateCreate(status=IncidentState.resolved),
            now=clock.now(),
        )
    clock.set(now)


def uptimes(context: AppContext, clock: FakeClock) -> dict[str, float]:
    with session_scope(context.sessions, write=False) as session:
        view = public.load_page(session=session, policy=context.policy.current, now=clock.now())
    result = {}
    for component in view.components:
        assert component.uptime is not None
        result[component.name] = component.uptime.percent
    return result


def test_a_three_hour_major_outage_ten_days_ago(app_context: AppContext, clock: FakeClock) -> None:
    outage(
        app_context,
        clock,
        ago=timedelta(days=10),
        length=timedelta(hours=3),
        components={"Checkout": ComponentStatus.major_outage},
    )
    result = uptimes(app_context, clock)
    assert result["Checkout"] == pytest.approx(100 * (1 - 3 / HOURS))  # 99.8611 %
    assert round(result["Checkout"], 2) == 99.86
    assert result["Login"] == 100.0 and result["Website"] == 100.0
    with session_scope(app_context.sessions, write=False) as session:
        view = public.load_page(session=session, policy=app_context.policy.current, now=clock.now())
    checkout = next(c for c in view.components if c.name == "Checkout")
    assert checkout.uptime is not None
    bad = [d for d in checkout.uptime.days if d.downtime]
    assert len(bad) == 1
    assert bad[0].day == (clock.now() - timedelta(days=10)).date()
    assert bad[0].downtime == timedelta(hours=3)
    assert bad[0].worst is ComponentStatus.major_outage
    assert bad[0].percent == pytest.approx(100 * (1 - 3 / 24))  # 87.5 %


def test_partial_outages_weigh_less_and_old_ones_fall_out(
    app_context: AppContext, clock: FakeClock
) -> None:
    outage(
        app_context,
        clock,
        ago=timedelta(days=5),
        length=timedelta(hours=2),
        components={"Login": ComponentStatus.partial_outage, "Website": None},
    )
    outage(  # resolved before the 90-day window began
        app_context,
        clock,
        ago=timedelta(days=95),
        length=timedelta(hours=10),
        components={"Checkout": ComponentStatus.major_outage},
    )
    outage(  # straddles the window's start: 1 of its 4 hours counts
        app_context,
        clock,
        ago=timedelta(days=90, hours=3),
        length=timedelta(hours=4),
        components={"Website": ComponentStatus.major_outage},
    )
    result = uptimes(app_context, clock)
    assert result["Login"] == pytest.approx(100 * (1 - 2 * 0.3 / HOURS))
    # Website: listed without a state beside a partial outage, so the incident's impact
    # (major) gave it partial_outage too: 2 h x 0.3, plus 1 h of major outage
    assert result["Website"] == pytest.approx(100 * (1 - (2 * 0.3 + 1) / HOURS))
    assert result["Checkout"] == 100.0


def test_scheduled_maintenance_is_not_downtime(app_context: AppContext, clock: FakeClock) -> None:
    now = clock.now()
    with session_scope(app_context.sessions) as session:
        service.create_maintenance(
            session=session,
            policy=app_context.policy.current,
            actor="alice",
            data=MaintenanceCreate(
                name="Upgrade",
                body="Planned.",
                components=["Checkout"],
                scheduled_for=now - timedelta(days=3, hours=1),
                scheduled_until=now - timedelta(days=3) + timedelta(hours=1),
            ),
            now=now - timedelta(days=4),
        )
    # a 3-hour outage of which the first 2 hours fall inside the maintenance
    outage(
        app_context,
        clock,
        ago=timedelta(days=3, hours=1),
        length=timedelta(hours=3),
        components={"Checkout": ComponentStatus.major_outage},
    )
    assert uptimes(app_context, clock)["Checkout"] == pytest.approx(100 * (1 - 1 / HOURS))
