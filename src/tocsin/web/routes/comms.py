"""Message templates: list them, and preview one for an incident before sending it."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tocsin.engine.comms import render_for_incident, template_names
from tocsin.errors import InvalidInput
from tocsin.incidents import service
from tocsin.templating import TemplateError, message_extras
from tocsin.web.deps import CurrentIncident, CurrentPolicy, NowClock, SessionDep, Viewer
from tocsin.web.routing import RequestThreadRoute

router = APIRouter(route_class=RequestThreadRoute, prefix="/api/v1", tags=["templates"])


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    template: str = Field(min_length=1, max_length=100, description="A template's name.")


class PreviewRead(BaseModel):
    template: str
    incident_id: str
    subject: str
    text: str
    html: str | None


class TemplateInfo(BaseModel):
    name: str
    description: str


class TemplateList(BaseModel):
    items: list[TemplateInfo]


@router.get("/templates")
def list_templates(policy: CurrentPolicy, _principal: Viewer) -> TemplateList:
    """Every message template: the policy's, and the built-in ones it does not replace."""
    return TemplateList(
        items=[TemplateInfo(name=n, description=d) for n, d in template_names(policy).items()]
    )


@router.post("/incidents/{incident_id}/preview")
def preview(
    body: PreviewRequest,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    _principal: Viewer,
    incident: CurrentIncident,
) -> PreviewRead:
    """The message a template makes for this incident now; nothing is sent. A template
    that fails answers 422 naming the template and the line."""
    try:
        message = render_for_incident(
            session=session,
            policy=policy,
            incident=incident,
            template=body.template,
            now=clock.now(),
            extra=message_extras(kind="preview", reason="preview"),
        )
    except TemplateError as exc:
        raise InvalidInput("template", str(exc)) from None
    return PreviewRead(
        template=message.template,
        incident_id=service.to_read(incident).id,
        subject=message.subject,
        text=message.text,
        html=message.html,
    )
