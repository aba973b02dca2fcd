"""`/api/v1/policy` and `/api/v1/me`: what the running server believes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tocsin.policy import format_duration
from tocsin.web.deps import Admin, ContextDep, CurrentPolicy, Viewer
from tocsin.web.routing import RequestThreadRoute

router = APIRouter(route_class=RequestThreadRoute, prefix="/api/v1", tags=["policy"])


@router.get("/policy")
def read_policy(policy: CurrentPolicy, _principal: Viewer) -> dict[str, Any]:
    return {
        "severities": [
            {
                "name": s.name,
                "rank": s.rank,
                "aliases": list(s.aliases),
                "description": s.description,
                "respond_within": format_duration(s.respond_within),
                "escalate_after": format_duration(s.escalate_after),
                "update_every": format_duration(s.update_every),
                "resolve_target": format_duration(s.resolve_target),
                "postmortem_required": s.postmortem_required,
            }
            for s in policy.severities
        ],
        "services": [
            {"name": s.name, "team": s.team, "tier": s.tier, "depends_on": list(s.depends_on)}
            for s in policy.services
        ],
        "roles": [{"name": r.name, "label": r.label, "multiple": r.multiple} for r in policy.roles],
        "people": [{"name": p.name, "full_name": p.full_name} for p in policy.people],
        "teams": [{"name": t.name, "members": list(t.members)} for t in policy.teams],
    }


@router.post("/policy/reload")
def reload_policy(context: ContextDep, _principal: Admin) -> dict[str, Any]:
    """Re-read the policy file; a bad file is refused (422) and the running policy stays."""
    policy = context.policy.reload()
    return {
        "status": "reloaded",
        "severities": [s.name for s in policy.severities],
        "services": len(policy.services),
    }


@router.get("/me")
def whoami(principal: Viewer) -> dict[str, Any]:
    return {"name": principal.name, "role": principal.role.value, "person": principal.person}
