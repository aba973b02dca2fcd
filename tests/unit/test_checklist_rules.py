"""Checklists in the policy (what a bad file is told) and the pure rules: which lists an
incident gets, who is reminded, how a refusal and a post-mortem read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.checklists import rules
from tocsin.policy import PolicyError, example_policy_text, parse_policy
from tocsin.policy.checklists import AttachOn, AutoTick

SEVERITIES = """\
severities:
  - {name: SEV1, aliases: [P0], respond_within: 5m, escalate_after: 15m, update_every: 15m,
     resolve_target: 30m}
  - {name: SEV2, aliases: [P1], respond_within: 15m, escalate_after: 30m, update_every: 30m,
     resolve_target: 2h}
"""
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _issues(text: str) -> list[tuple[str, str]]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(SEVERITIES + text)
    return [(i.path, i.message) for i in caught.value.issues]


def test_items_read_as_sentences_or_with_a_deadline_and_an_event() -> None:
    policy = parse_policy(
        SEVERITIES
        + """
checklists:
  - name: first-minutes
    role: commander
    severities: [P0]
    items:
      - Assess the severity
      - {text: Create the incident channel, within: 2m, done_when: channel_created}
"""
    )
    [checklist] = policy.checklists
    assert checklist.heading == "First minutes"
    assert checklist.attach is AttachOn.declared
    assert [(i.text, i.within, i.done_when) for i in checklist.items] == [
        ("Assess the severity", None, None),
        ("Create the incident channel", timedelta(minutes=2), AutoTick.channel_created),
    ]
    assert checklist.applies_to(policy.severity("SEV1").labels)
    assert not checklist.applies_to(policy.severity("SEV2").labels)


def test_a_bad_checklist_is_refused_with_the_path_of_each_mistake() -> None:
    issues = _issues(
        """
checklists:
  - name: comms
    role: comms-lead
    attach: assigned
    severities: [SEV9]
    items: [{text: Update the status page, done_when: page_updated, within: soon}]
  - name: comms
    attach: handoff
    items: [Read the timeline]
  - name: empty
    items: []
"""
    )
    paths = dict(issues)
    assert "unknown role 'comms-lead'; did you mean 'comms_lead'?" in paths["checklists[0].role"]
    assert "unknown severity 'SEV9'" in paths["checklists[0].severities[0]"]
    assert "checklists[0].items[0].done_when" in paths
    assert "invalid duration 'soon'" in paths["checklists[0].items[0].within"]
    assert paths["checklists[1].name"] == "checklist 'comms' is defined twice"
    assert "a checklist attached on handoff needs a role" in paths["checklists[1]"]
    assert paths["checklists[2].items"] == "must not be empty"


def test_the_example_policy_carries_the_response_checklists() -> None:
    policy = parse_policy(example_policy_text())
    names = [c.name for c in policy.checklists]
    assert names == [
        "initial-response",
        "initial-investigation",
        "communication",
        "investigation",
        "resolution",
        "handoff",
    ]
    first = policy.checklist("initial-response")
    assert first is not None
    channel = next(i for i in first.items if i.done_when is AutoTick.channel_created)
    assert channel.within == timedelta(minutes=2)
    resolution = policy.checklist("resolution")
    assert resolution is not None and not resolution.required_to_resolve
    assert len(resolution.items) == 5


def test_lists_for_roles_first_assignments_and_handoffs() -> None:
    policy = parse_policy(example_policy_text())
    labels = policy.severity("SEV1").labels
    wanted = rules.lists_for_roles(
        policy.checklists,
        labels,
        holders={"commander": ["bob"], "comms_lead": ["carol"]},
        first_holders={"commander": ["alice"], "comms_lead": ["carol"]},
    )
    assert [(c.name, scope) for c, scope in wanted] == [("communication", ""), ("handoff", "bob")]
    # The communication list is for SEV1 and SEV2 only.
    low = rules.lists_for_roles(
        policy.checklists,
        policy.severity("SEV4").labels,
        holders={"comms_lead": ["carol"]},
        first_holders={"comms_lead": ["carol"]},
    )
    assert low == []


def test_who_is_reminded() -> None:
    holders = {"commander": ["alice"], "comms_lead": ["carol"]}
    assert rules.reminder_targets("comms_lead", "", holders) == (["carol"], "comms_lead")
    assert rules.reminder_targets("tech_lead", "", holders) == (["alice"], "commander")
    assert rules.reminder_targets("commander", "bob", holders) == (["bob"], "commander")
    assert rules.reminder_targets(None, "", {}) == ([], "commander")


def _item(number: int, state: str, **fields: object) -> rules.ItemView:
    values: dict[str, object] = {
        "number": number,
        "checklist": "resolution",
        "heading": "Resolution",
        "role": "commander",
        "text": f"Step {number}",
        "state": state,
        "settled_by": None,
        "settled_at": None,
        "reason": None,
        "due_at": None,
    }
    values.update(fields)
    return rules.ItemView(**values)  # type: ignore[arg-type]


def test_the_refusal_and_the_postmortem_name_each_item() -> None:
    assert rules.blocking_message("INC-7", [_item(6, "open")]) == (
        "INC-7 cannot be resolved yet: the Resolution checklist has 1 open item: 6. Step 6. "
        "Tick each one (tocsin task done INC-7 N) or skip it with a reason first."
    )
    text = rules.markdown(
        [
            _item(1, "done", settled_by="alice", settled_at=NOW),
            _item(2, "skipped", settled_by="bob", reason="not needed"),
            _item(3, "open", due_at=NOW),
        ]
    )
    assert text.splitlines() == [
        "**Resolution** (commander): 1 done, 1 skipped, 1 open",
        "",
        "- [x] 1. Step 1 (alice, 2026-03-02 09:00 UTC)",
        "- [x] 2. ~~Step 2~~ skipped by bob: not needed",
        "- [ ] 3. Step 3 (was due 2026-03-02 09:00 UTC)",
    ]
    assert rules.markdown([]) == "*[No checklists were attached]*"
