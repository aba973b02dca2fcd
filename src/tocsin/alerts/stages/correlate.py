"""Stages 2-4 for a batch's new firings, judged together before any is decided:
route and silence each (:meth:`~tocsin.alerts.batch.Batch.triaged`), then correlate
— cascades over the recent firing alerts plus the batch (so a webhook that starts a
cascade pages once), the newest link of every new group read in one query, and the
storms the batch would start (:meth:`tocsin.alerts.storms.Storms.preview`) — with the
alerts that arrived after the batch and wait in the inbox, so that the first chunk of
a queued storm opens the storm instead of incidents that are merged into it later."""

from __future__ import annotations

from collections.abc import Sequence

from tocsin.alerts.batch import Batch
from tocsin.alerts.inbound import InboundAlert
from tocsin.alerts.linking import group_hash, preload_latest_links
from tocsin.alerts.triage import MUTED, Triage

__all__ = ["look_ahead"]


def look_ahead(
    batch: Batch,
    keys: Sequence[str],
    events: Sequence[InboundAlert],
    upcoming: Sequence[tuple[str, InboundAlert]] = (),
) -> None:
    """Triage the batch's new firings up front and judge cascades over all of them;
    the storms over them and the ``upcoming`` ``(key, event)`` (decided later; their
    known rows loaded into ``batch.known`` too)."""
    candidates: list[tuple[int, str, Triage]] = []
    seen: set[str] = set()
    for index, (key, event) in enumerate(zip(keys, events, strict=True)):
        if _new_firing(batch, key, event, seen):
            batch.triage[index] = batch.triaged(event)
            candidates.append((index, key, batch.triage[index]))
    if not candidates:
        return
    batch.absorbed = batch.triager.cascades(candidates)
    later = [batch.triaged(e) for key, e in upcoming if _new_firing(batch, key, e, seen)]
    hashes = {group_hash(triage.group_key) for _, _, triage in candidates}
    preload_latest_links(batch.ctx, hashes | {group_hash(triage.group_key) for triage in later})
    batch.storms.preview(
        triage
        for triage in [
            *(triage for index, _, triage in candidates if index not in batch.absorbed),
            *later,
        ]
        if triage.muted is None and triage.chosen.open_incident and triage.chosen.min_alerts <= 1
    )


def _new_firing(batch: Batch, key: str, event: InboundAlert, seen: set[str]) -> bool:
    """A trigger of a key not seen before in the call (added to ``seen``) that is not
    a repeat of a firing alert (which was judged when it fired)."""
    if event.action != "trigger" or key in seen:
        return False
    seen.add(key)
    row = batch.known.get(key)
    return row is None or row.status != "firing" or row.outcome in MUTED
