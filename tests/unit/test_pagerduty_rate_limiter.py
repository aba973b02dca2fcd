"""The sliding window behind the per-routing-key rate limit of ``/v2/*``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tocsin.web.inbound_pagerduty import RateLimiter

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_a_sliding_window_per_key() -> None:
    limiter = RateLimiter()
    at = [T0, T0 + timedelta(seconds=20), T0 + timedelta(seconds=40)]
    assert all(limiter.allow("a", limit=3, window=MINUTE, now=t) for t in at)
    assert not limiter.allow("a", limit=3, window=MINUTE, now=T0 + timedelta(seconds=59))
    assert limiter.allow("b", limit=3, window=MINUTE, now=T0 + timedelta(seconds=59))
    # A minute after the first event, one more fits; a refusal is not counted.
    assert limiter.allow("a", limit=3, window=MINUTE, now=T0 + MINUTE)
    assert not limiter.allow("a", limit=3, window=MINUTE, now=T0 + MINUTE)


def test_idle_keys_are_forgotten() -> None:
    limiter = RateLimiter()
    for n in range(RateLimiter.SWEEP_AT):
        assert limiter.allow(f"key-{n}", limit=1, window=MINUTE, now=T0)
    later = T0 + 2 * MINUTE
    assert limiter.allow("busy", limit=1, window=MINUTE, now=later)  # sweeps the idle ones
    assert limiter.allow("new", limit=1, window=MINUTE, now=later)
    assert len(limiter._seen) == 2
    assert not limiter.allow("busy", limit=1, window=MINUTE, now=later)
