"""The OpenAPI document, made truthful enough to generate a client from.

Every refusal has one body, :class:`ErrorBody` (``detail``, and for a field that is
wrong, ``errors``), and every operation declares each status it can answer. Those are
not written route by route: they follow from what the route depends on, so a new
route gets them by using the shared dependencies:

- a dependency marked with :func:`answers` adds its statuses (the bearer token: 401;
  a role: 403; the database session: 503 with ``Retry-After``; an incident or
  post-mortem named in the path: 404);
- a path or query parameter names something that may not exist: 404;
- any parameter or body can be invalid: 422; a JSON body can be malformed: 400;
- a request with a body (POST, PUT, PATCH) passes :class:`~tocsin.web.limits.BodyGuard`
  first: 408 (too slow), 413 (too large), 415 (not JSON);
- a write with the database session may find the state does not allow it (409), or
  a value it was given unusable (422: the policy reload, for one, has no parameters).

What a route declares itself (``responses=``, e.g. PagerDuty's shapes on ``/v2/``) is
kept. The inbound alert bodies, which are parsed by hand, are described by
:mod:`tocsin.web.inbound_schemas`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel, Field

from tocsin.web.inbound_schemas import INBOUND_SCHEMAS

__all__ = ["ErrorBody", "FieldError", "answers", "install_openapi", "statuses_of"]

_Dependency = TypeVar("_Dependency", bound=Callable[..., Any])
_REF = "#/components/schemas/"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class FieldError(BaseModel):
    """One thing wrong with a request, and where."""

    field: str = Field(
        description="A dotted path into the body, or a parameter's name: "
        "`alerts[0].labels`, `tier`, `limit`; `body` for the body as a whole."
    )
    message: str = Field(description="What is wrong with it, and what would be right.")
    line: int | None = Field(
        default=None, description="For a policy refused: the line of the YAML file, if known."
    )


class ErrorBody(BaseModel):
    """The body of every refusal (4xx) and fault (5xx) of the API."""

    detail: str = Field(description="One sentence for a person: what went wrong.")
    errors: list[FieldError] = Field(
        default_factory=list,
        description="For invalid input: each field that is wrong (absent otherwise).",
    )


_ANSWERS: dict[Callable[..., Any], frozenset[int]] = {}


def answers(*statuses: int) -> Callable[[_Dependency], _Dependency]:
    """Mark a dependency as one that may answer ``statuses`` instead of the route; every
    route that uses it declares them."""

    def mark(dependency: _Dependency) -> _Dependency:
        _ANSWERS[dependency] = _ANSWERS.get(dependency, frozenset()) | frozenset(statuses)
        return dependency

    return mark


def _tree(dependant: Dependant) -> Iterator[Dependant]:
    """The route's own parameters, then every dependency's, depth first."""
    yield dependant
    for sub in dependant.dependencies:
        yield from _tree(sub)


def api_routes(app: FastAPI) -> Iterator[RouteContext]:
    """Every API route of ``app`` that the document shows, as mounted (with its
    router's prefix and dependencies)."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            yield route


def statuses_of(route: RouteContext) -> set[int]:
    """The error statuses ``route`` can answer, from its dependencies, parameters and
    method (see the module's docstring)."""
    statuses: set[int] = set()
    path = query = body = False
    for node in _tree(route.dependant):
        if node.call is not None:
            statuses |= _ANSWERS.get(node.call, frozenset())
        path |= bool(node.path_params)
        query |= bool(node.query_params or node.header_params or node.cookie_params)
        body |= bool(node.body_params)
    if path or query:
        statuses.add(404)
    if path or query or body:
        statuses.add(422)
    if body:
        statuses.add(400)
    methods = route.methods or set()
    if methods & _BODY_METHODS:
        statuses |= {408, 413, 415}
    if methods & _WRITE_METHODS and 503 in statuses:
        statuses |= {409, 422}
    return statuses


_DESCRIPTIONS = {
    400: "The body cannot be used (malformed JSON, or a value that makes no sense); "
    "`detail` says where.",
    401: "No bearer token, or one that is invalid or revoked.",
    403: "The token's role does not allow this.",
    404: "Nothing has this id, key or name.",
    408: "The request body did not arrive in time.",
    409: "The current state does not allow this (e.g. an incident already closed).",
    413: "The request body is larger than the server's limit.",
    415: "The body is not JSON: send `Content-Type: application/json`.",
    422: "A field or parameter is invalid; `errors` names each one.",
    503: "The database cannot take the request now, and nothing was changed: "
    "retry after `Retry-After` seconds.",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "`Bearer`: the scheme to authenticate with.",
            "schema": {"type": "string"},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    },
}


#: Slack and Twilio sign their requests instead of sending a token.
_SIGNATURES = {
    "SlackSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Slack-Signature",
        "description": "HMAC of the body with a Slack app's signing secret (with "
        "X-Slack-Request-Timestamp).",
    },
    "TwilioSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Twilio-Signature",
        "description": "HMAC of the URL and form with a Twilio channel's auth token.",
    },
}


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _DESCRIPTIONS.get(status, "Refused."),
        "content": {"application/json": {"schema": {"$ref": _REF + "ErrorBody"}}},
    }
    if status in _HEADERS:
        response["headers"] = _HEADERS[status]
    return response


def _is_fastapi_default(response: dict[str, Any]) -> bool:
    """FastAPI's own 422 (``detail`` as a list), which the API never answers."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == _REF + "HTTPValidationError")


def _add_models(components: dict[str, Any], *models: type[BaseModel]) -> None:
    for model in models:
        schema = model.model_json_schema(ref_template=_REF + "{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema


def _declare(responses: dict[str, Any], statuses: set[int]) -> None:
    """Add the error answers of ``statuses`` that ``responses`` lacks; a refusal a
    route declared without a body gets :class:`ErrorBody`'s."""
    for status in sorted(statuses):
        declared = responses.get(str(status))
        if declared is None or _is_fastapi_default(declared):
            responses[str(status)] = _error_response(status)
    for code, response in responses.items():
        if code[0] in "45" and "content" not in response:
            response["content"] = _error_response(int(code))["content"]


def document(app: FastAPI) -> dict[str, Any]:
    """The application's OpenAPI document, with every operation's error answers."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    _add_models(components, ErrorBody)
    components.update(INBOUND_SCHEMAS)
    schema["components"].setdefault("securitySchemes", {}).update(_SIGNATURES)
    for route in api_routes(app):
        statuses = statuses_of(route)
        for method in route.methods or ():
            operation = schema["paths"][route.path_format][method.lower()]
            _declare(operation.setdefault("responses", {}), statuses)
    if _REF + "HTTPValidationError" not in repr(schema["paths"]):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
    app.openapi_schema = schema
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`document` as ``/openapi.json`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        return document(app)

    app.openapi = openapi  # type: ignore[method-assign]
