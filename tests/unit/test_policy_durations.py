from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from tocsin.policy import Duration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d4h5m6s", timedelta(days=2, hours=4, minutes=5, seconds=6)),
        ("90m", timedelta(minutes=90)),
        (" 5m ", timedelta(minutes=5)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "5", "m", "5 minutes", "1m1h", "1.5h", "-5m", "5M", "1w", "1h 30m", "5mm"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(minutes=15), "15m"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=1), "1d"),
        (timedelta(days=1, seconds=1), "1d1s"),
        (timedelta(0), "0s"),
    ],
)
def test_format_duration(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value


@pytest.mark.parametrize("seconds", [1, 59, 60, 61, 3599, 3600, 86399, 86400, 90061, 10**7])
def test_round_trip(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


def test_format_rejects_negative_and_fractional() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="fractional"):
        format_duration(timedelta(seconds=1.5))


class _Timer(BaseModel):
    after: Duration


def test_duration_field_validates_and_serialises_as_text() -> None:
    timer = _Timer.model_validate({"after": "1h30m"})
    assert timer.after == timedelta(minutes=90)
    assert timer.model_dump(mode="json") == {"after": "1h30m"}
    assert _Timer(after=timedelta(minutes=5)).after == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "invalid duration 'soon'"),
        (15, "expected a duration string with a unit"),
        ("0m", "greater than zero"),
        (timedelta(0), "greater than zero"),
    ],
)
def test_duration_field_rejects(value: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _Timer.model_validate({"after": value})
    (error,) = caught.value.errors()
    assert error["loc"] == ("after",)
    assert message in error["msg"]
