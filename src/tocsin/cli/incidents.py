"""``tocsin incident ...``: declare and run incidents through the REST API.

Every command prints a short human answer by default and the API's JSON with
``--json``. A refusal from the server (unknown incident, illegal transition, invalid
field, missing permission) is printed on stderr with exit code 1; a server that cannot
be reached gives exit code 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.text import Text

from tocsin.cli.client import (
    CLI_RETRY,
    ApiClient,
    ApiError,
    ApiUnreachable,
    ClientError,
    load_client_config,
)
from tocsin.cli.output import (
    fail,
    print_incident_detail,
    print_incidents,
    print_json,
    say,
    severity_text,
    status_text,
)
from tocsin.cli.times import FORMS, parse_instant

__all__ = ["incident_app"]

API = "/api/v1"

incident_app = typer.Typer(
    help="Declare, inspect and run incidents (a client of the Tocsin REST API; "
    "set TOCSIN_URL / TOCSIN_TOKEN or run `tocsin init`).",
    no_args_is_help=True,
)

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the API's JSON instead of human output.")
]
IncidentArg = Annotated[
    str, typer.Argument(metavar="INCIDENT", help="Incident id: INC-1, inc-1 or 1.")
]
MessageArg = Annotated[str | None, typer.Argument(metavar="[MESSAGE]", help="Note to record.")]
PublicOpt = Annotated[
    bool, typer.Option("--public", help="Also publish the message on the status page.")
]


# -- plumbing -------------------------------------------------------------------------


def describe_error(exc: ApiError) -> str:
    """The server's ``detail``, plus field errors it does not already mention."""
    message = exc.detail
    if exc.status_code == 401:
        message += " (set TOCSIN_TOKEN, or run `tocsin init` to write .tocsin/credentials.json)"
    elif exc.status_code == 403 and "permission" not in message.lower():
        message = f"permission denied: {message}"
    for error in exc.errors:
        text = str(error.get("message", ""))
        if text and text not in message:
            field = error.get("field")
            message += f"\n  {field}: {text}" if field else f"\n  {text}"
    return message


@contextmanager
def api() -> Iterator[ApiClient]:
    """An API client for one command; client errors become messages and exit codes."""
    try:
        with ApiClient(load_client_config(), retry=CLI_RETRY) as client:
            yield client
    except ApiUnreachable as exc:
        fail(str(exc), code=2)
    except ApiError as exc:
        fail(describe_error(exc))
    except ClientError as exc:
        fail(str(exc))


def incident_path(incident_id: str, *rest: str) -> str:
    return "/".join([f"{API}/incidents", quote(incident_id.strip(), safe=""), *rest])


def current_actor(client: ApiClient) -> str | None:
    """Who the token acts as, for confirmation lines; ``None`` if it cannot be told."""
    try:
        me = client.get(f"{API}/me")
    except ClientError:
        return None
    name = me.get("person") or me.get("name")
    return str(name) if name else None


def confirm(client: ApiClient, incident: dict[str, Any], verb: str) -> None:
    """``INC-1 acknowledged by alice``."""
    actor = current_actor(client)
    say(Text(str(incident["id"]), style="bold"), f" {verb}", f" by {actor}" if actor else "")


