"""One duration format and rounding rule: the same seconds read the same in the CLI,
the dashboard, post-mortems, reports and messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.cli.metrics import format_seconds as cli_format
from tocsin.cli.output import format_age
from tocsin.metrics.rules import format_seconds as metrics_format
from tocsin.postmortems.rules import format_span
from tocsin.templating import human_duration
from tocsin.timetext import duration_text, signed_duration_text
from tocsin.web.dashboard.views import age, environment

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.4, "0s"),
        (0.5, "1s"),  # half up, not to even
        (0.6, "1s"),
        (2.5, "3s"),
        (45, "45s"),
        (59.4, "59s"),
        (59.6, "1m"),  # rounds up to the next unit instead of "60s"
        (60, "1m"),
        (750, "12m 30s"),
        (3599.6, "1h"),  # not "59m 60s"
        (3600 + 5 * 60 + 29, "1h 5m"),
        (3600 + 5 * 60 + 30, "1h 6m"),  # minutes rounded, not truncated
        (3 * 3600, "3h"),
        (86_399, "1d"),
        (86_400 + 4 * 3600 + 1799, "1d 4h"),
        (86_400 + 4 * 3600 + 1800, "1d 5h"),
        (30 * 86_400, "30d"),
        (-5, "0s"),
    ],
)
def test_the_rule(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
    assert duration_text(timedelta(seconds=seconds)) == text


def test_missing_values_say_so() -> None:
    assert duration_text(None) == "n/a"
    assert duration_text(None, missing="—") == "—"


def test_offsets_keep_their_sign() -> None:
    assert signed_duration_text(timedelta(minutes=-3, seconds=-10)) == "-3m 10s"
    assert signed_duration_text(190) == "+3m 10s"
    assert signed_duration_text(-0.2) == "+0s"  # no "-0s"


@given(st.floats(min_value=0, max_value=10 * 365 * 86_400, allow_nan=False))
def test_every_view_reads_a_duration_the_same_way(seconds: float) -> None:
    """The CLI, the metrics and reports, post-mortems, messages and the dashboard: one
    text for one duration (the MTTA that read 1 s in one view and 0 s in another)."""
    delta = timedelta(seconds=seconds)
    expected = duration_text(seconds)
    dashboard = environment().filters["duration"]
    assert cli_format(seconds) == expected
    assert metrics_format(seconds) == expected
    assert format_span(delta) == expected
    assert human_duration(delta) == expected
    assert dashboard(seconds) == expected
    assert age(T0, T0 + delta) == expected
    assert format_age((T0 - delta).isoformat(), now=T0) == expected


@given(st.floats(min_value=0, max_value=10 * 365 * 86_400, allow_nan=False))
def test_at_most_two_units_largest_first(seconds: float) -> None:
    parts = duration_text(seconds).split()
    assert 1 <= len(parts) <= 2
    units = "dhms"
    order = [units.index(p[-1]) for p in parts]
    assert order == sorted(order) and len(set(order)) == len(order)
    if len(parts) == 2:
        assert order[1] == order[0] + 1  # "1d 4h", never "1d 4m"
