"""Stages 2-4 for a batch's new firings, judged together before any is decided:
route and silence each (:meth:`~tocsin.alerts.batch.Batch.triaged`), then correlate
— cascades over the recent firing alerts plus the batch (so a webhook that starts a
cascade pages once), the newest link of every new group read in one query, and the
storms the batch would start (:meth:`tocsin.alerts.storms.Storms.preview`)."""

from __future__ import annotations

from collections.abc import Sequence

from tocsin.alerts.batch import Batch
from tocsin.alerts.inbound import InboundAlert
from tocsin.alerts.linking import group_hash, preload_latest_links
from tocsin.alerts.triage import MUTED, Triage

__all__ = ["look_ahead"]


def look_ahead(batch: Batch, keys: Sequence[str], events: Sequence[InboundAlert]) -> None:
    """Triage the batch's new firings up front and judge cascades over all of them."""
    candidates: list[tuple[int, str, Triage]] = []
    seen: set[str] = set()
    for index, (key, event) in enumerate(zip(keys, events, strict=True)):
        if event.action != "trigger" or key in seen:
            continue
        seen.add(key)
        row = batch.known.get(key)
        if row is not None and row.status == "firing" and row.outcome not in MUTED:
            continue  # a repeat: it was judged when it fired
        batch.triage[index] = batch.triaged(event)
        candidates.append((index, key, batch.triage[index]))
    if not candidates:
        return
    batch.absorbed = batch.triager.cascades(candidates)
    hashes = {group_hash(triage.group_key) for _, _, triage in candidates}
    preload_latest_links(batch.ctx, hashes)
    batch.storms.preview(
        triage
        for index, _, triage in candidates
        if index not in batch.absorbed
        and triage.muted is None
        and triage.chosen.open_incident
        and triage.chosen.min_alerts <= 1
    )
