"""Inbound alerts and the integrations that own their keys.

Inbound (no bearer token: the integration key is the credential)::

    POST /api/v1/integrations/{key}/alertmanager   Prometheus Alertmanager webhook
    POST /api/v1/integrations/{key}/grafana        Grafana unified alerting webhook
    POST /api/v1/integrations/{key}/events         Tocsin's generic JSON
    POST /v2/enqueue                               PagerDuty Events API v2 (routing_key)
    POST /api/v1/heartbeats/{key}                  a heartbeat integration's ping

Each answers 202 only once the alerts are committed (see
:mod:`tocsin.web.groupcommit`), 400 naming the field for a body it cannot use, 404
for a key no enabled integration has (the same answer for a key that never existed
and for a disabled one), and 503 with ``Retry-After`` when the database cannot be
reached — Alertmanager and PagerDuty clients retry then. ``/v2/enqueue`` answers in
PagerDuty's own shapes, so that PagerDuty's clients and libraries work unchanged.
Any alert integration's key works on any of the alert endpoints; a ``heartbeat``
integration takes pings only.

The handlers live in :mod:`tocsin.web.inbound`, whose lane serves them ahead of the
router (see why there); the routes here declare the same endpoints for the OpenAPI
document, and serve them for an application without the lane.

The key is a secret in the URL, so it is cut from uvicorn's access log by extending
the on-call routes' :class:`~tocsin.web.routes.oncall.RedactTokenFilter`.

Management (bearer token): ``POST /api/v1/integrations`` (admin) shows the new key
once; ``GET /api/v1/integrations`` never shows it; ``DELETE /api/v1/integrations/{id}``
disables one (its alerts stay).
"""

from __future__ import annotations

import logging
import re
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
from tocsin.web.routes.oncall import RedactTokenFilter

__all__ = ["RedactSecretsFilter", "router"]

router = APIRouter(tags=["integrations"])

# -- keeping the key out of the access log ----------------------------------------------

#: A key in an inbound path; ``/api/v1/integrations/{id or name}`` (no further
#: segment) is the management API's and stays readable.
_KEY_IN_PATH = re.compile(r"(/api/v1/integrations/)[^/?\s\"]+(?=/)|(/api/v1/heartbeats/)[^/?\s\"]+")


def _redact(text: str) -> str:
    if "/api/v1/" in text:
        text = _KEY_IN_PATH.sub(lambda match: f"{match[1] or match[2]}***", text)
    return text


class RedactSecretsFilter(RedactTokenFilter):
    """The calendar-token filter, extended to integration keys in inbound paths
    (``/api/v1/integrations/***/alertmanager``, ``/api/v1/heartbeats/***``).

    It replaces the plain token filter on uvicorn's access logger (it does all that
    one does), so each request's log line is scanned once per filter, not twice."""

    def filter(self, record: logging.LogRecord) -> bool:
        super().filter(record)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _redact(record.msg)
        return True


def _install_redaction() -> None:
    access = logging.getLogger("uvicorn.access")
    for installed in list(access.filters):
        if type(installed) is RedactTokenFilter:
            access.removeFilter(installed)
    if not any(isinstance(f, RedactSecretsFilter) for f in access.filters):
        access.addFilter(RedactSecretsFilter())


_install_redaction()


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


@router.post(
    "/v2/enqueue",
    status_code=202,
    response_model=None,
    responses={
        202: {"model": PagerDutyAnswer},
        400: {"model": PagerDutyAnswer},
        404: {"model": PagerDutyAnswer},
        503: {"model": PagerDutyAnswer},
    },
    openapi_extra=_json_body(
        "PagerDutyEvent", "A PagerDuty Events API v2 event; routing_key = the key."
    ),
    tags=["pagerduty"],
)
async def pagerduty_enqueue(request: Request) -> Response:
    """PagerDuty Events API v2, wire-compatible: trigger, acknowledge, resolve."""
    return _respond(await inbound_for(request.app).pagerduty(await request.body()))


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
