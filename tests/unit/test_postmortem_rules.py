"""Post-mortem rules, document, blameless check and similarity: pure, hand-checked."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tocsin.postmortems.blameless import check_blameless, sentences
from tocsin.postmortems.document import (
    EDITABLE_SECTIONS,
    SECTION_TITLES,
    ActionRow,
    Header,
    generate_sections,
    render_markdown,
    timeline_markdown,
)
from tocsin.postmortems.patterns import PatternItem, recurring_patterns, split_category
from tocsin.postmortems.rules import (
    ActionStatus,
    Event,
    IllegalMove,
    IncidentFacts,
    PostmortemStatus,
    Stage,
    action_item_overdue,
    check_action_move,
    check_move,
    customer_impact,
    deadlines,
    format_span,
    key_events,
    overdue_stages,
    parse_postmortem_id,
    response_metrics,
    suggest_action_items,
)
from tocsin.postmortems.similarity import SimilarityDoc, rank_similar, tokens

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(minutes: float, kind: str, summary: str = "", actor: str = "alice", **data: object) -> Event:
    return Event(at(minutes), kind, actor, summary or kind, data)


def facts(**changes: object) -> IncidentFacts:
    """A SEV2 that started at 09:00, was detected at 09:02 and resolved at 09:49."""
    base: dict[str, object] = {
        "ref": "INC-7",
        "title": "Checkout API 5xx",
        "description": "Error rate above 5%",
        "severity": "SEV2",
        "services": ("checkout-api",),
        "customer_facing": ("checkout-api",),
        "roles": {"commander": ("alice",)},
        "started_at": at(0),
        "detected_at": at(2),
        "acknowledged_at": at(6),
        "mitigated_at": at(32),
        "resolved_at": at(49),
        "respond_within": timedelta(minutes=15),
        "resolve_target": timedelta(hours=2),
        "events": (
            ev(2, "declared", "Declared SEV2: Checkout API 5xx"),
            ev(2, "paged", "Paged bob", actor="tocsin", step=0),
            ev(6, "acknowledged", "Acknowledged by alice"),
            ev(10, "edited", "Edited title"),
            ev(12, "update_posted", "Internal update", public=False),
            ev(20, "escalated", "Escalated by alice: next tier"),
            ev(20, "paged", "Paged erin", actor="tocsin", step=1),
            ev(25, "paged", "Paged vp", actor="tocsin", step=2),
            ev(32, "update_posted", "Public update", public=True),
            ev(49, "resolved", "Status monitoring → resolved"),
        ),
    }
    base.update(changes)
    return IncidentFacts(**base)  # type: ignore[arg-type]


# ---------------------------------------------------------------- response figures


def test_response_metrics_by_hand() -> None:
    m = response_metrics(facts())
    assert m.time_to_detect == timedelta(minutes=2)  # 09:00 -> 09:02
    assert m.time_to_acknowledge == timedelta(minutes=4)  # 09:02 -> 09:06
    assert m.time_to_mitigate == timedelta(minutes=30)  # 09:02 -> 09:32
    assert m.time_to_resolve == timedelta(minutes=47)  # 09:02 -> 09:49
    assert m.impact_duration == timedelta(minutes=49)  # 09:00 -> 09:49
    # the manual escalation (escalated + paged step 1 at 09:20) once, the timer's climb once
    assert m.escalations == 2
    assert m.pages == 3
    assert (m.status_updates, m.public_updates) == (2, 1)
    assert not m.detected_by_monitoring


def test_unresolved_durations_are_none() -> None:
    m = response_metrics(facts(acknowledged_at=None, mitigated_at=None, resolved_at=None))
    assert m.time_to_acknowledge is m.time_to_resolve is m.impact_duration is None


def test_key_events_leave_out_edits_and_keep_time_order() -> None:
    kinds = [e.kind for e in key_events(facts().events)]
    assert "edited" not in kinds
    assert kinds[0] == "declared" and kinds[-1] == "resolved"
    assert len(kinds) == 9
    times = [e.at for e in key_events(reversed(facts().events))]
    assert times == sorted(times)


def test_customer_impact_from_tag_or_public_update() -> None:
    assert customer_impact(tags=["customer-impact"], public_updates=0)
    assert customer_impact(tags=[], public_updates=1)
    assert not customer_impact(tags=["database"], public_updates=0)


@pytest.mark.parametrize(
    ("delta", "text"),
    [(0, "0s"), (59, "59s"), (240, "4m"), (2820, "47m"), (3690, "1h 2m"), (90000, "1d 1h")],
)
def test_format_span(delta: int, text: str) -> None:
    assert format_span(timedelta(seconds=delta)) == text


# ---------------------------------------------------------------- suggestions


def rules_of(f: IncidentFacts, root_cause: str = "") -> list[str]:
    return [s.rule for s in suggest_action_items(f, response_metrics(f), root_cause=root_cause)]


def test_a_clean_incident_gets_no_suggestion() -> None:
    assert rules_of(facts()) == []


def test_deployment_in_the_root_cause() -> None:
    found = suggest_action_items(
        facts(), response_metrics(facts()), root_cause="A bad deployment of the config"
    )
    assert [(s.rule, s.title, s.priority, s.due_in) for s in found] == [
        ("deployment", "Improve deployment testing", "p2", timedelta(weeks=2))
    ]
    assert rules_of(facts(description="Started after the 04:00 release")) == ["deployment"]


def test_detection_over_five_minutes_exactly() -> None:
    assert rules_of(facts(detected_at=at(5))) == []  # exactly 5 minutes: not more than
    found = suggest_action_items(
        facts(detected_at=at(5) + timedelta(seconds=1)),
        response_metrics(facts(detected_at=at(5) + timedelta(seconds=1))),
    )
    assert [(s.rule, s.title, s.due_in) for s in found] == [
        ("detection", "Add monitoring for this failure mode", timedelta(weeks=1))
    ]
    assert found[0].reason == "detection took 5m 1s (more than 5m)"


def test_missed_targets_paging_gaps_and_silence() -> None:
    slow = facts(acknowledged_at=at(18), resolved_at=at(180))
    assert rules_of(slow) == ["acknowledgement", "resolution"]
    reasons = [s.reason for s in suggest_action_items(slow, response_metrics(slow), root_cause="")]
    assert reasons == [
        "acknowledged after 16m; the SEV2 target is 15m",
        "resolved after 2h 58m; the SEV2 target is 2h",
    ]
    gaps = facts(events=(*facts().events, ev(3, "tier_unreachable", actor="tocsin")))
    assert rules_of(gaps) == ["paging_gap"]
    silent = facts(events=tuple(e for e in facts().events if e.kind != "update_posted"))
    assert rules_of(silent) == ["communication"]


# ---------------------------------------------------------------- lifecycles


def test_postmortem_moves() -> None:
    check_move(PostmortemStatus.draft, PostmortemStatus.in_review, root_cause_written=False)
    check_move(PostmortemStatus.in_review, PostmortemStatus.published, root_cause_written=True)
    with pytest.raises(IllegalMove, match="allowed from draft: in_review"):
        check_move(PostmortemStatus.draft, PostmortemStatus.published, root_cause_written=True)
    with pytest.raises(IllegalMove, match="root_cause"):
        check_move(PostmortemStatus.in_review, PostmortemStatus.published, root_cause_written=False)
    with pytest.raises(IllegalMove, match="published is final"):
        check_move(PostmortemStatus.published, PostmortemStatus.in_review, root_cause_written=True)


def test_action_item_moves() -> None:
    check_action_move(ActionStatus.suggested, ActionStatus.open)
    check_action_move(ActionStatus.suggested, ActionStatus.dropped)
    check_action_move(ActionStatus.done, ActionStatus.done)  # no change is fine
    with pytest.raises(IllegalMove, match="allowed from suggested: open, dropped"):
        check_action_move(ActionStatus.suggested, ActionStatus.done)
    with pytest.raises(IllegalMove, match="allowed from done: open"):
        check_action_move(ActionStatus.done, ActionStatus.in_progress)


def test_action_item_overdue_only_while_open() -> None:
    today = date(2026, 3, 10)
    assert action_item_overdue(ActionStatus.open, date(2026, 3, 9), today)
    assert action_item_overdue(ActionStatus.in_progress, date(2026, 3, 9), today)
    assert not action_item_overdue(ActionStatus.open, date(2026, 3, 10), today)  # due today
    assert not action_item_overdue(ActionStatus.done, date(2026, 3, 1), today)
    assert not action_item_overdue(ActionStatus.suggested, date(2026, 3, 1), today)
    assert not action_item_overdue(ActionStatus.open, None, today)


def test_deadlines_and_overdue_stages() -> None:
    due = deadlines(T0)
    assert due == {
        Stage.draft: T0 + timedelta(hours=24),
        Stage.review: T0 + timedelta(hours=48),
        Stage.publish: T0 + timedelta(hours=72),
    }
    draft = PostmortemStatus.draft

    def late(hours: float, status: PostmortemStatus = draft, written: bool = False) -> list[str]:
        now = T0 + timedelta(hours=hours)
        stages = overdue_stages(due, status=status, root_cause_written=written, now=now)
        return [s.value for s in stages]

    assert late(23.9) == []
    assert late(24) == ["draft"]
    assert late(24, written=True) == []
    assert late(48, written=True) == ["review"]
    assert late(48, PostmortemStatus.in_review) == []
    assert late(72, PostmortemStatus.in_review) == ["publish"]
    assert late(100, PostmortemStatus.published) == []
    assert late(72) == ["draft", "review", "publish"]


def test_ids_and_categories() -> None:
    assert parse_postmortem_id("PM-3") == parse_postmortem_id("pm-3") == parse_postmortem_id("3")
    assert parse_postmortem_id("PM-3") == 3
    for bad in ("INC-3", "PM-", "PM-0", "PM--1", "3.5", "٣", "99999999999"):
        assert parse_postmortem_id(bad) is None
    assert split_category("Technical/ Deployment ") == ("technical", "deployment")
    assert split_category("process") == ("process", None)
    with pytest.raises(ValueError, match="valid: technical, process, human, external"):
        split_category("bad-luck")


# ---------------------------------------------------------------- patterns


def item(
    n: int, category: str, days_ago: float, services: tuple[str, ...] = ("api",)
) -> PatternItem:
    sub = None
    if "/" in category:
        category, sub = category.split("/")
    return PatternItem(
        postmortem=f"PM-{n}",
        incident=f"INC-{n}",
        title=f"incident {n}",
        severity="SEV2",
        category=category,
        subcategory=sub,
        services=services,
        created_at=T0 - timedelta(days=days_ago),
        duration=timedelta(minutes=10 * n),
    )


def test_a_pattern_is_more_than_two_in_the_window() -> None:
    items = [
        item(1, "technical/deployment", 80, ("api",)),
        item(2, "technical/deployment", 40, ("web",)),
        item(3, "technical/deployment", 1, ("api", "db")),
        item(4, "process", 10),
        item(5, "process", 20),  # two: not more than twice
        item(6, "external", 90),  # exactly 90 days ago: outside (created_at > now - 90d)
        item(7, "external", 30),
        item(8, "external", 31),
    ]
    found = recurring_patterns(items, now=T0, days=90)
    assert [p.name for p in found] == ["technical/deployment"]
    pattern = found[0]
    assert pattern.occurrences == 3
    assert pattern.services == ("api", "db", "web")
    assert [i.incident for i in pattern.items] == ["INC-3", "INC-2", "INC-1"]  # newest first
    assert pattern.first_seen == T0 - timedelta(days=80)
    assert pattern.last_seen == T0 - timedelta(days=1)
    assert pattern.average_duration == timedelta(minutes=20)  # (10 + 20 + 30) / 3
    assert pattern.description == "Recurring issue: technical/deployment affecting 3 services"
    # one more external inside the window makes a second pattern, ranked by count then recency
    more = recurring_patterns([*items, item(9, "external", 2)], now=T0, days=90)
    assert [(p.name, p.occurrences) for p in more] == [
        ("technical/deployment", 3),
        ("external", 3),
    ]
    assert recurring_patterns(items, now=T0, days=30) == []


# ---------------------------------------------------------------- blameless check

PEOPLE = ["alice", "Alice Anders", "Alice", "bob", "Bob Baker", "Bob"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Engineer X didn't test properly.", "names a person as the culprit"),
        ("The outage was caused by Bob.", "names a person as the cause"),
        ("It was human error.", "blames 'human error'"),
        ("We should have known the disk was full.", "judges with hindsight ('should have known')"),
        ("bob forgot to renew the certificate.", "names a person as the culprit"),
        ("Alice Anders's change broke checkout.", "names a person as the culprit"),
        ("The on-call engineer ignored the alert.", "names a person as the culprit"),
        ("Someone pushed a bad config.", "names a person as the culprit"),
        ("It was Bob's fault.", "assigns fault"),
        ("A careless edit of the firewall rules.", "judges a person's care or competence"),
        ("The config was broken by @alice.", "names a person as the cause"),
    ],
)
def test_blaming_sentences_are_flagged(text: str, reason: str) -> None:
    findings = check_blameless({"root_cause": f"Intro line.\n\n- {text}"}, people=PEOPLE)
    assert [(f.section, f.sentence, f.reason) for f in findings] == [("root_cause", text, reason)]
    assert findings[0].suggestion


@pytest.mark.parametrize(
    "text",
    [
        "The deployment process lacked adequate testing.",
        "alice acknowledged the page at 09:04.",
        "Acknowledged by alice",
        "The database failed to fail over.",
        "Caused by a bad config push.",
        "alice never received the page.",
        "We run blameless reviews.",
        "Redis failed to evict keys.",
        "Escalated by bob: next tier",
        "The runbook should have a rollback step.",
    ],
)
def test_neutral_sentences_are_not_flagged(text: str) -> None:
    assert check_blameless({"timeline": text}, people=PEOPLE) == []


def test_sentences_of_markdown() -> None:
    text = (
        "# Heading\n"
        "First one. Second one!\n"
        "| Time | Event |\n|---|---|\n| 09:00 | Paged bob |\n"
        "```\nhuman error in a log line\n```\n"
        "- [ ] a task"
    )
    assert list(sentences(text)) == [
        "Heading",
        "First one.",
        "Second one!",
        "Time",
        "Event",
        "09:00",
        "Paged bob",
        "a task",
    ]


# ---------------------------------------------------------------- document


def test_generated_document_has_every_section_and_the_facts() -> None:
    f = facts()
    sections = generate_sections(f, response_metrics(f))
    assert set(sections) == set(EDITABLE_SECTIONS)
    assert "| 2026-03-02 09:06:00 | +4m | Acknowledged by alice | alice |" in sections["timeline"]
    assert "Edited title" not in sections["timeline"]
    assert "- **Time to acknowledge**: 4m (target 15m: met)" in sections["response"]
    assert "- **Time to resolve**: 47m (target 2h: met)" in sections["response"]
    assert "- **Escalations**: 2" in sections["response"]
    assert "- **Time to detect**: 2m" in sections["detection"]
    assert "declared by alice" in sections["detection"]
    assert "- **Duration**: 49m (2026-03-02 09:00 UTC → 2026-03-02 09:49 UTC)" in sections["impact"]
    assert "checkout-api (customer-facing)" in sections["impact"]
    assert "- **Error budget consumed**: n/a" in sections["impact"]
    header = Header("PM-1", "INC-7", "Checkout API 5xx", "draft", "SEV2", "alice", T0)
    rows = [ActionRow("Fix | pipe", None, date(2026, 3, 16), "p2", "open", "https://x/1")]
    markdown = render_markdown(header, sections, rows)
    assert markdown.startswith("# Post-mortem PM-1: Checkout API 5xx\n")
    for title in SECTION_TITLES.values():
        assert f"\n## {title}\n" in markdown
    assert "| [Fix \\| pipe](<https://x/1>) | — | 2026-03-16 | P2 | open |" in markdown


def test_timeline_cells_are_escaped() -> None:
    f = facts(events=(ev(2, "update_posted", "a | b\nc"),))
    assert "| a \\| b c |" in timeline_markdown(f)


# ---------------------------------------------------------------- similarity


def test_tokens() -> None:
    assert tokens("The Checkout-API timeouts, after 2 deploys!") == [
        "checkout-api",
        "timeout",
        "deploy",
    ]


def test_similarity_order_by_hand() -> None:
    target = SimilarityDoc("t", "checkout api timeout after deploy", frozenset({"checkout"}))
    candidates = [
        SimilarityDoc("unrelated", "disk full on logging host", frozenset({"logging"})),
        SimilarityDoc("same-service-only", "login page slow", frozenset({"checkout"})),
        SimilarityDoc("same-text-other", "checkout api timeout after deploy", frozenset({"web"})),
        SimilarityDoc("same", "checkout api timeout after deploy", frozenset({"checkout"})),
        SimilarityDoc("half", "checkout api timeout", frozenset({"checkout", "web"})),
    ]
    ranked = rank_similar(target, candidates)
    assert [s.key for s in ranked] == ["same", "half", "same-text-other", "same-service-only"]
    same, half, other, service_only = ranked
    assert (same.text_score, same.service_score, same.score) == (1.0, 1.0, 1.0)
    assert (other.text_score, other.service_score, other.score) == (1.0, 0.0, 0.7)
    assert (service_only.text_score, service_only.score) == (0.0, 0.3)
    assert half.service_score == 0.5 and half.shared_services == ("checkout",)
    assert 0.0 < half.text_score < 1.0
    assert rank_similar(target, candidates, limit=2) == ranked[:2]
