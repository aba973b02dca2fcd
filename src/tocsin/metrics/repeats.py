"""Repeat incidents: the same service and a similar title within 7 days of another.

Titles are compared as sets of lower-case words without bare numbers ("Disk full on
host 17" = "disk full on host 18"), and are similar when the sets overlap by at least
half (Jaccard index ≥ 0.5: "Checkout API 5xx" and "Checkout API 5xx errors" are,
"Checkout API 5xx" and "Checkout API latency" are not).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from itertools import chain

import numpy as np

from tocsin.metrics.records import REPEAT_WITHIN, SIMILAR_TITLE
from tocsin.metrics.table import IncidentTable, IntArray

__all__ = ["repeat_incidents", "similar", "title_tokens"]

_WORD = re.compile(r"[a-z0-9]+")


def title_tokens(title: str) -> frozenset[str]:
    """Lower-case words of a title, without bare numbers (host 17 = host 18)."""
    return frozenset(w for w in _WORD.findall(title.lower()) if not w.isdigit())


def similar(a: frozenset[str], b: frozenset[str]) -> bool:
    """Titles are similar when their word sets overlap by half (Jaccard index ≥ 0.5)."""
    if not a or not b:
        return a == b
    return len(a & b) >= SIMILAR_TITLE * len(a | b)


def _codes(values: Sequence[str], index: dict[str, int]) -> IntArray:
    """Each value's position in ``index`` (filled in order of first appearance)."""
    index.update((value, code) for code, value in enumerate(dict.fromkeys(values)))
    return np.array(list(map(index.__getitem__, values)), dtype=np.int64)


def repeat_incidents(table: IncidentTable, within: timedelta = REPEAT_WITHIN) -> set[int]:
    """Ids of incidents detected within ``within`` after a similar one on the same
    service.

    Vectorised for a year of incidents: each (service, word set) pair gets an integer
    key; sorted by key and time, an incident whose key occurred less than ``within``
    earlier is a repeat (a title seen before: the common case). Only the others, the
    first of their title in a while, are compared in Python with the distinct titles
    their service had in the ``within`` before them. Ties in detection time keep the
    table's order: either twin counts as the repeat.
    """
    limit = within.total_seconds()
    if not len(table):
        return set()
    title_index: dict[str, int] = {}
    title_rows = _codes(table.titles, title_index)
    word_sets: list[frozenset[str]] = []
    set_of: dict[frozenset[str], int] = {}
    title_sets = np.empty(len(title_index), dtype=np.int64)
    for title, index in title_index.items():
        words = title_tokens(title)
        if words not in set_of:
            set_of[words] = len(word_sets)
            word_sets.append(words)
        title_sets[index] = set_of[words]
    # One entry per (incident, service).
    lengths = np.fromiter(map(len, table.services), dtype=np.int64, count=len(table))
    rows = np.repeat(np.arange(len(table)), lengths)
    if not rows.size:
        return set()
    service_index: dict[str, int] = {}
    services = _codes(list(chain.from_iterable(table.services)), service_index)
    sets = title_sets[title_rows[rows]]
    times = table.detected[rows]
    keys = services * len(word_sets) + sets
    order = np.lexsort((times, keys))
    k, t, r = keys[order], times[order], rows[order]
    seen_recently = np.zeros(r.size, dtype=np.bool_)
    seen_recently[1:] = (k[1:] == k[:-1]) & (t[1:] - t[:-1] <= limit)
    repeat_rows = set(r[seen_recently].tolist())
    # The rest: compare with the other titles of the same service in the window before.
    by_service = np.lexsort((times, services))
    service_sorted = services[by_service]
    starts = np.searchsorted(service_sorted, np.arange(len(service_index)), side="left")
    ends = np.searchsorted(service_sorted, np.arange(len(service_index)), side="right")
    service_times, service_sets = times[by_service], sets[by_service]
    verdicts: dict[tuple[int, int], bool] = {}
    for row, service, words, at in zip(
        r[~seen_recently].tolist(),
        (k[~seen_recently] // len(word_sets)).tolist(),
        (k[~seen_recently] % len(word_sets)).tolist(),
        t[~seen_recently].tolist(),
        strict=True,
    ):
        if row in repeat_rows:
            continue
        start, end = int(starts[service]), int(ends[service])
        block = service_times[start:end]
        low = start + int(np.searchsorted(block, at - limit, side="left"))
        high = start + int(np.searchsorted(block, at, side="left"))
        for other in np.unique(service_sets[low:high]).tolist():
            if other == words:
                continue
            pair = (min(other, words), max(other, words))
            verdict = verdicts.get(pair)
            if verdict is None:
                verdict = verdicts[pair] = similar(word_sets[other], word_sets[words])
            if verdict:
                repeat_rows.add(row)
                break
    return set(table.ids[sorted(repeat_rows)].tolist())
