"""Writing an import into a policy file: a new file, or merged into an existing one.

A merge adds what the file does not have yet and keeps everything it has: an imported
person, team, schedule, escalation policy or service whose name is already taken is
left out (and reported), and the new entries are added as text at the end of their
sections, so every line of the file stays as it was. Whatever is written must
load as a valid policy first; a result that does not is refused with the loader's
errors, and nothing is written.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from tocsin.importers.draft import Draft
from tocsin.importers.http import ImportFailed
from tocsin.importers.yamltext import dump, extend
from tocsin.policy import PolicyError, example_policy_text, parse_policy

__all__ = ["PolicyChange", "plan_change", "write_change"]

#: The sections an import fills, in the order a new file lists them.
_LIST_SECTIONS = ("people", "teams", "services", "schedules", "escalation_policies")
_KINDS = {
    "people": "person",
    "teams": "team",
    "services": "service",
    "schedules": "schedule",
    "escalation_policies": "escalation policy",
}


@dataclass(frozen=True)
class PolicyChange:
    path: Path
    before: str
    after: str
    #: Channels the notification rules name that the policy does not define.
    undefined_channels: tuple[str, ...] = ()

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"{self.path} (now)" if self.before else "/dev/null",
                tofile=f"{self.path} (imported)",
            )
        )


def _new_document(draft: Draft) -> CommentedMap:
    """A new policy: the example policy's severities, then everything imported."""
    example = YAML(typ="safe").load(example_policy_text())
    document = CommentedMap()
    document["version"] = 1
    document["severities"] = example["severities"]
    for section in _LIST_SECTIONS:
        entries = getattr(draft, section)
        if entries:
            document[section] = list(entries)
    if draft.notification_rules:
        document["notification_rules"] = dict(draft.notification_rules)
    if draft.maintenance_windows:
        document["alerting"] = {"maintenance_windows": list(draft.maintenance_windows)}
    document.yaml_set_start_comment(
        f"Imported from {draft.product} by `tocsin import`. Check it with "
        "`tocsin policy validate`; the import's report lists what was left out."
    )
    return document


def _merged(text: str, draft: Draft) -> str:
    """``text`` with what the draft has and the file has not, added as text."""
    document = YAML(typ="safe").load(text)
    if not isinstance(document, dict):
        raise ImportFailed("the file is not a policy (its top level is not a mapping)")
    for section in _LIST_SECTIONS:
        existing = document.get(section) or []
        taken = {e.get("name") for e in existing if isinstance(e, dict)}
        new: list[dict[str, Any]] = []
        for entry in getattr(draft, section):
            if entry["name"] in taken:
                reason = "the policy already has one by this name; kept the existing one"
                draft.skip(_KINDS[section], entry["name"], reason)
            else:
                new.append(entry)
        if new:
            text = extend(text, (section,), new)
    rules = document.get("notification_rules") or {}
    added: dict[str, Any] = {}
    for person, steps in draft.notification_rules.items():
        if person in rules:
            reason = "the policy already has rules for this person; kept them"
            draft.skip("notification rules", person, reason)
        else:
            added[person] = steps
    if added:
        text = extend(text, ("notification_rules",), added)
    windows = (document.get("alerting") or {}).get("maintenance_windows") or []
    fresh = [w for w in draft.maintenance_windows if w not in windows]
    if fresh:
        text = extend(text, ("alerting", "maintenance_windows"), fresh)
    return text


def plan_change(draft: Draft, path: Path, merge: bool) -> PolicyChange:
    """The file as it is and as the import would leave it; raises :class:`ImportFailed`
    if the file exists and ``merge`` is off, or if the result is not a valid policy."""
    before = ""
    if path.exists():
        if not merge:
            raise ImportFailed(
                f"{path} already exists; add --merge to merge the import into it, "
                "or choose another --output"
            )
        try:
            before = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ImportFailed(f"cannot read {path}: {exc}") from None
        try:
            after = _merged(before, draft)
        except YAMLError as exc:
            raise ImportFailed(f"{path} is not valid YAML: {exc}") from None
    else:
        after = dump(_new_document(draft))
    try:
        policy = parse_policy(after, str(path))
    except PolicyError as exc:
        raise ImportFailed(f"the imported policy would not be valid:\n{exc}") from None
    named = {
        step.channel
        for rules in policy.notification_rules.values()
        for rule in rules
        for step in rule.notify
    }
    return PolicyChange(path, before, after, tuple(sorted(named - set(policy.channels))))


def write_change(change: PolicyChange) -> None:
    """Write the new text in place of the file in one step (no half-written file)."""
    partial = change.path.with_name(f".{change.path.name}.importing")
    partial.write_text(change.after, encoding="utf-8")
    os.replace(partial, change.path)
