"""Opsgenie's Alert API, declared for the OpenAPI document (and served for an
application without the inbound lane, which otherwise answers these paths first):

    POST /v2/alerts                                  create (dedup by alias)
    POST /v2/alerts/{identifier}/close               ?identifierType=id|alias|tiny
    POST /v2/alerts/{identifier}/acknowledge
    GET  /v2/alerts/requests/{requestId}             what became of a request

``Authorization: GenieKey <integration key>``; every answer has Opsgenie's shape
(:mod:`tocsin.web.inbound_opsgenie`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tocsin.web.inbound import Answer, inbound_for
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

router = APIRouter(route_class=RequestThreadRoute, tags=["opsgenie"])


class OpsgenieAccepted(BaseModel):
    result: str = "Request will be processed"
    took: float = Field(description="Seconds the server took.")
    requestId: str = Field(description="Ask GET /v2/alerts/requests/{requestId} what became of it.")


class OpsgenieError(BaseModel):
    message: str
    errors: dict[str, str] | None = Field(default=None, description="Field -> what is wrong.")
    took: float
    requestId: str


class OpsgenieRequest(BaseModel):
    success: bool
    action: str = Field(description="Create, Close or Acknowledge.")
    processedAt: str
    integrationId: str
    isSuccess: bool
    status: str = Field(description='"Created alert", "Alert does not exist", ...')
    alertId: str
    alias: str


class OpsgenieRequestStatus(BaseModel):
    data: OpsgenieRequest
    took: float
    requestId: str


_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": OpsgenieError, "description": "The body is not JSON."},
    401: {"model": OpsgenieError, "description": "No GenieKey, or no enabled integration has it."},
    403: {"model": OpsgenieError, "description": "A heartbeat integration's key."},
    422: {"model": OpsgenieError, "description": "A field to fix; `errors` names it."},
    503: {"model": OpsgenieError, "description": "Database unreachable; retry after Retry-After."},
}
_GENIE_KEY = {
    "name": "Authorization",
    "in": "header",
    "required": False,
    "description": "`GenieKey <integration key>` (an integration of kind opsgenie).",
    "schema": {"type": "string"},
}
_IDENTIFIER_TYPE = {
    "name": "identifierType",
    "in": "query",
    "required": False,
    "description": "What the identifier is: the alert's id (default) or its alias.",
    "schema": {"type": "string", "enum": ["id", "alias", "tiny"]},
}


def _body(schema: str, description: str, *, required: bool) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": required,
            "description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
    }


def _respond(answer: Answer) -> Response:
    return Response(
        answer.encode(), answer.status, headers=dict(answer.headers), media_type="application/json"
    )


@router.post(
    "/v2/alerts",
    status_code=202,
    response_model=None,
    responses={202: {"model": OpsgenieAccepted}, **_REFUSALS},
    openapi_extra={
        "parameters": [_GENIE_KEY],
        **_body("OpsgenieAlert", "An Opsgenie alert; `alias` deduplicates.", required=True),
    },
)
async def opsgenie_create(request: Request) -> Response:
    """Opsgenie's create alert: a repeat of an open alias only counts on its alert."""
    inbound = inbound_for(request.app)
    return _respond(
        await inbound.opsgenie(request.headers.get("authorization"), await request.body())
    )


def _action_route(action: str, summary: str) -> None:
    async def act(identifier: str, request: Request) -> Response:
        answer = await inbound_for(request.app).opsgenie(
            request.headers.get("authorization"),
            await request.body(),
            identifier,
            action,
            request.query_params.get("identifierType"),
        )
        return _respond(answer)

    router.post(
        f"/v2/alerts/{{identifier}}/{action}",
        status_code=202,
        response_model=None,
        name=f"opsgenie_{action}",
        summary=summary,
        responses={202: {"model": OpsgenieAccepted}, **_REFUSALS},
        openapi_extra={
            "parameters": [_GENIE_KEY, _IDENTIFIER_TYPE],
            **_body("OpsgenieAction", "Optional: who and why.", required=False),
        },
    )(act)


_action_route("close", "Close an Opsgenie alert (by id or alias)")
_action_route("acknowledge", "Acknowledge an Opsgenie alert (by id or alias)")


@router.get(
    "/v2/alerts/requests/{requestId}",
    response_model=None,
    responses={
        200: {"model": OpsgenieRequestStatus},
        401: _REFUSALS[401],
        403: _REFUSALS[403],
        404: {"model": OpsgenieError, "description": "No such request."},
        503: _REFUSALS[503],
    },
    openapi_extra={"parameters": [_GENIE_KEY]},
)
async def opsgenie_request_status(requestId: str, request: Request) -> Response:
    """What became of an earlier request: its action, alert id, alias and outcome."""
    inbound = inbound_for(request.app)
    return _respond(await inbound.opsgenie_status(request.headers.get("authorization"), requestId))
