"""The mappings every importer shares: weekly windows to restrictions, phone numbers,
how long a 429 says to wait, rotations that overlap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tocsin.importers.draft import Draft, phone_number, weekly_restrictions
from tocsin.importers.http import MAX_WAIT, ImportFailed, read_token, retry_delay
from tocsin.importers.overlaps import report_overlaps
from tocsin.importers.yamltext import extend

DAY = 1440


def test_office_hours_are_one_restriction_for_five_days() -> None:
    windows = [(d * DAY + 9 * 60, 8 * 60) for d in range(5)]
    assert weekly_restrictions(windows) == [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"}
    ]


def test_a_night_window_runs_past_midnight_as_one_restriction() -> None:
    assert weekly_restrictions([(6 * DAY + 20 * 60, 12 * 60)]) == [
        {"days": ["sun"], "from": "20:00", "to": "08:00"}
    ]


def test_a_weekend_window_is_cut_at_midnights() -> None:
    friday_evening = 4 * DAY + 18 * 60
    assert weekly_restrictions([(friday_evening, 60 * 60)]) == [
        {"days": ["mon"], "from": "00:00", "to": "06:00"},
        {"days": ["sat", "sun"], "from": "00:00", "to": "00:00"},
        {"days": ["fri"], "from": "18:00", "to": "00:00"},
    ]


def test_windows_covering_the_whole_week_need_no_restriction() -> None:
    assert weekly_restrictions([(0, 7 * DAY)]) is None
    assert weekly_restrictions([(d * DAY, DAY) for d in range(7)]) is None


@pytest.mark.parametrize(
    ("code", "number", "expected"),
    [
        (1, "5555550101", "+15555550101"),
        (None, "1-5555550101", "+15555550101"),
        (49, "30 1234567", "+49301234567"),
        (None, "+44 20 7946 0958", "+442079460958"),
        (None, "not a phone", None),
        (None, "0301234567", None),
    ],
)
def test_phone_numbers_become_e164(code: int | None, number: str, expected: str | None) -> None:
    assert phone_number(code, number) == expected


def test_the_wait_after_a_429_follows_the_source() -> None:
    assert retry_delay({"Retry-After": "7"}, 0) == 7
    soon = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 <= retry_delay({"Retry-After": format_datetime(soon, usegmt=True)}, 0) <= 30
    assert retry_delay({"ratelimit-reset": "12"}, 0) == 12
    assert retry_delay({"X-RateLimit-Period-In-Sec": "60"}, 0) == 60
    assert retry_delay({}, 0) == 0.5 and retry_delay({}, 3) == 4
    assert retry_delay({"Retry-After": "3600"}, 0) == MAX_WAIT


def test_a_token_file_wins_and_an_empty_one_is_refused(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SOURCE_TOKEN", "from-env")
    token = tmp_path / "token"
    token.write_text("  from-file \n")
    assert read_token("SOURCE_TOKEN", token, "X") == "from-file"
    assert read_token("SOURCE_TOKEN", None, "X") == "from-env"
    token.write_text("\n")
    with pytest.raises(ImportFailed, match="is empty"):
        read_token("SOURCE_TOKEN", token, "X")


def _schedule(second_from: str, second_to: str) -> dict[str, object]:
    return {
        "name": "follow",
        "timezone": "Europe/Berlin",
        "layers": [
            {"name": "day", "rotation": "daily", "start": "2027-01-04T08:00",
             "participants": ["ann", "bob"],
             "restrictions": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                               "from": "08:00", "to": "20:00"}]},
            {"name": "night", "rotation": "daily", "start": "2027-01-04T20:00",
             "participants": ["cy"],
             "restrictions": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                               "from": second_from, "to": second_to}]},
        ],
    }  # fmt: skip


def test_overlapping_rotations_are_reported_and_adjacent_ones_are_not() -> None:
    since = datetime(2027, 3, 1, tzinfo=UTC)
    clean = Draft("Opsgenie", schedules=[_schedule("20:00", "08:00")])
    report_overlaps(clean, since, since + timedelta(weeks=2))
    assert clean.unmapped == []
    overlapping = Draft("Opsgenie", schedules=[_schedule("18:00", "08:00")])
    report_overlaps(overlapping, since, since + timedelta(weeks=2))
    [found] = overlapping.unmapped
    assert found.name == "follow: day and night"
    assert "2027-03-01T17:00:00+00:00" in found.reason  # 18:00 in Berlin
    assert "Opsgenie pages both, Tocsin only night's person" in found.reason


def test_entries_are_added_as_text_and_everything_else_stays() -> None:
    text = (
        "version: 1  # the format\n"
        "people:\n"
        '  - {name: ann, email: "ann@example.com"}   # flow entry, quoted\n'
        "\n"
        "# --- teams\n"
        "teams: []\n"
        "alerting:\n"
        "  correlation_window: 5m\n"
    )
    grown = extend(text, ("people",), [{"name": "bob"}])
    grown = extend(grown, ("alerting", "maintenance_windows"), [{"service": "api"}])
    grown = extend(grown, ("services",), [{"name": "api"}])
    assert grown == (
        "version: 1  # the format\n"
        "people:\n"
        '  - {name: ann, email: "ann@example.com"}   # flow entry, quoted\n'
        "  - name: bob\n"
        "\n"
        "# --- teams\n"
        "teams: []\n"
        "alerting:\n"
        "  correlation_window: 5m\n"
        "  maintenance_windows:\n"
        "    - service: api\n"
        "\n"
        "services:\n"
        "  - name: api\n"
    )
    with pytest.raises(ImportFailed, match="`teams` is written in flow style"):
        extend(text, ("teams",), [{"name": "ops"}])