def _without_none(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


# -- commands -------------------------------------------------------------------------


@incident_app.command()
def declare(
    title: Annotated[str, typer.Argument(help="Short title, e.g. 'Checkout API 5xx'.")],
    severity: Annotated[
        str, typer.Option("--severity", "-s", help="Severity name or alias (sev2, P1, high).")
    ],
    service: Annotated[
        list[str] | None, typer.Option("--service", help="Affected service (repeatable).")
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", "-d", help="What is known so far.")
    ] = None,
    started_at: Annotated[
        str | None, typer.Option("--started-at", help="When impact began (ISO-8601).")
    ] = None,
    drill: Annotated[
        bool,
        typer.Option(
            "--drill",
            help="A rehearsal: never on the status page, never to stakeholders or outside "
            "systems, in no metric; pages only --responder people (or the on-call with "
            "--page-oncall), every message marked [DRILL].",
        ),
    ] = False,
    responder: Annotated[
        list[str] | None,
        typer.Option("--responder", help="With --drill: a person it pages (repeatable)."),
    ] = None,
    page_oncall: Annotated[
        bool, typer.Option("--page-oncall", help="With --drill: page the normal on-call.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Declare a new incident (or, with --drill, a drill)."""
    if (responder or page_oncall) and not drill:
        fail("--responder and --page-oncall are for drills: add --drill")
    body = _without_none(
        title=title,
        severity=severity,
        services=service,
        description=description,
        started_at=started_at,
    )
    if drill:
        body |= {
            "drill": True,
            "drill_responders": responder or [],
            "drill_pages_oncall": page_oncall,
        }
    with api() as client:
        incident = client.post(f"{API}/incidents", body)
    if json_output:
        print_json(incident)
        return
    services = ", ".join(incident.get("services") or ())
    say(
        "Declared ",
        "a drill, " if incident.get("drill") else "",
        Text(str(incident["id"]), style="bold"),
        " (",
        severity_text(incident),
        "): ",
        str(incident.get("title", "")),
        f" — {services}" if services else "",
    )


@incident_app.command("list")
def list_incidents(
    status: Annotated[
        list[str] | None,
        typer.Option("--status", help="Only this status (repeatable); 'active' = open ones."),
    ] = None,
    severity: Annotated[
        str | None, typer.Option("--severity", "-s", help="Only this severity (or alias).")
    ] = None,
    service: Annotated[
        str | None, typer.Option("--service", help="Only incidents affecting this service.")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", "-a", help="Include resolved and closed incidents.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N incidents.")] = 50,
    json_output: JsonOpt = False,
) -> None:
    """List incidents, most recent first (active ones unless --all or --status)."""
    if all_ and status:
        fail("use either --all or --status, not both")
    statuses = status or ([] if all_ else ["active"])
    params: list[tuple[str, str | int]] = [("status", s) for s in statuses]
    params += [(k, v) for k, v in (("severity", severity), ("service", service)) if v]
    params.append(("limit", limit))
    with api() as client:
        page = client.get(f"{API}/incidents", params=params)
    if json_output:
        print_json(page)
        return
    items = page.get("items", [])
    filtered = bool(status or severity or service)
    empty = "No incidents match." if filtered or all_ else "No active incidents."
    print_incidents(items, int(page.get("total", len(items))), empty=empty)


@incident_app.command()
def show(incident_id: IncidentArg, json_output: JsonOpt = False) -> None:
    """Show an incident with its timeline, status updates, root-cause hints, the
    incidents it is linked to and the recent changes to its services."""
    from tocsin.cli.hints import print_overview  # the hint commands import this module

    with api() as client:
        incident = client.get(incident_path(incident_id))
        path_id = str(incident["id"])
        timeline = client.get(incident_path(path_id, "timeline")).get("items", [])
        updates = client.get(incident_path(path_id, "updates")).get("items", [])
        overview = client.get(incident_path(path_id, "hints"))
    if json_output:
        print_json({**incident, "timeline": timeline, "updates": updates, **overview})
        return
    print_incident_detail(incident, timeline, updates)
    print_overview(overview)


@incident_app.command("ack")
def acknowledge(
    incident_id: IncidentArg,
    with_: Annotated[
        list[str] | None,
        typer.Option("--with", help="Someone acknowledging together with you (repeatable)."),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Acknowledge an incident (stops escalation), alone or as a pair with --with."""
    body = {"on_behalf_of": with_} if with_ else None
    with api() as client:
        incident = client.post(incident_path(incident_id, "acknowledge"), body)
        if not json_output:
            together = f" together with {', '.join(with_)}" if with_ else ""
            confirm(client, incident, "acknowledged" + together)
    if json_output:
        print_json(incident)


@incident_app.command()
def update(
    incident_id: IncidentArg,
    message: Annotated[str, typer.Argument(help="What is known and what is being done.")],
    status: Annotated[
        str | None,
        typer.Option("--status", help="New status (investigating, identified, monitoring...)."),
    ] = None,
    public: PublicOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Post a status update, optionally moving the incident to a new status."""
    body = _without_none(status=status, message=message, public=public)
    with api() as client:
        posted = client.post(incident_path(incident_id, "updates"), body)
    if json_output:
        print_json(posted)
        return
    audience = "public" if posted.get("public") else "internal"
    say(
        Text(str(posted.get("incident_id", incident_id)), style="bold"),
        f" {audience} update posted by {posted.get('actor', '?')}; status ",
        status_text(str(posted.get("status", ""))),
    )


@incident_app.command()
def assign(
    incident_id: IncidentArg,
    names: Annotated[
        list[str] | None, typer.Argument(metavar="[PERSON]...", help="Person name(s).")
    ] = None,
    role: Annotated[
        str, typer.Option("--role", "-r", help="Role: commander, sme, scribe, ...")
    ] = "commander",
    clear: Annotated[bool, typer.Option("--clear", help="Remove everyone from the role.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Assign people to an incident role (several names for roles that take several)."""
    if clear == bool(names):
        fail("give the person name(s) to assign, or --clear (not both)")
    value: str | list[str] | None = None
    if names:
        value = names[0] if len(names) == 1 else names
    with api() as client:
        incident = client.patch(incident_path(incident_id), {"roles": {role: value}})
    if json_output:
        print_json(incident)
        return
    holders = ", ".join((incident.get("roles") or {}).get(role) or ())
    say(
        Text(str(incident["id"]), style="bold"),
        f" {role}: {holders}" if holders else f" {role} cleared",
    )


@incident_app.command("severity")
def change_severity(
    incident_id: IncidentArg,
    severity: Annotated[str, typer.Argument(help="New severity name or alias (sev1, P0...).")],
    json_output: JsonOpt = False,
) -> None:
    """Change an incident's severity."""
    with api() as client:
        incident = client.patch(incident_path(incident_id), {"severity": severity})
    if json_output:
        print_json(incident)
        return
    say(Text(str(incident["id"]), style="bold"), " is now ", severity_text(incident))


def _transition(
    incident_id: str, action: str, verb: str, body: dict[str, Any], json_output: bool
) -> None:
    with api() as client:
        incident = client.post(incident_path(incident_id, action), body)
        if not json_output:
            confirm(client, incident, verb)
    if json_output:
        print_json(incident)


@incident_app.command()
def resolve(
    incident_id: IncidentArg,
    message: MessageArg = None,
    public: PublicOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Resolve an incident (impact is over)."""
    body = _without_none(message=message, public=public)
    _transition(incident_id, "resolve", "resolved", body, json_output)


@incident_app.command()
def close(
    incident_id: IncidentArg, message: MessageArg = None, json_output: JsonOpt = False
) -> None:
    """Close a resolved incident (no further work expected)."""
    _transition(incident_id, "close", "closed", _without_none(message=message), json_output)


@incident_app.command()
def reopen(
    incident_id: IncidentArg, message: MessageArg = None, json_output: JsonOpt = False
) -> None:
    """Reopen a resolved incident (back to triggered)."""
    _transition(incident_id, "reopen", "reopened", _without_none(message=message), json_output)


def _instant_option(help_text: str) -> Any:
    return typer.Option(help=f"{help_text} ({FORMS}).")


@incident_app.command()
def correct(
    incident_id: IncidentArg,
    reason: Annotated[
        str, typer.Option("--reason", help="Why the times are wrong (kept on the timeline).")
    ],
    started_at: Annotated[str | None, _instant_option("When impact really began")] = None,
    detected_at: Annotated[str | None, _instant_option("When it was really noticed")] = None,
    acknowledged_at: Annotated[
        str | None, _instant_option("When it was really acknowledged")
    ] = None,
    mitigated_at: Annotated[str | None, _instant_option("When it was really mitigated")] = None,
    resolved_at: Annotated[str | None, _instant_option("When it was really resolved")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Correct an incident's recorded times, with a reason; the metrics follow."""
    given = {
        "started_at": started_at,
        "detected_at": detected_at,
        "acknowledged_at": acknowledged_at,
        "mitigated_at": mitigated_at,
        "resolved_at": resolved_at,
    }
    now = datetime.now(UTC)
    times: dict[str, Any] = {}
    for name, text in given.items():
        if text is None:
            continue
        try:
            times[name] = parse_instant(text, now).isoformat()
        except ValueError as exc:
            fail(f"--{name.replace('_', '-')}: {exc}")
    if not times:
        fail("name at least one time to correct, e.g. --started-at '2026-03-05 10:00'")
    with api() as client:
        incident = client.patch(incident_path(incident_id), {**times, "reason": reason})
        if not json_output:
            confirm(client, incident, "corrected (" + ", ".join(times) + ")")
    if json_output:
        print_json(incident)
