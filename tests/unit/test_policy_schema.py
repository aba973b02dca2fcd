import json
import re
from typing import Any

from ruamel.yaml import YAML

from tocsin.policy import example_policy_text, policy_json_schema


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    name = ref.removeprefix("#/$defs/")
    resolved: dict[str, Any] = schema["$defs"][name]
    return resolved


def test_schema_header_and_top_level() -> None:
    schema = policy_json_schema()
    json.dumps(schema)  # serialisable as is
    assert schema["$schema"].endswith("/schema")
    assert "Tocsin" in schema["title"]
    assert schema["type"] == "object"
    assert schema["required"] == ["severities"]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) >= {
        "version",
        "severities",
        "roles",
        "teams",
        "people",
        "services",
        "tagging",
    }
    assert schema["properties"]["severities"]["minItems"] == 1


def test_severity_durations_are_pattern_strings() -> None:
    schema = policy_json_schema()
    severity = _resolve(schema, schema["properties"]["severities"]["items"])
    assert severity["additionalProperties"] is False
    assert set(severity["required"]) == {
        "name",
        "respond_within",
        "escalate_after",
        "update_every",
        "resolve_target",
    }
    fields = ("respond_within", "escalate_after", "update_every", "resolve_target")
    patterns = set()
    for field in fields:
        prop = severity["properties"][field]
        assert prop["type"] == "string"
        assert "description" in prop
        patterns.add(prop["pattern"])
    (pattern,) = patterns

    example = YAML(typ="safe").load(example_policy_text())
    for entry in example["severities"]:
        for field in fields:
            assert re.fullmatch(pattern, entry[field]), (entry["name"], field)
    for bad in ["", "5", "5 minutes", "1m1h", "soon"]:
        assert not re.search(pattern, bad)


def test_example_keys_are_all_in_the_schema() -> None:
    """additionalProperties is false everywhere, so every key of the example must exist."""
    schema = policy_json_schema()
    example = YAML(typ="safe").load(example_policy_text())
    assert set(example) <= set(schema["properties"])
    for section, entries in example.items():
        if not isinstance(entries, list):
            continue
        item = _resolve(schema, schema["properties"][section]["items"])
        assert item["additionalProperties"] is False
        for entry in entries:
            assert set(entry) <= set(item["properties"]), section
            assert set(item.get("required", [])) <= set(entry), section


def test_slug_pattern_in_schema() -> None:
    schema = policy_json_schema()
    service = _resolve(schema, schema["properties"]["services"]["items"])
    pattern = service["properties"]["name"]["pattern"]
    assert re.search(pattern, "checkout-api")
    assert not re.search(pattern, "Checkout API")
    tier = service["properties"]["tier"]
    assert (tier["minimum"], tier["maximum"]) == (1, 4)
