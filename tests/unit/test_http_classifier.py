"""The one HTTP answer classifier of the HTTP channels: the status ladder, Retry-After
parsed once with one limit, and the adapters' hooks (a failure inside a 200, statuses
after which the outcome is unknown)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tocsin.notify.channels import OutcomeUnknown, PermanentError, RateLimited, TemporaryError
from tocsin.notify.channels.http import (
    MAX_RETRY_AFTER,
    HttpOutcome,
    classify,
    header,
    parse_retry_after,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, HttpOutcome.delivered),
        (202, HttpOutcome.delivered),
        (204, HttpOutcome.delivered),
        (301, HttpOutcome.permanent),
        (400, HttpOutcome.permanent),
        (401, HttpOutcome.permanent),
        (404, HttpOutcome.permanent),
        (408, HttpOutcome.temporary),
        (425, HttpOutcome.temporary),
        (429, HttpOutcome.rate_limited),
        (500, HttpOutcome.temporary),
        (502, HttpOutcome.temporary),
        (503, HttpOutcome.temporary),
        (504, HttpOutcome.temporary),
        (599, HttpOutcome.temporary),
    ],
)
def test_the_status_ladder(status: int, outcome: HttpOutcome) -> None:
    assert classify(status).outcome is outcome


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-5", 0.0),
        ("999999", MAX_RETRY_AFTER),
        ("Mon, 02 Mar 2026 09:02:00 GMT", 120.0),
        ("Mon, 02 Mar 2026 08:00:00 GMT", 0.0),  # already past
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date_within_one_limit(
    value: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_a_429_waits_retry_after_or_the_default() -> None:
    told = classify(429, {"Retry-After": "90"})
    assert (told.retry_after, told.told) == (90.0, True)
    error = told.error("HTTP 429")
    assert isinstance(error, RateLimited) and error.retry_after == 90.0
    silent = classify(429, {})
    assert (silent.retry_after, silent.told) == (60.0, False)
    assert classify(429, {"retry-after": "later"}).retry_after == 60.0
    assert classify(429, rate_limit_wait=30.0).retry_after == 30.0


def test_a_temporary_answer_carries_the_retry_after_it_was_given() -> None:
    error = classify(503, {"Retry-After": "30"}).error("HTTP 503")
    assert isinstance(error, TemporaryError) and not isinstance(error, RateLimited)
    assert error.retry_after == 30.0
    plain = classify(500).error("HTTP 500")
    assert isinstance(plain, TemporaryError) and plain.retry_after is None


def test_permanent_and_unknown_errors() -> None:
    assert isinstance(classify(404).error("HTTP 404"), PermanentError)
    answer = classify(502, maybe_done={500, 502, 504})
    assert answer.outcome is HttpOutcome.unknown
    assert isinstance(answer.error("HTTP 502"), OutcomeUnknown)
    assert classify(503, maybe_done={500, 502, 504}).outcome is HttpOutcome.temporary


def test_a_delivered_answer_has_no_error() -> None:
    with pytest.raises(ValueError, match="delivered"):
        classify(200).error("fine")


def test_a_failure_inside_a_2xx_body_replaces_the_status() -> None:
    def inside(body: str) -> int | None:
        return 429 if "throttled" in body else None

    assert classify(200, body="ok", body_status=inside).delivered
    answer = classify(200, {"Retry-After": "5"}, body="throttled", body_status=inside)
    assert (answer.outcome, answer.status, answer.retry_after) == (
        HttpOutcome.rate_limited,
        429,
        5.0,
    )
    # The body is only looked at for a 2xx.
    assert classify(404, body="throttled", body_status=inside).outcome is HttpOutcome.permanent


def test_headers_are_read_whatever_the_mapping() -> None:
    assert header({"Retry-After": "3"}, "retry-after") == "3"
    assert header({"retry-after": ["4", "5"]}, "Retry-After") == "4"
    assert header({}, "retry-after") is None
    assert header(None, "retry-after") is None
