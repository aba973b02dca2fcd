import pytest

from tocsin.policy import Policy, compute_tags, example_policy_text, parse_policy


@pytest.fixture(scope="module")
def policy() -> Policy:
    return parse_policy(example_policy_text())


def test_services_and_keyword_tags_sorted_unique(policy: Policy) -> None:
    tags = compute_tags(
        policy,
        title="Checkout API 5xx",
        description="DB connection pool exhausted; dns looks fine",
        services=["checkout-api", "payments-db", "checkout-api"],
    )
    assert tags == ["api", "checkout-api", "database", "network", "payments-db"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Customer feedback form slow", []),  # "db" is inside "feedback"
        ("db latency", ["database"]),
        ("Primary DB down", ["database"]),
        ("db-primary failover", ["database"]),
        ("SQL: deadlocks", ["database"]),
        ("mysql replica lag", []),  # "sql" is part of a longer word
        ("apis are flaky", []),
        ("Checkout API 5xx", ["api"]),
        ("High CPU and disk usage", ["infrastructure"]),
        ("Service unavailable (endpoint /pay)", ["api"]),
        ("", []),
    ],
)
def test_keywords_match_whole_words(policy: Policy, text: str, expected: list[str]) -> None:
    assert compute_tags(policy, title=text, description="", services=[]) == expected


def test_description_counts_too(policy: Policy) -> None:
    tags = compute_tags(policy, title="Outage", description="network partition", services=[])
    assert tags == ["network"]


def test_phrases_and_punctuation_in_keywords() -> None:
    policy = Policy.model_validate(
        {
            "severities": [
                {
                    "name": "SEV1",
                    "respond_within": "5m",
                    "escalate_after": "15m",
                    "update_every": "15m",
                    "resolve_target": "30m",
                }
            ],
            "tagging": [
                {"tag": "pool", "keywords": ["connection pool"]},
                {"tag": "cpp", "keywords": ["c++"]},
            ],
        }
    )
    assert compute_tags(
        policy, title="Connection  pool", description="the connection pool is full", services=[]
    ) == ["pool"]
    assert compute_tags(policy, title="c++ service crash", description="", services=[]) == ["cpp"]
