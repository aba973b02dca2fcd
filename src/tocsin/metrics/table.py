"""Incident facts as columns: what the rules compute on.

A year can hold 100,000 incidents and the summary must answer in well under a second,
so the rules work on numpy columns (one array per field, NaN = unknown) instead of
looping over records: a measure's statistics or an SLA's compliance is then a handful
of vectorised operations. The database loader builds the columns straight from its rows;
:meth:`IncidentTable.from_facts` builds them from :class:`IncidentFacts` records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tocsin.metrics.records import IncidentFacts

__all__ = ["BoolArray", "FloatArray", "IncidentTable", "IntArray"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _floats(values: Iterable[float | None] | FloatArray) -> FloatArray:
    """None becomes NaN."""
    if isinstance(values, np.ndarray):
        return values.astype(np.float64, copy=False)
    return np.array(values if isinstance(values, Sequence) else list(values), dtype=np.float64)


def _bools(values: Iterable[Any] | BoolArray, count: int) -> BoolArray:
    if isinstance(values, np.ndarray):
        return values.astype(np.bool_, copy=False).reshape(count)
    return np.array(list(values), dtype=np.bool_).reshape(count)


@dataclass(frozen=True, eq=False)
class IncidentTable:
    """Row ``i`` of every column is one incident. ``severity_codes[i]`` indexes
    ``severity_names``, which is ordered worst (lowest rank) first."""

    ids: IntArray
    numbers: IntArray
    titles: list[str]
    severity_codes: IntArray
    severity_names: tuple[str, ...]
    detected: FloatArray
    to_detect: FloatArray
    to_acknowledge: FloatArray
    to_mitigate: FloatArray
    to_resolve: FloatArray
    drill: BoolArray
    escalated: BoolArray
    services: list[tuple[str, ...]]
    tags: list[tuple[str, ...]]

    def __len__(self) -> int:
        return int(self.ids.size)

    @classmethod
    def build(
        cls,
        *,
        ids: Sequence[int] | IntArray,
        numbers: Sequence[int] | IntArray,
        titles: Sequence[str],
        severities: Sequence[str],
        ranks: Sequence[int],
        detected: Sequence[float] | FloatArray,
        to_detect: Iterable[float | None] | FloatArray,
        to_acknowledge: Iterable[float | None] | FloatArray,
        to_mitigate: Iterable[float | None] | FloatArray,
        to_resolve: Iterable[float | None] | FloatArray,
        drill: Iterable[Any],
        escalated: Iterable[bool] | BoolArray,
        services: Sequence[tuple[str, ...]],
        tags: Sequence[tuple[str, ...]] | None = None,
    ) -> IncidentTable:
        rank_of = dict(zip(severities, ranks, strict=True))
        names = tuple(sorted(rank_of, key=lambda n: (rank_of[n], n)))
        code_of = {name: code for code, name in enumerate(names)}
        count = len(ids)
        return cls(
            ids=np.array(ids, dtype=np.int64),
            numbers=np.array(numbers, dtype=np.int64),
            titles=list(titles),
            severity_codes=np.array(list(map(code_of.__getitem__, severities)), dtype=np.int64),
            severity_names=names,
            detected=_floats(detected),
            to_detect=_floats(to_detect),
            to_acknowledge=_floats(to_acknowledge),
            to_mitigate=_floats(to_mitigate),
            to_resolve=_floats(to_resolve),
            drill=_bools(drill, count),
            escalated=_bools(escalated, count),
            services=list(services),
            tags=list(tags) if tags is not None else [()] * count,
        )

    @classmethod
    def from_facts(cls, facts: Sequence[IncidentFacts]) -> IncidentTable:
        return cls.build(
            ids=[f.id for f in facts],
            numbers=[f.number for f in facts],
            titles=[f.title for f in facts],
            severities=[f.severity for f in facts],
            ranks=[f.severity_rank for f in facts],
            detected=[f.detected for f in facts],
            to_detect=[f.to_detect for f in facts],
            to_acknowledge=[f.to_acknowledge for f in facts],
            to_mitigate=[f.to_mitigate for f in facts],
            to_resolve=[f.to_resolve for f in facts],
            drill=[f.drill for f in facts],
            escalated=[f.escalated for f in facts],
            services=[f.services for f in facts],
            tags=[f.tags for f in facts],
        )

    def where(self, mask: BoolArray) -> IncidentTable:
        """The incidents where ``mask`` is true (severity names kept as they are)."""
        if bool(mask.all()):
            return self
        rows = np.flatnonzero(mask)
        picked = rows.tolist()
        return IncidentTable(
            ids=self.ids[rows],
            numbers=self.numbers[rows],
            titles=[self.titles[i] for i in picked],
            severity_codes=self.severity_codes[rows],
            severity_names=self.severity_names,
            detected=self.detected[rows],
            to_detect=self.to_detect[rows],
            to_acknowledge=self.to_acknowledge[rows],
            to_mitigate=self.to_mitigate[rows],
            to_resolve=self.to_resolve[rows],
            drill=self.drill[rows],
            escalated=self.escalated[rows],
            services=[self.services[i] for i in picked],
            tags=[self.tags[i] for i in picked],
        )

    def detected_between(self, low: float, high: float) -> BoolArray:
        """Mask of the incidents detected in [low, high) (epoch seconds)."""
        mask: BoolArray = (self.detected >= low) & (self.detected < high)
        return mask

    def by_severity(self) -> dict[str, BoolArray]:
        """A mask per severity present, worst first."""
        masks: dict[str, BoolArray] = {}
        for code, name in enumerate(self.severity_names):
            mask: BoolArray = self.severity_codes == code
            if mask.any():
                masks[name] = mask
        return masks
