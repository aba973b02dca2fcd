"""The blameless-language check: pure, advisory, never blocking.

It flags sentences that put a person where the system should be: "Engineer X didn't test
properly", "caused by Bob", "human error", "should have known", or a person named in the
policy as the subject of a blaming verb. Naming someone as the actor of a neutral fact
("alice acknowledged the page") is fine and not flagged. Each finding carries a
suggestion for restating the sentence about the system:
"The deployment process lacked adequate testing", not "Engineer X didn't test properly".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

__all__ = ["BlamelessFinding", "check_blameless", "sentences"]


@dataclass(frozen=True)
class BlamelessFinding:
    section: str
    sentence: str
    reason: str
    suggestion: str


_SYSTEM_EXAMPLE = (
    "e.g. 'The deployment process lacked adequate testing' "
    "rather than 'Engineer X didn't test properly'."
)

# Generic references to a person (besides the names the policy knows).
_GENERIC_PERSON = (
    r"(?:engineer|developer|operator|admin|sre|on-?call(?:\s+engineer)?)\s+[A-Z][\w-]*"
    r"|(?:the|an?|our)\s+(?:engineer|developer|operator|intern|new\s+hire|on-?call\s+engineer)"
    r"|someone|somebody|he|she"
)

# After "didn't" / "never": things a person is faulted for not doing. ("alice didn't receive
# the page" is a fact about paging, not blame.)
_OMISSIONS = (
    r"(?:test|check|review|verify|validate|notice|look|follow|read|run|ask|escalate|respond"
    r"|acknowledge|answer|update|communicate|wait|think|bother|care|pay|double-check|roll"
    r"|document|tell|inform|monitor|warn)\w*"
)

_CULPRIT_VERBS = (
    rf"(?:(?:didn['\u2019]t|did\s+not|never)\s+{_OMISSIONS}"
    r"|failed\s+to|forgot|neglected|ignored|missed|overlooked"
    r"|broke|messed\s+up|screwed\s+up|caused|made\s+a\s+mistake|made\s+an\s+error"
    r"|should(?:n['\u2019]t|\s+not)?\s+have|was\s+careless|wasn['\u2019]t\s+careful"
    r"|pushed\s+a\s+bad|deployed\s+a\s+bad|was\s+not\s+paying|wasn['\u2019]t\s+paying)\b"
)

_CAUSE_WORDS = (
    r"(?:caused|broken|introduced|triggered|started)\s+by|due\s+to|because\s+of|fault\s+of"
    r"|blame\s+(?:on|goes\s+to)"
)

_POSSESSED = (
    r"['\u2019]s\s+(?:mistake|error|fault|bad\s+\w+|careless\w*"
    r"|(?:change|deploy\w*|commit|push|config\w*|code|query|script)"
    r"\s+(?:caused|broke|triggered|led\s+to|took\s+down))"
)

_PHRASES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"\b(?:human|operator|pilot)[\s-]+error\b", re.IGNORECASE),
        "blames 'human error'",
        "Name the conditions that made the mistake possible (a missing safeguard, a "
        "confusing tool, a manual step that could be automated) instead of 'human error'.",
    ),
    (
        re.compile(
            r"\bshould(?:n['\u2019]t|\s+not)?\s+have\s+(?:known|caught|noticed|seen|realised|realized"
            r"|checked|tested|verified|been\s+more\s+careful|double-checked)\b|\bshould['\u2019]ve\b",
            re.IGNORECASE,
        ),
        "judges with hindsight ('should have known')",
        "Describe what was known or visible at the time, and how the system could make "
        "the right information easy to see.",
    ),
    (
        re.compile(
            r"\b(?:careless(?:ly|ness)?|negligen(?:t|ce)|incompeten(?:t|ce)|sloppy|lazy|stupid"
            r"|reckless(?:ly)?|irresponsibl[ey])\b",
            re.IGNORECASE,
        ),
        "judges a person's care or competence",
        "Describe the action and the context it was taken in, without judging the person; "
        + _SYSTEM_EXAMPLE,
    ),
    (
        re.compile(
            r"\bto\s+blame\b|\bblamed?\b|['\u2019]s\s+fault\b|\bat\s+fault\b", re.IGNORECASE
        ),
        "assigns fault",
        "Say which condition or change led to the failure, not whose fault it was.",
    ),
)

_CULPRIT = (
    "names a person as the culprit",
    "Restate it about the system: what allowed this to happen? " + _SYSTEM_EXAMPLE,
)
_CAUSED_BY = (
    "names a person as the cause",
    "Say which change or condition caused it (e.g. 'a configuration change that skipped "
    "review'), not who made it.",
)


def _person_pattern(people: Iterable[str]) -> str:
    names = sorted({p.strip() for p in people if p and p.strip()}, key=len, reverse=True)
    alternatives = [re.escape(n).replace(r"\ ", r"\s+") for n in names]
    return "|".join([*alternatives, _GENERIC_PERSON])


def _rules(people: Iterable[str]) -> list[tuple[re.Pattern[str], str, str]]:
    person = rf"(?<![\w@-])@?(?:{_person_pattern(people)})(?![\w-])"
    flags = re.IGNORECASE
    return [
        *_PHRASES,
        (re.compile(rf"\b(?:{_CAUSE_WORDS})\s+(?:{person})", flags), *_CAUSED_BY),
        (re.compile(rf"(?:{person})\s+(?:\w+ly\s+)?{_CULPRIT_VERBS}", flags), *_CULPRIT),
        (re.compile(rf"(?:{person}){_POSSESSED}", flags), *_CULPRIT),
    ]


_FENCE = re.compile(r"^\s*(```|~~~)")
_LINE_MARK = re.compile(r"^\s*(?:#{1,6}\s+|>\s*|[-*+]\s+(?:\[[ xX]\]\s+)?|\d+[.)]\s+)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_TABLE_RULE = re.compile(r"^\s*\|?[\s:|-]+\|?\s*$")


def sentences(markdown: str) -> Iterator[str]:
    """The sentences of a Markdown text: code blocks skipped, table cells taken one by one."""
    in_code = False
    for raw in markdown.splitlines():
        if _FENCE.match(raw):
            in_code = not in_code
            continue
        if in_code or not raw.strip() or _TABLE_RULE.match(raw):
            continue
        line = raw.strip()
        pieces = [c for c in line.strip("|").split("|")] if line.startswith("|") else [line]
        for piece in pieces:
            text = _LINE_MARK.sub("", piece).strip()
            for sentence in _SENTENCE_END.split(text):
                if sentence.strip():
                    yield sentence.strip()


def check_blameless(
    sections: Mapping[str, str], *, people: Iterable[str] = ()
) -> list[BlamelessFinding]:
    """One finding per blaming sentence (the first rule it breaks), in section order.

    `people` are the names that may appear in the text: handles, full and first names.
    """
    rules = _rules(people)
    findings: list[BlamelessFinding] = []
    for section, text in sections.items():
        for sentence in sentences(text):
            for pattern, reason, suggestion in rules:
                if pattern.search(sentence):
                    findings.append(BlamelessFinding(section, sentence, reason, suggestion))
                    break
    return findings
