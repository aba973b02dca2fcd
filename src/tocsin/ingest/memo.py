"""Reuse of parsed alerts that arrive again unchanged.

Alertmanager sends every firing alert of a group again on each ``group_interval``
and ``repeat_interval``, so most of what the inbound endpoints receive is alerts they
parsed before, unchanged. Parsing one (checking every field, building its title,
links and :class:`AlertEvent`) costs several times what counting its repeat costs,
and the result depends on nothing but the alert's JSON element. :class:`ParseMemo`
keeps, per (source, integration key, fingerprint), the latest element and its event;
an element equal to the kept one yields the kept event, anything else is parsed in
full.

An element is compared with the kept one by its JSON text (orjson's, which is as
quick as comparing the dictionaries and also tells key order apart). Decoded JSON
holds only dicts, lists, strings, numbers, booleans and nulls, and orjson writes NaN
and infinities (which the standard library's fallback decoder lets through) as
``null``; so only elements whose values are strings or objects of strings are kept,
and an element with the same text as one of those is the very same JSON.

An element is kept only after the request that carried it was stored, so a request
with a wrong key fills nothing, and the memo is bounded both in entries and in the
text of each element.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import orjson

from tocsin.alerts.sanitize import clean_map
from tocsin.ingest.events import AlertEvent

__all__ = ["MAX_ENTRIES", "MAX_TEXT", "KeptEvent", "ParseMemo"]

#: Elements kept per memo (the oldest kept goes first).
MAX_ENTRIES = 8192
#: Elements longer than this as JSON (in bytes) are not kept.
MAX_TEXT = 4096

_Key = tuple[str, str, str]
_FIELDS = tuple(f.name for f in fields(AlertEvent))


@dataclass(frozen=True)
class KeptEvent(AlertEvent):
    """An event the memo hands out again. Its ``labels`` and ``annotations`` are
    storable as they are (:func:`~tocsin.alerts.sanitize.clean_map` would return equal
    maps) and shared between requests, so nobody may change them; ``maps_clean``
    tells the pipeline it need not clean them again."""

    maps_clean: ClassVar[bool] = True


class ParseMemo:
    """The latest element and event per (source, integration key, fingerprint)."""

    def __init__(self, *, max_entries: int = MAX_ENTRIES, max_text: int = MAX_TEXT) -> None:
        self.max_entries = max_entries
        self.max_text = max_text
        self._entries: OrderedDict[_Key, tuple[bytes, KeptEvent]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, source: str, key: str) -> Callable[[Any], AlertEvent | None]:
        """A function that answers the event kept for an element equal to the one it
        is given (for ``source`` and integration ``key`` only), or None."""
        entries = self._entries

        def reuse(element: Any) -> AlertEvent | None:
            if type(element) is not dict:
                return None
            fingerprint = element.get("fingerprint")
            if type(fingerprint) is not str:
                return None
            kept = entries.get((source, key, fingerprint))
            if kept is None:
                return None
            try:
                same = orjson.dumps(element) == kept[0]
            except orjson.JSONEncodeError:  # a lone surrogate, an integer beyond 64 bits
                return None
            return kept[1] if same else None

        return reuse

    def keep(
        self, source: str, key: str, elements: Sequence[Any], events: Sequence[AlertEvent]
    ) -> None:
        """Remember the events parsed from ``elements`` (one each, in order), once the
        request that carried them was stored."""
        entries = self._entries
        for element, event in zip(elements, events, strict=True):
            if isinstance(event, KeptEvent) or not _plain(element):
                continue
            fingerprint = element.get("fingerprint")
            if type(fingerprint) is not str or not _clean(event):
                continue
            try:
                text = orjson.dumps(element)
            except orjson.JSONEncodeError:
                continue
            if len(text) > self.max_text:
                continue
            entry_key = (source, key, fingerprint)
            entries.pop(entry_key, None)
            while len(entries) >= self.max_entries:
                entries.popitem(last=False)
            entries[entry_key] = (text, KeptEvent(**{f: getattr(event, f) for f in _FIELDS}))


def _plain(element: Any) -> bool:
    """Strings and objects of strings only (see the module's notes)."""
    if type(element) is not dict:
        return False
    for value in element.values():
        if type(value) is dict:
            if not all(type(item) is str for item in value.values()):
                return False
        elif type(value) is not str:
            return False
    return True


def _clean(event: AlertEvent) -> bool:
    """Whether the event's maps are storable as they are."""
    return clean_map(event.labels) == event.labels and (
        clean_map(event.annotations) == event.annotations
    )
