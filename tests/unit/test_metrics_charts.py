"""Weeks are ISO weeks everywhere, and charts read well: durations in a unit that suits
them (never "0.032 minutes"), text at least 11 px at the chart's own width, and an
empty chart that says so."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tocsin.metrics import charts
from tocsin.metrics.rules import IncidentFacts, Period, by_period, week_label, week_start
from tocsin.metrics.table import IncidentTable
from tocsin.metrics.trends import weekly_trend

#: A Wednesday afternoon.
NOW = datetime(2026, 12, 9, 15, 0, tzinfo=UTC)
SEVERITIES = ["SEV1", "SEV2", "SEV3", "SEV4"]


def incident(
    number: int, detected: datetime, severity: str = "SEV2", ack_after: float | None = None
) -> IncidentFacts:
    acknowledged = detected + timedelta(seconds=ack_after) if ack_after is not None else None
    return IncidentFacts.from_times(
        id=number,
        number=number,
        title=f"incident {number}",
        severity=severity,
        severity_rank=SEVERITIES.index(severity) + 1,
        started_at=None,
        detected_at=detected,
        acknowledged_at=acknowledged,
        resolved_at=acknowledged,
    )


def test_week_start_is_monday_midnight_utc() -> None:
    sunday_night = datetime(2026, 12, 6, 23, 59, tzinfo=UTC)
    monday = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    assert week_start(sunday_night) == datetime(2026, 11, 30, tzinfo=UTC)
    assert week_start(monday) == monday
    assert week_start(NOW) == monday
    assert week_label(monday) == "2026-W50"
    assert week_label(datetime(2026, 12, 28, tzinfo=UTC)) == "2026-W53"  # ISO years differ


def test_the_dashboard_trend_and_the_summary_count_the_same_weeks() -> None:
    """Dec 6 (a Sunday) belongs to the week of Monday Nov 30, in both."""
    since = NOW - timedelta(days=30)
    facts = [
        incident(1, since - timedelta(hours=1)),  # before the window: in neither
        incident(2, since + timedelta(hours=1)),
        incident(3, datetime(2026, 12, 6, 12, tzinfo=UTC), "SEV1", ack_after=0.6),
        incident(4, datetime(2026, 12, 7, 0, 0, tzinfo=UTC), "SEV4", ack_after=90),
        incident(5, NOW - timedelta(minutes=1), "SEV3"),
    ]
    table = IncidentTable.from_facts(facts)
    weeks = weekly_trend(table, severities=SEVERITIES, since=since, until=NOW)
    periods = by_period(
        table.where(table.detected_between(since.timestamp(), NOW.timestamp())),
        Period.week,
        since,
        NOW,
    )
    assert [w.start for w in weeks] == [p.start for p in periods]
    assert all(w.start.weekday() == 0 and w.start.hour == 0 for w in weeks)
    assert [sum(w.counts.values()) for w in weeks] == [p.count for p in periods]
    dec_6 = next(w for w in weeks if w.start == datetime(2026, 11, 30, tzinfo=UTC))
    assert dec_6.counts["SEV1"] == 1 and dec_6.label == "2026-W49, Nov 30"
    assert dec_6.mtta.mean == pytest.approx(0.6)
    assert weeks[-1].counts == {"SEV1": 0, "SEV2": 0, "SEV3": 1, "SEV4": 1}
    assert weeks[-1].mtta.mean == pytest.approx(90)


@pytest.mark.parametrize(
    ("values", "unit"),
    [
        ([0.032 * 60, 0.6, None], "seconds"),
        ([90, 119], "seconds"),
        ([150, 3000], "minutes"),
        ([7200, 1800], "hours"),
        ([3 * 86_400], "days"),
        ([None, None], "seconds"),
    ],
)
def test_durations_are_plotted_in_a_unit_that_suits_them(
    values: list[float | None], unit: str
) -> None:
    assert charts.duration_unit(values)[1] == unit


def _texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def _smallest_text_px(svg: str, shown_width: float) -> float:
    """The smallest font size of the chart as shown ``shown_width`` px wide."""
    view_width = float(re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1))  # type: ignore[union-attr]
    sizes = [float(s) for s in re.findall(r"font-size: ([\d.]+)px", svg)]
    return min(sizes) * shown_width / view_width


@pytest.mark.parametrize("size", list(charts.ChartSize))
def test_the_axis_says_minutes_and_the_text_is_readable(size: charts.ChartSize) -> None:
    svg = charts.mtta_trend_chart(
        ["Nov 23", "Nov 30", "Dec 7"], [150, 1800, 900], [120, 1500, 600], size
    )
    texts = _texts(svg)
    assert "minutes" in texts
    ticks = [t for t in texts if re.fullmatch(r"[\d.]+", t)]
    assert ticks and all(len(t.split(".")[-1]) <= 1 or "." not in t for t in ticks), ticks
    width = {charts.ChartSize.wide: 540, charts.ChartSize.narrow: 300}[size]
    assert _smallest_text_px(svg, width) >= 11


def test_sub_second_acknowledgements_read_in_seconds() -> None:
    svg = charts.mtta_trend_chart(["W1", "W2"], [0.6, 1.9], [0.5, 1.2])
    assert "seconds" in _texts(svg) and "minutes" not in _texts(svg)


def test_an_empty_chart_says_so() -> None:
    svg = charts.mttr_trend_chart(["W1", "W2"], [None, None], [None, None])
    assert "Nothing measured yet" in _texts(svg)
    assert "No incidents" in _texts(charts.severity_trend_chart(["W1"], {}, SEVERITIES))


def test_the_same_data_is_drawn_once() -> None:
    first = charts.sla_compliance_chart(SEVERITIES, [1.0, 0.5, None, None], [None] * 4)
    again = charts.sla_compliance_chart(SEVERITIES, [1.0, 0.5, None, None], [None] * 4)
    other = charts.sla_compliance_chart(SEVERITIES, [1.0, 0.25, None, None], [None] * 4)
    assert again is first  # kept, not drawn again
    assert other != first
