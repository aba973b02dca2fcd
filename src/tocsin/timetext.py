"""How a measured duration reads to a person, the same everywhere: the CLI, the API's
text, the dashboard, post-mortems, reports and messages.

The rule: at most the two largest units (``d``, ``h``, ``m``, ``s``), the smaller one
rounded half up, a zero smaller unit left out — ``0s``, ``45s``, ``12m 30s``, ``12m``,
``3h 5m``, ``2d 4h``. Rounding happens once, at the precision shown, so a value just
under a boundary moves up to it (59m 59.6s reads ``1h``, not ``59m 60s``) and the same
duration reads the same wherever it appears. A fraction of a second rounds to ``0s`` or
``1s``; a negative duration reads as ``0s`` (:func:`signed_duration_text` keeps the
sign, for offsets before a reference time).

Durations that come from the policy file keep the policy's own notation
(:func:`tocsin.policy.format_duration`, ``1h30m``), which the file and the CLI accept
back.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["duration_text", "signed_duration_text"]

#: Each unit, its size in seconds and the next smaller unit's size.
_STEPS = ((86_400, "d", 3_600, "h"), (3_600, "h", 60, "m"), (60, "m", 1, "s"))


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _half_up(value: float) -> int:
    return int(value + 0.5)


def duration_text(value: float | timedelta | None, *, missing: str = "n/a") -> str:
    """``value`` (seconds or a timedelta) as ``3h 5m``; ``missing`` for None."""
    if value is None:
        return missing
    seconds = max(_seconds(value), 0.0)
    for size, unit, smaller, small_unit in _STEPS:
        # Round at the precision this pair of units shows, then see if it fits.
        counted = _half_up(seconds / smaller)
        if counted >= size // smaller:
            big, small = divmod(counted, size // smaller)
            return f"{big}{unit} {small}{small_unit}" if small else f"{big}{unit}"
    return f"{_half_up(seconds)}s"


def signed_duration_text(value: float | timedelta) -> str:
    """``+3m 10s`` or ``-45s``: an offset from a reference time."""
    seconds = _seconds(value)
    if seconds < 0 and duration_text(-seconds) != "0s":
        return "-" + duration_text(-seconds)
    return "+" + duration_text(seconds)
