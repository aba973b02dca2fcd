"""How often the interpreter hands the GIL between a server's threads.

A server process runs its writers (the group commit, the engine, the delivery worker,
requests) as threads of one interpreter. Each statement a writer sends lets the GIL go
while it waits for the database; getting it back waits for the thread that took it to
be asked to give it up, by default after 5 ms. A writer that holds the writer lock and
sends forty statements therefore waited up to 40 times 5 ms behind the event loop parsing
the next webhook: a storm chunk of 100 alerts took 21 ms alone and 1.9 s beside one
busy thread. At 1 ms the handovers cost little and the waits are five times shorter:
measured on 2 cores with ``bench/storm.py``, 10,000 alerts collapsing into a storm
were stored at 3,160 alerts/s instead of 2,720 to 2,870 on SQLite, and 1,140 to 1,290 instead
of 910 to 1,080 on PostgreSQL, with declared incidents paged no later.
"""

from __future__ import annotations

import sys

__all__ = ["SWITCH_INTERVAL_SECONDS", "switch_threads_often"]

#: The GIL's switch interval in server processes (Python's default is 0.005).
SWITCH_INTERVAL_SECONDS = 0.001


def switch_threads_often() -> None:
    """Set :data:`SWITCH_INTERVAL_SECONDS` for this process (``serve``, its HTTP
    processes and ``worker``)."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
