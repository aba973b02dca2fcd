"""Pausing the garbage collector while a year of incidents is read into columns.

Reading 100,000 incidents makes about a million small objects (row tuples, numbers,
strings) that never form reference cycles, yet each batch of them starts a collection
and the oldest generation's passes walk every object of the process: about a third of
the metrics summary's time. While any thread reads in bulk, automatic collection is
paused; it resumes when the last one is done (cycles made meanwhile are collected then).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]

_lock = threading.Lock()
_readers = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    global _readers, _was_enabled
    with _lock:
        if _readers == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _readers += 1
    try:
        yield
    finally:
        with _lock:
            _readers -= 1
            if _readers == 0 and _was_enabled:
                gc.enable()
