"""The metrics catalog: every metric is documented in the README with its type and
labels, and its names follow Prometheus' conventions; histograms file an observation
under the bucket Prometheus would (``le`` is "less than or equal")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy.orm import Session

from tocsin.metrics import catalog
from tocsin.metrics.catalog import CATALOG, TIME_TO_ACKNOWLEDGE, Kind

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `(?P<name>tocsin_\w+)` \| (?P<kind>\w+) \| (?P<labels>[^|]*) \| (.+) \|$")


def _documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    found = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            labels = tuple(re.findall(r"`(\w+)`", match["labels"]))
            found[match["name"]] = (match["kind"], labels)
    return found


def test_every_metric_is_documented_in_the_readme_as_it_is_served() -> None:
    documented = _documented()
    assert set(documented) == {metric.name for metric in CATALOG}
    for metric in CATALOG:
        assert documented[metric.name] == (metric.kind.value, metric.labels), metric.name


def test_names_follow_prometheus_conventions() -> None:
    for metric in CATALOG:
        assert re.fullmatch(r"tocsin_[a-z_]+", metric.name), metric.name
        assert metric.name.endswith("_total") == (metric.kind is Kind.counter), metric.name
        if metric.kind is Kind.histogram:
            assert metric.name.endswith("_seconds") and metric.buckets == tuple(
                sorted(metric.buckets)
            )
        assert "le" not in metric.labels and metric.help.endswith(".")


def test_an_observation_on_a_bound_falls_in_that_bound_s_bucket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    noted: list[tuple[str, dict[str, str], float]] = []

    def add(_session: Session, name: str, labels: Mapping[str, str], amount: float = 1) -> None:
        noted.append((name, dict(labels), amount))

    monkeypatch.setattr(catalog, "add", add)
    session = cast(Session, object())  # nothing is written: the amounts are recorded
    for seconds in (0.0, 60.0, 60.5, 259200.0, 259201.0):
        TIME_TO_ACKNOWLEDGE.observe(session, {"severity": "SEV1"}, seconds)
    buckets = [labels["le"] for name, labels, _ in noted if name.endswith("_bucket")]
    assert buckets == ["60.0", "60.0", "300.0", "259200.0", "+Inf"]
    sums = [amount for name, _, amount in noted if name.endswith("_sum")]
    assert sums == [0.0, 60.0, 60.5, 259200.0, 259201.0]
    assert {labels["severity"] for _, labels, _ in noted} == {"SEV1"}
