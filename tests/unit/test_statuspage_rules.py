"""The status page's pure rules, and its policy section."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tocsin.policy import Policy, PolicyError, example_policy_text, parse_policy
from tocsin.policy.statuspage import Impact, StatusPageSettings
from tocsin.statuspage.rules import (
    ComponentChange,
    ComponentStatus,
    ImpactWindow,
    IncidentState,
    Indicator,
    MaintenanceStatus,
    component_changes,
    component_id,
    component_states,
    components_from_services,
    format_duration,
    format_time,
    impact_windows,
    maintenance_status,
    overall_status,
    public_state,
    render_template,
    uptime,
    worst,
)

S = ComponentStatus
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
WEIGHTS = {S.major_outage: 1.0, S.partial_outage: 0.3, S.degraded_performance: 0.0}


# ---------------------------------------------------------------- components


@dataclass(frozen=True)
class Placement:
    component: str
    group: str | None = None


@dataclass(frozen=True)
class Svc:
    status_page: Placement | None


def test_components_come_from_mapped_services_once_each() -> None:
    services = [
        Svc(Placement("API", "Platform")),
        Svc(None),  # not on the page
        Svc(Placement("Website")),
        Svc(Placement("API", "Elsewhere")),  # a second service on the same component
    ]
    found = components_from_services(services)
    assert [(c.name, c.group, c.position) for c in found] == [
        ("API", "Platform", 1),
        ("Website", None, 2),
    ]
    assert found[0].id == component_id("API") and len(found[0].id) == 12
    assert found[0].group_id is not None and found[1].group_id is None
    assert component_id("API") != component_id("Website")


def test_component_state_is_the_worst_of_incidents_and_maintenance() -> None:
    states = component_states(
        ["API", "Website", "Login"],
        [
            {"API": S.degraded_performance},
            {"API": S.major_outage, "Website": S.partial_outage},
            {"Gone": S.major_outage},  # no longer a component: ignored
        ],
        [["Website", "Login"]],
    )
    assert states == {
        "API": S.major_outage,
        "Website": S.partial_outage,  # an outage is worse than maintenance
        "Login": S.under_maintenance,
    }
    assert worst([]) is S.operational


@pytest.mark.parametrize(
    ("states", "impacts", "maintenance", "expected"),
    [
        ([S.operational], [], False, (Indicator.none, "All Systems Operational")),
        ([S.degraded_performance], [], False, (Indicator.minor, "Minor Service Outage")),
        ([S.partial_outage], [], False, (Indicator.major, "Partial System Outage")),
        ([S.major_outage, S.operational], [], False, (Indicator.critical, "Major System Outage")),
        ([S.operational], [Impact.major], False, (Indicator.major, "Partial System Outage")),
        ([S.under_maintenance], [], True, (Indicator.none, "Service Under Maintenance")),
        ([S.degraded_performance], [Impact.none], True, (Indicator.minor, "Minor Service Outage")),
    ],
)
def test_overall_indicator(
    states: list[ComponentStatus],
    impacts: list[Impact],
    maintenance: bool,
    expected: tuple[Indicator, str],
) -> None:
    assert overall_status(states, impacts, maintenance=maintenance) == expected


def test_component_changes_are_atlassians_affected_components() -> None:
    changes = component_changes(
        {"API": S.partial_outage, "Website": S.major_outage},
        {"API": S.partial_outage, "Website": S.operational, "Login": S.degraded_performance},
    )
    assert changes == [
        ComponentChange("Website", S.major_outage, S.operational),
        ComponentChange("Login", S.operational, S.degraded_performance),
    ]
    assert changes[0].code == component_id("Website")


@pytest.mark.parametrize(
    ("internal", "public"),
    [
        ("triggered", IncidentState.investigating),
        ("acknowledged", IncidentState.investigating),
        ("investigating", IncidentState.investigating),
        ("identified", IncidentState.identified),
        ("monitoring", IncidentState.monitoring),
        ("resolved", IncidentState.resolved),
        ("closed", IncidentState.resolved),
    ],
)
def test_internal_states_map_to_four_public_ones(internal: str, public: IncidentState) -> None:
    assert public_state(internal) is public


def test_maintenance_follows_the_clock_only_when_told_to() -> None:
    start, end = NOW, NOW + 2 * H
    M = MaintenanceStatus
    assert maintenance_status(M.scheduled, start, end, auto=True, now=NOW - H) is M.scheduled
    assert maintenance_status(M.scheduled, start, end, auto=True, now=NOW) is M.in_progress
    assert maintenance_status(M.verifying, start, end, auto=True, now=NOW + H) is M.verifying
    assert maintenance_status(M.in_progress, start, end, auto=True, now=end) is M.completed
    assert maintenance_status(M.scheduled, start, end, auto=False, now=end + H) is M.scheduled
    assert maintenance_status(M.completed, start, end, auto=True, now=NOW) is M.completed


# ---------------------------------------------------------------- uptime


def test_impact_windows_follow_component_changes() -> None:
    started = NOW - 10 * H
    windows = impact_windows(
        started,
        NOW,
        [
            (started + H, "API", S.partial_outage),  # first update came an hour late
            (started + 3 * H, "API", S.major_outage),
            (started + H, "Web", S.degraded_performance),
            (started + 5 * H, "Web", S.operational),
            (NOW, "API", S.operational),  # the resolution itself
        ],
    )
    assert sorted(windows, key=lambda w: (w.component, w.start)) == [
        ImpactWindow("API", started + H, started + 3 * H, S.partial_outage),
        ImpactWindow("API", started + 3 * H, NOW, S.major_outage),
        ImpactWindow("Web", started + H, started + 5 * H, S.degraded_performance),
    ]
    # changes recorded before impact began count from the start; open incidents stay open
    early = impact_windows(started, None, [(started - H, "API", S.major_outage)])
    assert early == [ImpactWindow("API", started, None, S.major_outage)]


def test_three_hours_of_major_outage_ten_days_ago() -> None:
    began = NOW - 10 * D
    result = uptime(
        [ImpactWindow("API", began, began + 3 * H, S.major_outage)],
        [],
        now=NOW,
        days=90,
        weights=WEIGHTS,
    )
    assert result.percent == pytest.approx(100 * (1 - 3 / 2160))  # 99.8611 %
    assert result.downtime == 3 * H
    assert len(result.days) == 90
    assert result.days[-1].day == date(2026, 3, 2)  # today last
    bad = [d for d in result.days if d.downtime]
    assert [(d.day, d.worst, d.downtime) for d in bad] == [
        (date(2026, 2, 20), S.major_outage, 3 * H)
    ]
    assert bad[0].percent == pytest.approx(87.5)


def test_overlaps_count_once_at_the_heaviest_weight_and_maintenance_is_free() -> None:
    start = NOW - 2 * D
    windows = [
        ImpactWindow("API", start, start + 4 * H, S.partial_outage),
        ImpactWindow("API", start + 2 * H, start + 3 * H, S.major_outage),  # overlaps
        ImpactWindow("API", start + 10 * H, None, S.degraded_performance),  # still open
    ]
    result = uptime(windows, [], now=NOW, days=30, weights=WEIGHTS)
    # 3 h partial (0.3 each) + 1 h major; degraded weighs nothing
    expected = 3 * 0.3 + 1
    assert result.downtime == timedelta(hours=expected)
    assert result.percent == pytest.approx(100 * (1 - expected / (30 * 24)))
    spared = uptime(windows, [(start + 2 * H, start + 3 * H)], now=NOW, days=30, weights=WEIGHTS)
    assert spared.downtime == timedelta(hours=3 * 0.3)


def test_windows_are_clipped_to_the_period_and_days_follow_the_time_zone() -> None:
    before = ImpactWindow("API", NOW - 91 * D, NOW - 89 * D, S.major_outage)
    result = uptime([before], [], now=NOW, days=90, weights=WEIGHTS)
    assert result.downtime == D
    tokyo = ZoneInfo("Asia/Tokyo")  # 09:00 UTC is 18:00 in Tokyo
    late = ImpactWindow("API", NOW - 10 * H, NOW - 9 * H, S.major_outage)
    local = uptime([late], [], now=NOW, days=7, weights=WEIGHTS, tz=tokyo)
    assert local.days[-1].day == date(2026, 3, 2) and local.days[-1].downtime == H
    utc = uptime([late], [], now=NOW, days=7, weights=WEIGHTS)
    assert utc.days[-2].day == date(2026, 3, 1) and utc.days[-2].downtime == H


# ---------------------------------------------------------------- text


def test_templates_fill_known_placeholders_only() -> None:
    values = {"components": "API, Website", "page": "Acme Status"}
    assert render_template("{components} - {page}", values) == "API, Website - Acme Status"
    assert render_template("{unknown} {components.__class__}", values) == (
        "{unknown} {components.__class__}"
    )


def test_times_and_durations_read_well() -> None:
    assert format_time(NOW) == "2026-03-02 09:00 UTC"
    assert format_time(NOW, ZoneInfo("Europe/Berlin")) == "2026-03-02 10:00 CET"
    assert format_time(None) == ""
    assert format_duration(timedelta(seconds=30)) == "less than a minute"
    assert format_duration(timedelta(minutes=85)) == "1h 25m"
    assert format_duration(timedelta(days=2, hours=4, minutes=5)) == "2d 4h"


# ---------------------------------------------------------------- policy


def test_a_policy_without_the_section_loads_whatever_its_severities() -> None:
    minimal = Policy.model_validate(
        {
            "severities": [
                {
                    "name": "Critical",
                    "respond_within": "5m",
                    "escalate_after": "15m",
                    "update_every": "15m",
                    "resolve_target": "30m",
                }
            ]
        }
    )
    assert minimal.status_page.automation.severities == ()
    assert minimal.status_page.url == "http://127.0.0.1:8080/status"


def test_policy_section_defaults_and_severity_mapping() -> None:
    policy = parse_policy(example_policy_text(), "example.yaml")
    settings = policy.status_page
    assert settings.title == "Example Inc. Status"
    assert settings.automation.severities == ("SEV1", "SEV2")
    sev1 = policy.severity("P0")
    assert settings.impact_for(sev1.name, sev1.rank, sev1.aliases) is Impact.critical
    sev2, sev3 = policy.severity("high"), policy.severity("P2")
    assert settings.automates(sev2.name, sev2.rank, sev2.aliases) is True
    assert settings.automates(sev3.name, sev3.rank, sev3.aliases) is False
    assert settings.automates("unknown", 1) is False  # named in the policy: names decide
    defaults = StatusPageSettings()  # without the section: the two worst levels
    assert defaults.automates("P0", 1) and defaults.automates("whatever", 2)
    assert not defaults.automates("SEV3", 3)
    assert (
        defaults.impact_for("X", 3) is Impact.minor and defaults.impact_for("X", 4) is Impact.none
    )
    assert defaults.templates.body_for("identified") is not None
    assert defaults.templates.body_for("nonsense") is None


def test_policy_section_is_checked_with_paths_and_lines() -> None:
    text = example_policy_text().replace(
        "impact: {SEV1: critical, SEV2: major, SEV3: minor, SEV4: none}",
        "impact: {SEV1: critical, SEV9: major}",
    )
    text = text.replace("severities: [SEV1, SEV2]", "severities: [SEV1, sev7]")
    text = text.replace(
        'incident_name: "{components} - service disruption"', 'incident_name: "{title}"'
    )
    text = text.replace("url: https://status.example.com", "url: ftp://status.example.com")
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "tocsin.yaml")
    messages = {issue.path: issue.message for issue in caught.value.issues}
    assert "unknown severity 'SEV9'" in messages["status_page.impact.SEV9"]
    assert "unknown severity 'sev7'" in messages["status_page.automation.severities[1]"]
    assert "unknown placeholder {title}" in messages["status_page.templates.incident_name"]
    assert "not an http(s) URL" in messages["status_page.url"]
    assert all(issue.line for issue in caught.value.issues)
