"""The rules that keep the OpenAPI document truthful as routes are added: error answers
follow from what a route depends on, and no request field coerces a wrong JSON type."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ValidationError

from tocsin.web.app import create_app
from tocsin.web.context import AppContext
from tocsin.web.deps import CurrentIncident, Responder, SessionDep, Viewer
from tocsin.web.errors import install_error_handlers
from tocsin.web.openapi import answers, api_routes, install_openapi


@answers(429)
def _throttled() -> None:
    """A dependency of a new route that may refuse with 429."""


def _app_with_new_routes() -> FastAPI:
    router = APIRouter(prefix="/api/v1")

    @router.get("/things/{incident_id}/notes")
    def notes(_p: Viewer, incident: CurrentIncident, limit: int = 10) -> dict[str, str]:
        return {}

    @router.post("/things", dependencies=[Depends(_throttled)])
    def add(body: dict[str, str], session: SessionDep, _p: Responder) -> dict[str, str]:
        return {}

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    install_openapi(app)
    return app


def _statuses(document: dict[str, Any], path: str, method: str) -> set[str]:
    return set(document["paths"][path][method]["responses"])


def test_a_new_route_declares_what_its_dependencies_answer() -> None:
    document = _app_with_new_routes().openapi()
    assert _statuses(document, "/api/v1/things/{incident_id}/notes", "get") == {
        "200",
        "401",
        "403",
        "404",
        "422",
        "503",
    }
    added = _statuses(document, "/api/v1/things", "post")
    assert {"400", "401", "403", "408", "409", "413", "415", "422", "429", "503"} <= added
    assert "404" not in added  # nothing in its path or query names anything
    refusal = document["paths"]["/api/v1/things"]["post"]["responses"]["429"]
    assert refusal["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }


#: For each JSON type a field declares, values of other types that lenient parsing
#: would have taken.
WRONG: dict[str, list[Any]] = {
    "integer": [True, "2", 2.5],
    "boolean": [1, "true", 0],
    "number": [True, "1.5"],
    "date-time": [1767225600, "1767225600", "2026-01-05"],
    "date": [20260105, "2026-01-05T00:00:00Z"],
}


def _declared(schema: dict[str, Any]) -> set[str]:
    kinds = {schema.get("format") or schema.get("type")}
    for option in schema.get("anyOf", ()):
        kinds |= _declared(option)
    return {kind for kind in kinds if isinstance(kind, str)} & set(WRONG)


def _body_models(app: FastAPI) -> dict[str, type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {}
    for route in api_routes(app):
        for param in route.dependant.body_params:
            annotation = param.field_info.annotation
            for candidate in (annotation, *getattr(annotation, "__args__", ())):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    models[candidate.__name__] = candidate
    return models


def test_no_request_field_takes_a_wrong_json_type(app_context: AppContext) -> None:
    models = _body_models(create_app(app_context))
    assert {"EscalateRequest", "IncidentCreate", "StatusUpdateCreate"} <= set(models)
    checked = 0
    for name, model in models.items():
        properties = model.model_json_schema()["properties"]
        for field, schema in properties.items():
            for kind in _declared(schema):
                for value in WRONG[kind]:
                    with pytest.raises(ValidationError) as refused:
                        model.model_validate({field: value})
                    where = {error["loc"][0] for error in refused.value.errors()}
                    assert field in where, (name, field, value)
                    checked += 1
    assert checked >= 40  # tier, public, draft, started_at, scheduled_for, due_date, ...


def test_escalating_to_a_tier_takes_only_a_number(app_context: AppContext) -> None:
    models = _body_models(create_app(app_context))
    escalate = models["EscalateRequest"]
    assert escalate.model_validate({"tier": 2}).model_dump()["tier"] == 2
    assert escalate.model_validate({"tier": 2.0}).model_dump()["tier"] == 2


def test_no_route_needs_a_second_request_thread_to_answer(app_context: AppContext) -> None:
    """A plain ``def`` endpoint left to FastAPI would take a request thread again to
    validate its answer while its transaction still holds its locks (see
    :mod:`tocsin.web.routing`): every route's endpoint is a coroutine function."""
    app = create_app(app_context)
    routes = [
        c.original_route
        for c in iter_route_contexts(app.routes)
        if isinstance(c.original_route, APIRoute)
    ]
    assert len(routes) > 100  # the API's, the dashboard's and the status page's
    sync = [r.path for r in routes if not inspect.iscoroutinefunction(r.endpoint)]
    assert sync == []
