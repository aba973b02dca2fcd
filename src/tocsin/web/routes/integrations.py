"""Inbound alerts and the integrations that own their keys.

Inbound (no bearer token: the integration key is the credential)::

    POST /api/v1/integrations/{key}/alertmanager   Prometheus Alertmanager webhook
    POST /api/v1/integrations/{key}/grafana        Grafana unified alerting webhook
    POST /api/v1/integrations/{key}/events         Tocsin's generic JSON
    POST /v2/enqueue                               PagerDuty Events API v2 (routing_key)
    POST /v2/change/enqueue                        PagerDuty change events (routing_key)
    POST /api/v1/heartbeats/{key}                  a heartbeat integration's ping

Each answers 202 only once the alerts are committed (see
:mod:`tocsin.web.groupcommit`), 400 naming the field for a body it cannot use, 404
for a key no enabled integration has (the same answer for a key that never existed
and for a disabled one), and 503 with ``Retry-After`` when the database cannot be
reached — Alertmanager and PagerDuty clients retry then. ``/v2/*`` answers with
PagerDuty's own statuses and shapes (an unknown key is a 400 there, see
:mod:`tocsin.web.inbound_pagerduty`), so that PagerDuty's clients work unchanged.
Any alert integration's key works on any of the alert endpoints; a ``heartbeat``
integration takes pings only.

The handlers live in :mod:`tocsin.web.inbound`, whose lane serves them ahead of the
router (see why there); the routes here declare the same endpoints for the OpenAPI
document, and serve them for an application without the lane.

The key is a secret in the URL: every log masks it (:mod:`tocsin.web.redaction`).

Management (bearer token): ``POST /api/v1/integrations`` (admin) shows the new key
once; ``GET /api/v1/integrations`` never shows it; ``DELETE /api/v1/integrations/{id}``
disables one (its alerts stay).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from tocsin.alerts import service as alerts
from tocsin.alerts.models import INTEGRATION_KINDS, IntegrationCreated, IntegrationRead
from tocsin.errors import NotFound
from tocsin.schemas import OneOf, PlainText, padded
from tocsin.web.deps import Admin, CurrentPolicy, NowClock, SessionDep, Viewer
from tocsin.web.fields import RequestDuration
from tocsin.web.inbound import Answer, inbound_for
from tocsin.web.openapi import ErrorBody
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

router = APIRouter(route_class=RequestThreadRoute, tags=["integrations"])

# -- response schemas (for the OpenAPI document; the handlers render them directly) ------


class AcceptedAlert(BaseModel):
    id: int | None = Field(description="The stored alert (null: an ack for an unknown alert).")
    dedup_key: str
    outcome: str = Field(description="What became of it: deduplicated, opened, silenced, ...")
    incident: str | None = Field(description="INC-n it is attached to, if any.")


class AlertsAccepted(BaseModel):
    status: str = "success"
    accepted: int
    alerts: list[AcceptedAlert]


class PingAccepted(BaseModel):
    status: str = "success"
    integration: str
    next_due_at: str = Field(description="A ping missing by then opens an incident.")


class PagerDutyAnswer(BaseModel):
    status: str
    message: str
    dedup_key: str | None = None
    errors: list[str] | None = None


class PagerDutyChangeAccepted(BaseModel):
    status: str = "success"
    message: str = "Change event processed"
    id: str = Field(description="The stored change.")


_INBOUND_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": AlertsAccepted, "description": "Stored (committed) and acted upon."},
    400: {"model": ErrorBody, "description": "The body cannot be used; names the field."},
    404: {"model": ErrorBody, "description": "No enabled integration has this key."},
    422: {"model": ErrorBody, "description": "A heartbeat key sent alerts (or the reverse)."},
    503: {"model": ErrorBody, "description": "Database unreachable; retry after Retry-After."},
}


def _json_body(schema: str, description: str) -> dict[str, Any]:
    """The request body of an inbound endpoint (its schema is one of
    :data:`tocsin.web.inbound_schemas.INBOUND_SCHEMAS`)."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
    }


# -- the inbound endpoints as routes: the OpenAPI document, and an app without the lane ---


def _respond(answer: Answer) -> Response:
    return Response(
        answer.encode(), answer.status, headers=dict(answer.headers), media_type="application/json"
    )


@router.post(
    "/api/v1/integrations/{key}/alertmanager",
    status_code=202,
    response_model=None,
    responses=_INBOUND_RESPONSES,
    openapi_extra=_json_body("AlertmanagerWebhook", "Alertmanager's webhook body (version 4)."),
)
async def alertmanager_webhook(key: str, request: Request) -> Response:
    """Prometheus Alertmanager's webhook receiver (``webhook_configs[].url``)."""
    return _respond(
        await inbound_for(request.app).alerts("alertmanager", key, await request.body())
    )


@router.post(
    "/api/v1/integrations/{key}/grafana",
    status_code=202,
    response_model=None,
    responses=_INBOUND_RESPONSES,
    openapi_extra=_json_body(
        "GrafanaWebhook", "Grafana unified alerting's webhook contact point body."
    ),
)
async def grafana_webhook(key: str, request: Request) -> Response:
    """Grafana unified alerting's webhook contact point."""
    return _respond(await inbound_for(request.app).alerts("grafana", key, await request.body()))


