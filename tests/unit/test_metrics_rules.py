"""Reliability metrics against a fixture of 200 incidents computed by hand.

The fixture (also loaded into real databases by the API, CLI and report tests)
==========================================================================

NOW = 2026-03-02 09:00 UTC, window 30 d, so SINCE = 2026-01-31 09:00 UTC (a Saturday).
Incident i = 0 … 199:

    r = i mod 4           severity SEV(r+1)       → 50 incidents of each severity
    m = i div 4           0 … 49 within its severity
    k = (m mod 10) + 1    1 … 10, each 5 times per severity (k = 10 only 4 times among
                          the resolved ones: m = 49 is open, see below)
    detected  = SINCE + i · 3 h 36 m               (i = 0 exactly at SINCE: included)
    started   = detected - k min                  → MTTD = k min
    acked     = detected + k · A[r]               → MTTA = k · A
    mitigated = detected + k · M[r]               → MTTM = k · M
    resolved  = detected + k · R[r]               → MTTR = k · R

    severity   A      M      R      respond_within  resolve_target  service
    SEV1       1 m    3 m    6 m    5 m             30 m            checkout-api
    SEV2       2 m    10 m   20 m   15 m            2 h             checkout-api
    SEV3       10 m   30 m   1 h    1 h             8 h             auth-service
    SEV4       30 m   2 h    3 h    4 h             1 d             auth-service

    open: i = 196 … 199 (m = 49, one per severity): never acknowledged nor resolved;
          now - detected = 14.4 h, 10.8 h, 7.2 h, 3.6 h.
    title "Fault F<i>" (word sets {fault, f<i>}: 1/3 overlap, never similar), except
          i = 10, 20, 30 titled like i - 4 (same service, 14.4 h earlier) → repeats.
    timeline: i mod 8 = 0 "escalated"; = 4 "paged" tier 2; = 2 "paged" tier 1 (no
          escalation) → 50 escalated.
    extra P: "Fault F000", SEV4, checkout-api, detected SINCE - 1 min (outside the
          window; makes i = 0 a repeat; weight 0 for the budget).
    extra D: a drill (tag "drill"), SEV1, checkout-api, open, inside the window:
          excluded from everything.

Hand computation
================

MTTD (200 values, minutes k = 1 … 10 twenty times each; per severity five times each):
    mean 5.5 m = 330 s; nearest-rank median: rank ⌈0.5·200⌉ = 100 → k = 5 (ranks
    81-100) = 300 s; p90: rank 180 → k = 9 (ranks 161-180) = 540 s. Per severity
    (n = 50): ranks 25 and 45 → the same 300 s and 540 s, mean 330 s.

MTTA / MTTM / MTTR per severity (49 resolved: k = 1 … 9 five times, k = 10 four times):
    Σk = 5·45 + 4·10 = 265, so mean = 265·U/49; median rank ⌈24.5⌉ = 25 → k = 5 → 5U;
    p90 rank ⌈44.1⌉ = 45 → k = 9 → 9U.

    measure  severity  U (s)   mean = 265U/49     median  p90
    MTTA     SEV1      60      15 900/49          300     540
    MTTA     SEV2      120     31 800/49          600     1 080
    MTTA     SEV3      600     159 000/49         3 000   5 400
    MTTA     SEV4      1 800   477 000/49         9 000   16 200
    MTTM     SEV1      180     47 700/49          900     1 620
    MTTM     SEV2      600     159 000/49         3 000   5 400
    MTTM     SEV3      1 800   477 000/49         9 000   16 200
    MTTM     SEV4      7 200   1 908 000/49       36 000  64 800
    MTTR     SEV1      360     95 400/49          1 800   3 240
    MTTR     SEV2      1 200   318 000/49         6 000   10 800
    MTTR     SEV3      3 600   954 000/49         18 000  32 400
    MTTR     SEV4      10 800  2 862 000/49       54 000  97 200

Overall (196 resolved): mean = 265·ΣU/196; median = rank 98, p90 = rank ⌈176.4⌉ = 177.
Cumulative counts of the merged samples (value: how many, running total):

    MTTA  60:5 5 | 120:10 15 | 180:5 20 | 240:10 30 | 300:5 35 | 360:10 45 | 420:5 50
          480:10 60 | 540:5 65 | 600:14 79 | 720:5 84 | 840:5 89 | 960:5 94
          1080:5 99 ← rank 98 | 1200:9 108 | 1800:10 118 | 2400:5 123 | 3000:5 128
          3600:10 138 | 4200:5 143 | 4800:5 148 | 5400:10 158 | 6000:4 162 | 7200:5 167
          9000:5 172 | 10800:5 177 ← rank 177 | 12600 182 | 14400 187 | 16200 192
          18000:4 196
          mean = 265·2 580/196 = 683 700/196
    MTTM  180 5 | 360 10 | 540 15 | 600 20 | 720 25 | 900 30 | 1080 35 | 1200 40
          1260 45 | 1440 50 | 1620 55 | 1800:14 69 | 2400 74 | 3000 79 | 3600:10 89
          4200 94 | 4800 99 ← rank 98 | 5400:10 109 | 6000:4 113 | 7200:10 123 | 9000 128
          10800 133 | 12600 138 | 14400:10 148 | 16200 153 | 18000:4 157 | 21600 162
          28800 167 | 36000 172 | 43200 177 ← rank 177 | … | 72000:4 196
          mean = 265·9 780/196 = 2 591 700/196
    MTTR  360 5 | 720 10 | 1080 15 | 1200 20 | 1440 25 | 1800 30 | 2160 35 | 2400 40
          2520 45 | 2880 50 | 3240 55 | 3600:14 69 | 4800 74 | 6000 79 | 7200:10 89
          8400 94 | 9600 99 ← rank 98 | 10800:15 114 | 12000:4 118 | 14400 123
          18000 128 | 21600:10 138 | 25200 143 | 28800 148 | 32400:10 158 | 36000:4 162
          43200 167 | 54000 172 | 64800 177 ← rank 177 | … | 108000:4 196
          mean = 265·15 960/196 = 4 229 400/196

SLA compliance (met = within target, inclusive; the open ones breach once overdue):

    response   target  met k ≤   met  breached (late + k=10 + open)   pending
    SEV1       5 m     5         25   20 + 4 + 1 = 25                 0
    SEV2       15 m    7         35   10 + 4 + 1 = 15                 0
    SEV3       1 h     6         30   15 + 4 + 1 = 20                 0
    SEV4       4 h     8         40   5 + 4 = 9                       1 (3.6 h < 4 h)
    all                          130  69                              1

    resolution target  met k ≤   met  breached                        pending
    SEV1       30 m    5         25   20 + 4 + 1 = 25                 0
    SEV2       2 h     6         30   15 + 4 + 1 = 20                 0
    SEV3       8 h     8         40   5 + 4 = 9                       1 (7.2 h < 8 h)
    SEV4       1 d     8         40   5 + 4 = 9                       1 (3.6 h)
    all                          135  63                              2

Counts: 200 incidents, 4 open, 1 drill excluded, 50 per severity, 100 per service;
escalated 50/200 = 25 %; repeats i = 0, 10, 20, 30 → 4/200 = 2 %. Weekly buckets
start on Mondays at 00:00, i.e. SINCE + 39 h + n·168 h; i falls in the bucket where
i·3.6 h does: 01-26: i·3.6 < 39 → i 0-10 = 11 | 02-02: < 207 → 11-57 = 47 |
02-09: < 375 → 58-104 = 47 | 02-16: < 543 → 105-150 = 46 | 02-23: < 711 →
151-197 = 47 | 03-02 (the current week): 198-199 = 2.

Error budget, checkout-api (99.9 % over 30 d → 2 592 s; SEV1 weight 1, SEV2 0.5):
    impacts started → resolved = k·(60 + R): SEV1 420k s, SEV2 1 260k s; they never
    overlap (SEV1 ends ≤ 70 min after its start, SEV2 ≤ 3.5 h; 3.6 h apart).
    resolved SEV1: 420·265 = 111 300, less 60 s of i = 0 before SINCE     = 111 240
    resolved SEV2: 1 260·265·0.5                                          = 166 950
    open i = 196 (SEV1): 14.4 h + 10 min = 52 440 s at 1.0                =  52 440
    open i = 197 (SEV2): inside i = 196's impact, which already counts 1.0 =       0
    consumed = 330 630 s; remaining = 2 592 - 330 630 = -328 038 s;
    availability = 100·(1 - 330 630/2 592 000) %
    burn 1 h = 3 600/3.6 = 1 000; 6 h = 21 600/21.6 = 1 000;
    burn 3 d: impacts in the last 72 h: i 180: 2 160 (36 of its 42 min), 181: 3 780,
      184: 2 940, 185: 4 410, 188: 3 360, 189: 5 040, 192: 3 780, 193: 5 670,
      196: 52 440 → 83 580 s / 259.2 = 322.45…
    crossings: i = 196's impact starts 2026-03-01 18:26:00 after ≥ 6 h without any;
      1 h/14.4 needs 51.84 s → 18:26:51; 6 h/6 needs 129.6 s → 18:28:09;
      3 d/1 needs 259.2 s: i = 0's impact (from SINCE - 60 s) reaches it at
      SINCE + 199.2 s → 09:03:19 on 01-31, and stays above ever since.
Error budget, auth-service (99.9 %/30 d, default weights: SEV3 0.1, SEV4 0):
    resolved SEV3 3 660k s: 3 660·265·0.1 = 96 990; open i = 198: (7.2 h + 10 min)·0.1
    = 2 652 → consumed 99 642 s; burn 1 h = 360/3.6 = 100; 3 d: i 182, 186, 190, 194,
    198 → 2 196 + 2 562 + 2 928 + 3 294 + 2 652 = 13 632 s → 52.59…; 1 h crossing:
    i = 198 starts 2026-03-02 01:38:00 and needs 518.4 s at 0.1 → 01:46:38.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.metrics.budget import (
    BadTime,
    Impact,
    crossing_start,
    merge_impacts,
    slo_status,
)
from tocsin.metrics.loader import _services_by_incident
from tocsin.metrics.rules import (
    ActionItemFacts,
    IncidentFacts,
    IncidentTable,
    Period,
    PostmortemInputs,
    SlaTarget,
    Stats,
    format_seconds,
    percentile,
    repeat_incidents,
    similar,
    stats,
    summarize,
    title_tokens,
)
from tocsin.policy import example_policy_text, parse_policy
from tocsin.policy.loader import PolicyError

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = timedelta(days=30)
SINCE = NOW - WINDOW
MIN = timedelta(minutes=1)
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
A = (1 * MIN, 2 * MIN, 10 * MIN, 30 * MIN)
M = (3 * MIN, 10 * MIN, 30 * MIN, 120 * MIN)
R = (6 * MIN, 20 * MIN, 60 * MIN, 180 * MIN)
SERVICE = ("checkout-api", "checkout-api", "auth-service", "auth-service")
REPEATS = (10, 20, 30)
TARGETS = {
    "SEV1": SlaTarget(5 * MIN, 30 * MIN),
    "SEV2": SlaTarget(15 * MIN, 120 * MIN),
    "SEV3": SlaTarget(60 * MIN, 480 * MIN),
    "SEV4": SlaTarget(240 * MIN, 1440 * MIN),
}


@dataclass
class Spec:
    """One fixture incident with datetimes, for the pure tests and the database ones."""

    number: int
    title: str
    severity: str
    rank: int
    started_at: datetime
    detected_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    service: str
    tags: list[str] = field(default_factory=list)
    #: Timeline events: (kind, data).
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "triggered" if self.resolved_at is None else "resolved"

    def facts(self) -> IncidentFacts:
        return IncidentFacts.from_times(
            id=self.number,
            number=self.number,
            title=self.title,
            severity=self.severity,
            severity_rank=self.rank,
            started_at=self.started_at,
            detected_at=self.detected_at,
            acknowledged_at=self.acknowledged_at,
            mitigated_at=self.mitigated_at,
            resolved_at=self.resolved_at,
            services=(self.service,),
            escalated=any(
                kind == "escalated" or (kind == "paged" and data.get("tier", 1) >= 2)
                for kind, data in self.events
            ),
            drill="drill" in self.tags,
            tags=tuple(self.tags),
        )


def fixture_specs() -> list[Spec]:
    """The 200 incidents, then P (before the window) and D (a drill)."""
    specs: list[Spec] = []
    for i in range(200):
        r, m = i % 4, i // 4
        k = m % 10 + 1
        detected = SINCE + i * timedelta(hours=3, minutes=36)
        is_open = i >= 196
        events: list[tuple[str, dict[str, Any]]] = []
        if i % 8 == 0:
            events.append(("escalated", {"reason": "needs the database team", "to_step": 1}))
        elif i % 8 == 4:
            reason = "not acknowledged within 15m"
            events.append(("paged", {"tier": 2, "step": 1, "reason": reason}))
        elif i % 8 == 2:
            events.append(("paged", {"tier": 1, "step": 0, "reason": "incident triggered"}))
        specs.append(
            Spec(
                number=i + 1,
                title=f"Fault F{i - 4 if i in REPEATS else i:03d}",
                severity=SEVERITIES[r],
                rank=r + 1,
                started_at=detected - k * MIN,
                detected_at=detected,
                acknowledged_at=None if is_open else detected + k * A[r],
                mitigated_at=None if is_open else detected + k * M[r],
                resolved_at=None if is_open else detected + k * R[r],
                service=SERVICE[r],
                tags=[SERVICE[r]],
                events=events,
            )
        )
    before = SINCE - MIN
    specs.append(
        Spec(
            number=201,
            title="Fault F000",
            severity="SEV4",
            rank=4,
            started_at=before - MIN,
            detected_at=before,
            acknowledged_at=before + MIN,
            mitigated_at=before + MIN,
            resolved_at=before + 2 * MIN,
            service="checkout-api",
            tags=["checkout-api"],
        )
    )
    drill_at = SINCE + timedelta(minutes=100)
    specs.append(
        Spec(
            number=202,
            title="Fault F000",
            severity="SEV1",
            rank=1,
            started_at=drill_at,
            detected_at=drill_at,
            acknowledged_at=None,
            mitigated_at=None,
            resolved_at=None,
            service="checkout-api",
            tags=["checkout-api", "drill"],
        )
    )
    return specs


FIXTURE = fixture_specs()


def facts() -> list[IncidentFacts]:
    return [spec.facts() for spec in FIXTURE]


# ---------------------------------------------------------------- expected, by hand

#: (measure, severity or "all") -> (count, mean, median, p90), seconds.
EXPECTED_STATS: dict[tuple[str, str], tuple[int, float, float, float]] = {
    ("mttd", "all"): (200, 330, 300, 540),
    ("mttd", "SEV1"): (50, 330, 300, 540),
    ("mttd", "SEV4"): (50, 330, 300, 540),
    ("mtta", "all"): (196, 683_700 / 196, 1_080, 10_800),
    ("mtta", "SEV1"): (49, 15_900 / 49, 300, 540),
    ("mtta", "SEV2"): (49, 31_800 / 49, 600, 1_080),
    ("mtta", "SEV3"): (49, 159_000 / 49, 3_000, 5_400),
    ("mtta", "SEV4"): (49, 477_000 / 49, 9_000, 16_200),
    ("mttm", "all"): (196, 2_591_700 / 196, 4_800, 43_200),
    ("mttm", "SEV1"): (49, 47_700 / 49, 900, 1_620),
    ("mttm", "SEV2"): (49, 159_000 / 49, 3_000, 5_400),
    ("mttm", "SEV3"): (49, 477_000 / 49, 9_000, 16_200),
    ("mttm", "SEV4"): (49, 1_908_000 / 49, 36_000, 64_800),
    ("mttr", "all"): (196, 4_229_400 / 196, 9_600, 64_800),
    ("mttr", "SEV1"): (49, 95_400 / 49, 1_800, 3_240),
    ("mttr", "SEV2"): (49, 318_000 / 49, 6_000, 10_800),
    ("mttr", "SEV3"): (49, 954_000 / 49, 18_000, 32_400),
    ("mttr", "SEV4"): (49, 2_862_000 / 49, 54_000, 97_200),
}
#: severity or "all" -> (met, breached, pending)
EXPECTED_RESPONSE = {
    "SEV1": (25, 25, 0),
    "SEV2": (35, 15, 0),
    "SEV3": (30, 20, 0),
    "SEV4": (40, 9, 1),
    "all": (130, 69, 1),
}
EXPECTED_RESOLUTION = {
    "SEV1": (25, 25, 0),
    "SEV2": (30, 20, 0),
    "SEV3": (40, 9, 1),
    "SEV4": (40, 9, 1),
    "all": (135, 63, 2),
}
EXPECTED_WEEKS = [
    ("2026-01-26", 11),
    ("2026-02-02", 47),
    ("2026-02-09", 47),
    ("2026-02-16", 46),
    ("2026-02-23", 47),
    ("2026-03-02", 2),
]
#: service -> (consumed s, burn 1h, burn 6h, burn 3d)
EXPECTED_BUDGET = {
    "checkout-api": (330_630, 1_000, 1_000, 83_580 / 259.2),
    "auth-service": (99_642, 100, 100, 13_632 / 259.2),
}
EXPECTED_CROSSINGS = {
    ("checkout-api", "1h"): datetime(2026, 3, 1, 18, 26, 51, tzinfo=UTC),
    ("checkout-api", "6h"): datetime(2026, 3, 1, 18, 28, 9, tzinfo=UTC),
    ("checkout-api", "3d"): datetime(2026, 1, 31, 9, 3, 19, tzinfo=UTC),
    ("auth-service", "1h"): datetime(2026, 3, 2, 1, 46, 38, tzinfo=UTC),
}
BUDGET_SECONDS = 2_592.0


def check_stats(summary: Any, get: Any) -> None:
    """Compare a summary (the dataclass, or the API's JSON through ``get``) with the
    table above; ``get(summary, measure, severity)`` returns a mapping of the stats."""
    for (measure, severity), (count, mean, median, p90) in EXPECTED_STATS.items():
        found = get(summary, measure, severity)
        assert found["count"] == count, (measure, severity)
        assert found["mean"] == pytest.approx(mean, abs=0.001), (measure, severity)
        assert found["median"] == pytest.approx(median, abs=0.001), (measure, severity)
        assert found["p90"] == pytest.approx(p90, abs=0.001), (measure, severity)


def _from_dataclass(summary: Any, measure: str, severity: str) -> dict[str, Any]:
    part = getattr(summary, measure)
    stats_: Stats = part.overall if severity == "all" else part.by_severity[severity]
    return {"count": stats_.count, "mean": stats_.mean, "median": stats_.median, "p90": stats_.p90}


@pytest.fixture(scope="module")
def summary() -> Any:
    return summarize(facts(), now=NOW, window=WINDOW, targets=TARGETS, period=Period.week)


# ---------------------------------------------------------------- the fixture


def test_mttx_overall_and_by_severity_match_the_hand_table(summary: Any) -> None:
    check_stats(summary, _from_dataclass)
    assert list(summary.mttr.by_severity) == ["SEV1", "SEV2", "SEV3", "SEV4"]


def test_sla_compliance_matches_the_hand_table(summary: Any) -> None:
    for report, expected in (
        (summary.response_sla, EXPECTED_RESPONSE),
        (summary.resolution_sla, EXPECTED_RESOLUTION),
    ):
        for severity, (met, breached, pending) in expected.items():
            found = report.overall if severity == "all" else report.by_severity[severity]
            assert (found.met, found.breached, found.pending) == (met, breached, pending)
            assert found.rate == pytest.approx(met / (met + breached))


def test_counts_rates_and_drills(summary: Any) -> None:
    assert summary.incidents == 200
    assert summary.open == 4
    assert summary.drills_excluded == 1
    assert summary.by_severity == {"SEV1": 50, "SEV2": 50, "SEV3": 50, "SEV4": 50}
    assert summary.by_service == {"auth-service": 100, "checkout-api": 100}
    assert (summary.escalations.count, summary.escalations.total) == (50, 200)
    assert summary.escalations.rate == 0.25
    assert (summary.repeats.count, summary.repeats.rate) == (4, 0.02)
    weeks = [(p.start.date().isoformat(), p.count) for p in summary.by_period]
    assert weeks == EXPECTED_WEEKS
    assert summary.by_period[-1].by_severity == {"SEV3": 1, "SEV4": 1}  # i = 198, 199


def test_postmortem_metrics_are_not_available_without_postmortems(summary: Any) -> None:
    assert summary.by_category is None
    for rate in (summary.postmortem_completion, summary.action_items_on_time):
        assert (rate.available, rate.rate) == (False, None)


def test_postmortem_inputs_give_completion_categories_and_on_time_items() -> None:
    due = NOW - timedelta(days=1)
    inputs = PostmortemInputs(
        required=frozenset({1, 2, 3, 4, 201}),  # 201 is outside the window
        completed=frozenset({1, 2, 201}),
        categories={1: "process", 2: "technical", 3: "technical", 201: "human"},
        action_items=(
            ActionItemFacts(1, "Add an alert", "alice", "done", due, due - MIN),  # on time
            ActionItemFacts(2, "Fix the deploy", "bob", "done", due, due + MIN),  # late
            ActionItemFacts(3, "Write a runbook", None, "open", due, None),  # overdue
            ActionItemFacts(4, "Test restores", None, "open", NOW + MIN, None),  # not due
            ActionItemFacts(201, "Old item", None, "done", due, due),  # outside
        ),
    )
    result = summarize(facts(), now=NOW, window=WINDOW, targets=TARGETS, postmortems=inputs)
    assert (result.postmortem_completion.count, result.postmortem_completion.total) == (2, 4)
    assert result.by_category == {"technical": 2, "process": 1}
    items = result.action_items_on_time
    assert (items.count, items.total) == (1, 3)
    assert items.rate == pytest.approx(1 / 3)


def test_the_window_includes_its_start_and_excludes_now() -> None:
    inside = summarize(facts(), now=NOW, window=WINDOW, targets=TARGETS)
    shifted = summarize(facts(), now=NOW, window=WINDOW - timedelta(seconds=1), targets=TARGETS)
    assert inside.incidents - shifted.incidents == 1  # incident i = 0 sits exactly at SINCE
    last = FIXTURE[199].detected_at
    later = summarize(facts(), now=last, window=last - SINCE, targets=TARGETS)
    assert later.incidents == 199  # i = 199 is detected exactly at `now`: not yet counted


# ---------------------------------------------------------------- small pieces


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([1, 2, 3, 4], 50, 2),  # rank ⌈2⌉ = 2: the lower middle
        ([1, 2, 3, 4, 5], 50, 3),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90, 9),  # rank 9 exactly, no float rounding
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 90, 10),  # rank ⌈9.9⌉ = 10
        ([7], 90, 7),
        ([], 50, None),
    ],
)
def test_nearest_rank_percentile(values: list[float], p: int, expected: float | None) -> None:
    assert percentile(values, p) == expected


def test_stats_of_an_empty_sample() -> None:
    assert stats([]) == Stats(0, None, None, None)


def test_a_late_impact_start_counts_as_zero_detection_time() -> None:
    fact = IncidentFacts.from_times(
        id=1,
        number=1,
        title="x",
        severity="SEV1",
        severity_rank=1,
        started_at=NOW + MIN,
        detected_at=NOW,
    )
    assert fact.to_detect == 0.0
    assert fact.open


def test_repeats_need_the_same_service_a_similar_title_and_seven_days() -> None:
    def fact(id_: int, title: str, service: str, days: float) -> IncidentFacts:
        return IncidentFacts.from_times(
            id=id_,
            number=id_,
            title=title,
            severity="SEV2",
            severity_rank=2,
            started_at=None,
            detected_at=NOW + timedelta(days=days),
            services=(service,),
        )

    incidents = [
        fact(1, "Checkout API 5xx errors", "checkout-api", 0),
        fact(2, "checkout api 5xx", "checkout-api", 1),  # 3/4 of the words: repeat
        fact(3, "Checkout API 5xx errors", "auth-service", 1),  # other service
        fact(4, "Database disk full on host 17", "payments-db", 2),
        fact(5, "Database disk full on host 18", "payments-db", 10),  # 8 days later
        fact(6, "Database disk full on host 19", "payments-db", 16),  # numbers ignored
        fact(7, "Login page slow", "checkout-api", 3),  # different words
    ]
    assert repeat_incidents(IncidentTable.from_facts(incidents)) == {2, 6}


_TITLES = (
    "db down",
    "DB down now",
    "db slow",
    "API errors",
    "api errors 500",
    "Disk full on host 1",
    "disk full on host 2",
    "Checkout API 5xx errors",
    "checkout api 5xx",
    "",
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 40 * 24),
            st.sampled_from(_TITLES),
            st.frozensets(st.sampled_from(["a", "b", "c"]), max_size=2),
        ),
        max_size=30,
        unique_by=lambda row: row[0],
    )
)
def test_repeats_agree_with_a_brute_force_reference(
    rows: list[tuple[int, str, frozenset[str]]],
) -> None:
    """Distinct detection times (in hours); every pair is compared by brute force."""
    incidents = [
        IncidentFacts(
            id=n,
            number=n,
            title=title,
            severity="SEV3",
            severity_rank=3,
            detected=NOW.timestamp() + hours * 3600,
            services=tuple(sorted(services)),
        )
        for n, (hours, title, services) in enumerate(rows)
    ]
    expected = {
        x.id
        for x in incidents
        for y in incidents
        if set(x.services) & set(y.services)
        and 0 < x.detected - y.detected <= 7 * 86400
        and similar(title_tokens(x.title), title_tokens(y.title))
    }
    assert repeat_incidents(IncidentTable.from_facts(incidents)) == expected


def test_services_of_incidents_from_ordered_rows() -> None:
    rows = [(1, "a"), (2, "a"), (2, "b"), (2, "c"), (3, "x"), (4, "a"), (4, "b")]
    assert _services_by_incident(rows) == {
        1: ("a",),
        2: ("a", "b", "c"),
        3: ("x",),
        4: ("a", "b"),
    }
    assert _services_by_incident([]) == {}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "n/a"),
        (45, "45s"),
        (300, "5m"),
        (330, "5m 30s"),
        (3600, "1h"),
        (21_578.57, "6h"),  # 5h 59m 38.57s, to the nearest minute
        (97_200, "1d 3h"),
        (2_592_000, "30d"),
    ],
)
def test_format_seconds(seconds: float | None, text: str) -> None:
    assert format_seconds(seconds) == text


# ---------------------------------------------------------------- SLOs and budgets


def _impacts(service: str) -> list[Impact]:
    policy = parse_policy(example_policy_text())
    slo = next(s for s in policy.slos if s.service == service)
    return [
        Impact(
            spec.number,
            spec.number,
            spec.started_at,
            spec.resolved_at,
            slo.weight(spec.severity, spec.rank),
        )
        for spec in FIXTURE
        if spec.service == service and "drill" not in spec.tags
    ]


@pytest.mark.parametrize("service", ["checkout-api", "auth-service"])
def test_error_budget_of_the_fixture_matches_the_hand_table(service: str) -> None:
    consumed, burn_1h, burn_6h, burn_3d = EXPECTED_BUDGET[service]
    status = slo_status(
        service=service,
        objective=99.9,
        window=WINDOW,
        alerts=[(timedelta(hours=1), 14.4), (timedelta(hours=6), 6), (timedelta(days=3), 1)],
        impacts=_impacts(service),
        now=NOW,
        horizon=NOW - timedelta(days=33),
    )
    assert status.budget_seconds == pytest.approx(BUDGET_SECONDS)
    assert status.consumed_seconds == pytest.approx(consumed)
    assert status.remaining_seconds == pytest.approx(BUDGET_SECONDS - consumed)
    assert status.availability_percent == pytest.approx(100 * (1 - consumed / 2_592_000))
    rates = [b.rate for b in status.burn_rates]
    assert rates == pytest.approx([burn_1h, burn_6h, burn_3d])
    for burn, window in zip(status.burn_rates, ("1h", "6h", "3d"), strict=True):
        assert burn.alerting
        expected = EXPECTED_CROSSINGS.get((service, window))
        if expected is not None:
            assert burn.since == expected, window


def test_the_seed_budget_is_43_2_minutes() -> None:
    policy = parse_policy(example_policy_text())
    for slo in policy.slos:
        assert slo.budget == timedelta(minutes=43, seconds=12)


def test_overlapping_impacts_count_the_worst_weight_once() -> None:
    t = NOW
    impacts = [
        Impact(1, 1, t, t + 10 * MIN, 0.5),
        Impact(2, 2, t + 5 * MIN, t + 20 * MIN, 1.0),  # overlaps the last 5 min of #1
        Impact(3, 3, t + 6 * MIN, t + 7 * MIN, 0.1),  # inside #2: adds nothing
        Impact(4, 4, t + 30 * MIN, None, 0.0),  # weight 0: no budget
    ]
    segments = merge_impacts(impacts, now=t + 40 * MIN)
    bad = BadTime(segments).between(t.timestamp(), (t + 40 * MIN).timestamp())
    assert bad == pytest.approx(5 * 60 * 0.5 + 15 * 60 * 1.0)


def test_budget_left_after_one_degraded_incident() -> None:
    # A SEV2 (weight 0.5) of 20 minutes spends 600 s of the 2 592 s budget.
    status = slo_status(
        service="checkout-api",
        objective=99.9,
        window=WINDOW,
        alerts=[(timedelta(hours=1), 14.4)],
        impacts=[Impact(1, 1, NOW - 3 * timedelta(hours=1), NOW - 160 * MIN, 0.5)],
        now=NOW,
    )
    assert status.consumed_seconds == pytest.approx(600)
    assert status.remaining_percent == pytest.approx(100 * 1992 / 2592)
    assert status.burn_rates[0].rate == 0
    assert not status.burn_rates[0].alerting
    assert status.incidents == [1]


def test_a_crossing_is_dated_the_same_at_every_later_evaluation() -> None:
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    impacts = [Impact(1, 1, start, None, 1.0)]

    def crossing(now: datetime) -> float | None:
        bad = BadTime(merge_impacts(impacts, now=now))
        return crossing_start(
            bad,
            now=now.timestamp(),
            window=3600,
            allowed=0.001,
            threshold=14.4,
            horizon=(now - timedelta(days=31)).timestamp(),
        )

    first = crossing(start + MIN)
    assert first == (start + timedelta(seconds=51)).timestamp()  # 51.84 s of outage
    assert all(crossing(start + n * MIN) == first for n in range(2, 200, 7))


def test_a_new_episode_gets_a_new_crossing() -> None:
    first = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    second = first + timedelta(hours=3)
    impacts = [
        Impact(1, 1, first, first + 10 * MIN, 1.0),
        Impact(2, 2, second, None, 1.0),
    ]
    now = second + 5 * MIN
    bad = BadTime(merge_impacts(impacts, now=now))
    found = crossing_start(
        bad,
        now=now.timestamp(),
        window=3600,
        allowed=0.001,
        threshold=14.4,
        horizon=(now - timedelta(days=31)).timestamp(),
    )
    assert found == (second + timedelta(seconds=51)).timestamp()


# ---------------------------------------------------------------- the policy section


def _policy_with(slos: str) -> str:
    return example_policy_text().split("\nslos:\n")[0] + "\nslos:\n" + slos


def test_example_policy_carries_the_seed_slo() -> None:
    policy = parse_policy(example_policy_text())
    slo = next(s for s in policy.slos if s.service == "checkout-api")
    assert slo.objective == 99.9
    assert slo.window == timedelta(days=30)
    assert [slo.weight(s.name, s.rank) for s in policy.severities] == [1.0, 0.5, 0.1, 0.0]
    assert [(a.window, a.threshold) for a in slo.burn_rate_alerts] == [
        (timedelta(hours=1), 14.4),
        (timedelta(hours=6), 6),
        (timedelta(days=3), 1),
    ]


def test_severity_weights_accept_aliases_and_default_by_rank() -> None:
    text = _policy_with(
        "  - {service: web-frontend, objective: 99.5, severity_weights: {p0: 0.8}}\n"
    )
    slo = parse_policy(text).slos[0]
    assert slo.weight("SEV1", 1, ("P0", "critical")) == 0.8
    assert slo.weight("SEV3", 3) == 0.1
    assert slo.budget == timedelta(days=30) * 0.005


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("  - {service: checkout, objective: 99.9}\n", "unknown service 'checkout'"),
        ("  - {service: checkout-api, objective: 100}\n", "less than 100"),
        ("  - {service: checkout-api, objective: 99.9, window: 30}\n", "duration"),
        (
            "  - {service: checkout-api, objective: 99.9, severity_weights: {SEV9: 1}}\n",
            "unknown severity 'SEV9'",
        ),
        (
            "  - {service: checkout-api, objective: 99.9, severity_weights: {SEV1: 2}}\n",
            "must be at most 1",
        ),
        (
            "  - {service: checkout-api, objective: 99.9}\n"
            "  - {service: checkout-api, objective: 99}\n",
            "already has an objective",
        ),
    ],
)
def test_bad_slo_entries_are_refused_with_their_path(entry: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(_policy_with(entry), "tocsin.yaml")
    assert message in str(caught.value)
    assert "slos[" in str(caught.value)
