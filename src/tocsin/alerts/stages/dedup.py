"""Stage 1, dedup: a repeat of a firing alert (same integration and dedup key) counts
an occurrence and is done. The hot path: one indexed read for the whole batch
(:func:`load`) and one batched UPDATE at the end (:func:`write_repeats`), no ORM
objects."""

from __future__ import annotations

from collections.abc import Sequence

from tocsin.alerts import hotpath
from tocsin.alerts.batch import Batch, IngestResult
from tocsin.alerts.hotpath import Repeat
from tocsin.alerts.inbound import InboundAlert
from tocsin.alerts.models import Alert
from tocsin.alerts.rules import AlertOutcome
from tocsin.alerts.sanitize import clean_map
from tocsin.alerts.triage import MUTED

__all__ = ["count_all", "count_repeat", "load", "plain_repeat", "write_repeats"]

_COUNTED_COLUMNS = ["occurrences", "last_seen_at", "labels", "annotations"]


def load(batch: Batch, keys: set[str]) -> None:
    batch.known = hotpath.load_known(batch.session, integration_id=batch.integration.id, keys=keys)


def plain_repeat(batch: Batch, key: str, event: InboundAlert) -> bool:
    """A trigger for a firing, unmuted, non-heartbeat alert: only a counter moves."""
    row = batch.known.get(key)
    return (
        key not in batch.loaded
        and row is not None
        and event.action == "trigger"
        and row.status == "firing"
        and row.outcome not in MUTED
        and row.heartbeat_id is None
    )


def count_repeat(batch: Batch, alert_id: int, event: InboundAlert, times: int = 1) -> None:
    """Count ``times`` plain repeats, ``event`` the latest. An event whose
    ``maps_clean`` attribute is true (one the parse memo hands out again,
    :class:`tocsin.ingest.memo.KeptEvent`) has labels and annotations that are
    storable as they are and never change: they are stored without cleaning."""
    pending = batch.repeats.get(alert_id)
    count = times if pending is None else pending.times + times
    if getattr(event, "maps_clean", False):
        batch.repeats[alert_id] = Repeat(alert_id, count, event.labels, event.annotations)
    else:
        batch.repeats[alert_id] = Repeat(
            alert_id, count, clean_map(event.labels), clean_map(event.annotations)
        )


def count_all(
    batch: Batch, keys: Sequence[str], events: Sequence[InboundAlert]
) -> list[IngestResult]:
    """The pipeline for a batch of plain repeats only (the common batch): each is
    counted (see :func:`count_repeat`) and nothing is loaded. Results are
    immutable, so the repeats of one alert in the batch share one."""
    known = batch.known
    times: dict[int, int] = {}
    latest: dict[int, InboundAlert] = {}
    made: dict[str, IngestResult] = {}
    names: dict[int, str] = {}
    results = []
    for key, event in zip(keys, events, strict=True):
        row = known[key]
        times[row.id] = times.get(row.id, 0) + 1
        latest[row.id] = event
        result = made.get(key)
        if result is None:
            result = made[key] = IngestResult(
                alert_id=row.id,
                dedup_key=key,
                action="trigger",
                outcome=AlertOutcome.deduplicated,
                incident=batch.incident_name(row.incident_id, row.number, names),
            )
        results.append(result)
    for alert_id, count in times.items():
        count_repeat(batch, alert_id, latest[alert_id], count)
    write_repeats(batch)
    return results


def write_repeats(batch: Batch) -> None:
    hotpath.write_repeats(batch.session, repeats=list(batch.repeats.values()), seen=batch.now)
    identities = batch.session.identity_map
    for mapped, ident, *_ in list(identities.keys()):  # held rows of counted alerts go stale
        if mapped is Alert and ident[0] in batch.repeats:
            held = identities.get((mapped, ident, *_))
            if held is not None:
                batch.session.expire(held, _COUNTED_COLUMNS)