@router.post(
    "/api/v1/integrations/{key}/events",
    status_code=202,
    response_model=None,
    responses=_INBOUND_RESPONSES,
    openapi_extra=_json_body(
        "GenericAlerts",
        "One alert {title, severity, dedup_key, labels, annotations, status, "
        "source_url}, or several under 'alerts'.",
    ),
)
async def generic_events(key: str, request: Request) -> Response:
    """Tocsin's generic JSON, for scripts and tools without a richer format."""
    return _respond(await inbound_for(request.app).alerts("events", key, await request.body()))


_PAGERDUTY_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {
        "model": PagerDutyAnswer,
        "description": 'PagerDuty\'s "invalid event": a body that is not JSON or is larger '
        "than 512 KiB, a missing or wrong field, or a routing key no enabled integration has.",
    },
    429: {
        "model": PagerDutyAnswer,
        "description": "The routing key sent more events than the policy's rate limit allows.",
    },
    503: {"model": PagerDutyAnswer, "description": "Database unreachable; retry later."},
}


@router.post(
    "/v2/enqueue",
    status_code=202,
    response_model=None,
    responses={202: {"model": PagerDutyAnswer}, **_PAGERDUTY_RESPONSES},
    openapi_extra=_json_body(
        "PagerDutyEvent", "A PagerDuty Events API v2 event; routing_key = the key."
    ),
    tags=["pagerduty"],
)
async def pagerduty_enqueue(request: Request) -> Response:
    """PagerDuty Events API v2, wire-compatible: trigger, acknowledge, resolve. Each
    ``dedup_key`` is one alert (and, unless a route groups them, one incident)."""
    return _respond(await inbound_for(request.app).pagerduty(await request.body()))


@router.post(
    "/v2/change/enqueue",
    status_code=202,
    response_model=None,
    responses={202: {"model": PagerDutyChangeAccepted}, **_PAGERDUTY_RESPONSES},
    openapi_extra=_json_body(
        "PagerDutyChangeEvent",
        "A PagerDuty change event {routing_key, payload: {summary, source, timestamp, "
        "custom_details}, links}.",
    ),
    tags=["pagerduty"],
)
async def pagerduty_change(request: Request) -> Response:
    """PagerDuty change events: a change (a deploy, say) stored on the service of the
    routing key's integration; listed by ``GET /api/v1/changes``."""
    return _respond(await inbound_for(request.app).pagerduty_change(await request.body()))


@router.post(
    "/api/v1/heartbeats/{key}",
    status_code=202,
    response_model=None,
    responses={**_INBOUND_RESPONSES, 202: {"model": PingAccepted}},
    openapi_extra={
        "requestBody": {
            "required": False,
            "description": "Ignored: any JSON, or none.",
            "content": {"application/json": {"schema": {}}},
        }
    },
)
async def heartbeat_ping(key: str, request: Request) -> Response:
    """A ping to a ``heartbeat`` integration; any body is ignored."""
    return _respond(await inbound_for(request.app).ping(key))


# -- management --------------------------------------------------------------------------


class IntegrationCreate(BaseModel):
    """The body of ``POST /api/v1/integrations``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: PlainText = Field(
        max_length=100,
        pattern=padded("^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"),
        description="Unique, e.g. 'checkout-prometheus': letters, digits, '.', '_', '-'.",
    )
    service: PlainText = Field(max_length=100, description="A service of the policy.")
    kind: Annotated[str, OneOf(INTEGRATION_KINDS, "kind")] = Field(
        description=f"One of {', '.join(INTEGRATION_KINDS)}."
    )
    heartbeat_interval: RequestDuration | None = Field(
        default=None, description="Heartbeat integrations: a ping is expected this often."
    )


class IntegrationList(BaseModel):
    items: list[IntegrationRead]


@router.post("/api/v1/integrations", status_code=201, tags=["integrations"])
def create_integration(
    body: IntegrationCreate,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    _principal: Admin,
) -> IntegrationCreated:
    """Create an integration; the answer carries its key, which is never shown again."""
    integration, key = alerts.create_integration(
        session=session,
        policy=policy,
        name=body.name,
        service=body.service,
        kind=body.kind,
        now=clock.now(),
        heartbeat_interval=body.heartbeat_interval,
    )
    return alerts.integration_created(integration, key)


@router.get("/api/v1/integrations")
def list_integrations(session: SessionDep, _principal: Viewer) -> IntegrationList:
    """Every integration, disabled ones too (never their keys)."""
    return IntegrationList(
        items=[alerts.integration_to_read(i) for i in alerts.list_integrations(session=session)]
    )


@router.delete("/api/v1/integrations/{integration}")
def disable_integration(
    integration: str, session: SessionDep, clock: NowClock, _principal: Admin
) -> IntegrationRead:
    """Disable an integration (by id or name): its key is refused from now on."""
    name = next(
        (
            i.name
            for i in alerts.list_integrations(session=session)
            if integration in (str(i.id), i.name)
        ),
        None,
    )
    if name is None:
        raise NotFound(f"integration {integration!r} not found")
    disabled = alerts.disable_integration(session=session, name=name, now=clock.now())
    return alerts.integration_to_read(disabled)
