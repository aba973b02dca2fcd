"""The one way a test harness moves a :class:`~tocsin.clock.FakeClock`.

Time in a harness is counted in minutes from its *start* (the clock's time when the
harness was made):

- ``when(m)`` is the instant ``m`` minutes after the start (the clock does not move);
- ``at(m)`` moves the clock to ``m`` minutes after the start — absolute;
- ``advance(m)`` moves it ``m`` minutes on from where it is now — relative;
- ``elapsed()`` is how many minutes after the start the clock is now, and
  ``minutes(instant)`` how many after the start ``instant`` is.

The clock never goes back: ``at`` a moment already passed is an error. A harness that
runs workers (jobs, deliveries) overrides :meth:`ClockHarness.next_due` and
:meth:`ClockHarness.run_due`; the clock then jumps from one due moment to the next, as a
real clock would reach them, running what fell due at each, so hours of escalation take
milliseconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tocsin.clock import FakeClock

__all__ = ["ClockHarness"]


class ClockHarness:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.start = clock.now()

    def when(self, minutes: float) -> datetime:
        """The instant ``minutes`` after the start."""
        return self.start + timedelta(minutes=minutes)

    def minutes(self, instant: datetime) -> float:
        """How many minutes after the start ``instant`` is."""
        return (instant - self.start).total_seconds() / 60

    def elapsed(self) -> float:
        """How many minutes after the start the clock is now."""
        return self.minutes(self.clock.now())

    def at(self, minutes: float) -> None:
        """Move the clock to ``minutes`` after the start, running what falls due on the
        way (and at that moment), in order."""
        target = self.when(minutes)
        if target < self.clock.now():
            raise AssertionError(
                f"at({minutes}): the clock is already {self.elapsed()} minutes after the start"
            )
        self.run_due()
        while (due := self.next_due()) is not None and due <= target:
            self.clock.set(max(due, self.clock.now()))
            self.run_due()
        self.clock.set(target)
        self.run_due()

    def advance(self, minutes: float) -> None:
        """Move the clock ``minutes`` on from now (as :meth:`at`)."""
        self.at(self.elapsed() + minutes)

    def next_due(self) -> datetime | None:
        """When the earliest pending work falls due (None: nothing pending)."""
        return None

    def run_due(self) -> None:
        """Run the work that is due now."""
