""" "Similar past incidents": TF-IDF text similarity blended with shared services (pure).

Text is an incident's title, description and (when its post-mortem has one) root cause.
The text score is the cosine of TF-IDF vectors over the target and its candidates; the
service score is the Jaccard index of the two sets of services. The blend weighs text
at 70 % and services at 30 %, so that two incidents about the same failure on different
services still rank above two unrelated incidents on one service.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SimilarityDoc", "SimilarityScore", "rank_similar", "tokens"]

TEXT_WEIGHT = 0.7
SERVICE_WEIGHT = 0.3

_WORD = re.compile(r"[a-z0-9][a-z0-9_-]*[a-z0-9]|[a-z0-9]")
_STOPWORD_TEXT = """a an and are as at be been but by for from had has have in into is it
    its of on or
    our that the their then there these this to was were which while will with we after
    before during not no all any can could than so up out over under about when what"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def tokens(text: str) -> list[str]:
    """Lower-case words without stop words; a plural 's' is dropped ('timeouts' = 'timeout')."""
    words: list[str] = []
    for word in _WORD.findall(text.casefold()):
        if word in _STOPWORDS or word.isdigit():
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.append(word)
    return words


@dataclass(frozen=True)
class SimilarityDoc:
    key: str
    text: str
    services: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SimilarityScore:
    key: str
    score: float
    text_score: float
    service_score: float
    shared_services: tuple[str, ...]


def _vectors(docs: Sequence[SimilarityDoc]) -> list[dict[str, float]]:
    counts = [Counter(tokens(d.text)) for d in docs]
    df: Counter[str] = Counter()
    for count in counts:
        df.update(count.keys())
    n = len(docs)
    idf = {term: math.log((1 + n) / (1 + seen)) + 1.0 for term, seen in df.items()}
    vectors: list[dict[str, float]] = []
    for count in counts:
        vector = {term: tf * idf[term] for term, tf in count.items()}
        norm = math.sqrt(sum(v * v for v in vector.values()))
        vectors.append({t: v / norm for t, v in vector.items()} if norm else {})
    return vectors


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(value * b.get(term, 0.0) for term, value in a.items())


def rank_similar(
    target: SimilarityDoc,
    candidates: Sequence[SimilarityDoc],
    *,
    limit: int = 10,
    min_score: float = 0.0,
) -> list[SimilarityScore]:
    """Candidates scoring above `min_score`, best first; ties keep the candidates' order."""
    vectors = _vectors([target, *candidates])
    mine = vectors[0]
    scored: list[SimilarityScore] = []
    for doc, vector in zip(candidates, vectors[1:], strict=True):
        text = round(min(_cosine(mine, vector), 1.0), 6)
        union = target.services | doc.services
        shared = target.services & doc.services
        service = round(len(shared) / len(union), 6) if union else 0.0
        score = round(TEXT_WEIGHT * text + SERVICE_WEIGHT * service, 6)
        if score > min_score:
            scored.append(SimilarityScore(doc.key, score, text, service, tuple(sorted(shared))))
    scored.sort(key=lambda s: -s.score)  # stable: equal scores keep the given order
    return scored[:limit]
