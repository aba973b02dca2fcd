"""JSON Schema for ``tocsin.yaml``, for editors (e.g. the YAML language server)."""

from __future__ import annotations

from typing import Any

from tocsin.policy.models import Policy

__all__ = ["policy_json_schema"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def policy_json_schema() -> dict[str, Any]:
    """The schema of the policy file as written (durations are strings like ``"15m"``)."""
    schema = Policy.model_json_schema(mode="validation")
    schema["title"] = "Tocsin policy (tocsin.yaml)"
    return {"$schema": _DIALECT, **schema}
