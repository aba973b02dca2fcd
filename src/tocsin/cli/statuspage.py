"""``tocsin status ...``: the public status page, for the communications lead.

A client of ``/api/v1/statuspage`` (and of the public ``/api/v2/summary.json``), like
``tocsin incident``: short human output by default, the API's JSON with ``--json``,
exit code 1 for a refusal and 2 when the server cannot be reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tocsin.cli.incidents import api
from tocsin.cli.output import fail, format_time, get_console, print_json, say

__all__ = ["status_app"]

API = "/api/v1/statuspage"

status_app = typer.Typer(
    help="The public status page: incidents (and drafts), maintenance, current status.",
    no_args_is_help=True,
)
incident_app = typer.Typer(help="Public incidents and their updates.", no_args_is_help=True)
maintenance_app = typer.Typer(help="Scheduled maintenance.", no_args_is_help=True)
status_app.add_typer(incident_app, name="incident")
status_app.add_typer(maintenance_app, name="maintenance")

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the API's JSON instead of human output.")
]
IdArg = Annotated[str, typer.Argument(metavar="ID", help="Public id, e.g. 4k2x9q7m1abc.")]
ComponentOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--component",
        "-c",
        help="Affected component (repeatable); NAME, or NAME=STATE to set its state "
        "(operational, degraded_performance, partial_outage, major_outage, "
        "under_maintenance).",
    ),
]
StatusOpt = Annotated[
    str | None,
    typer.Option("--status", help="investigating, identified, monitoring or resolved."),
]
ImpactOpt = Annotated[str | None, typer.Option("--impact", help="none, minor, major or critical.")]
SilentOpt = Annotated[
    bool, typer.Option("--silent", help="Do not email subscribers about this update.")
]


def _path(kind: str, code: str, *rest: str) -> str:
    return "/".join([f"{API}/{kind}", quote(code.strip(), safe=""), *rest])


def _components(values: Sequence[str] | None) -> dict[str, str | None] | None:
    if not values:
        return None
    parsed: dict[str, str | None] = {}
    for value in values:
        name, sep, state = value.partition("=")
        if not name.strip():
            fail(f"--component {value!r}: give a component name")
        parsed[name.strip()] = state.strip() if sep else None
    return parsed


def _drop_none(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _headline(incident: Mapping[str, Any]) -> Text:
    draft = " (draft)" if incident.get("draft") else ""
    return Text.assemble(
        (str(incident["id"]), "bold"),
        f" {incident.get('status', '')}{draft}: ",
        str(incident.get("name", "")),
    )


def _incident_table(items: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("ID", "STATUS", "IMPACT", "NAME", "COMPONENTS", "INCIDENT", "UPDATED"):
        table.add_column(column, overflow="fold")
    for item in items:
        status = str(item.get("status", "")) + (" (draft)" if item.get("draft") else "")
        table.add_row(
            Text(str(item["id"])),
            Text(status),
            Text(str(item.get("impact", ""))),
            Text(str(item.get("name", ""))),
            Text(", ".join(item.get("components") or {}) or "—"),
            Text(str(item.get("incident_id") or "—")),
            Text(format_time(item.get("updated_at"))),
        )
    return table


# -- incidents ------------------------------------------------------------------------


@incident_app.command("create")
def create_incident(
    name: Annotated[str, typer.Argument(help="Public name, e.g. 'Checkout errors'.")],
    body: Annotated[
        str | None, typer.Option("--body", "-b", help="First update; default: the template.")
    ] = None,
    status: StatusOpt = None,
    impact: ImpactOpt = None,
    component: ComponentOpt = None,
    incident: Annotated[
        str | None, typer.Option("--incident", help="Internal incident it is about (INC-12).")
    ] = None,
    draft: Annotated[
        bool, typer.Option("--draft", help="Keep it off the page until published.")
    ] = False,
    silent: SilentOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Open a public incident on the status page."""
    payload = _drop_none(
        name=name,
        body=body,
        status=status,
        impact=impact,
        components=_components(component),
        incident_id=incident,
        draft=draft,
        deliver_notifications=not silent,
    )
    with api() as client:
        created = client.post(f"{API}/incidents", payload)
    if json_output:
        print_json(created)
        return
    say("Opened ", _headline(created))
    say(str(created.get("url", "")))


@incident_app.command("update")
def update_incident(
    code: IdArg,
    body: Annotated[
        str | None, typer.Argument(help="What customers should know; default: the template.")
    ] = None,
    status: StatusOpt = None,
    impact: ImpactOpt = None,
    component: ComponentOpt = None,
    silent: SilentOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Post an update (new status, impact, component states and/or text)."""
    payload = _drop_none(
        body=body,
        status=status,
        impact=impact,
        components=_components(component),
        deliver_notifications=not silent,
    )
    with api() as client:
        updated = client.post(_path("incidents", code, "updates"), payload)
    if json_output:
        print_json(updated)
        return
    say("Updated ", _headline(updated))


@incident_app.command("publish")
def publish_incident(code: IdArg, json_output: JsonOpt = False) -> None:
    """Publish a draft: put it on the page and email subscribers."""
    with api() as client:
        published = client.post(_path("incidents", code, "publish"))
    if json_output:
        print_json(published)
        return
    say("Published ", _headline(published))


@incident_app.command("list")
def list_incidents(
    drafts: Annotated[bool, typer.Option("--drafts", help="Only drafts.")] = False,
    published: Annotated[bool, typer.Option("--published", help="Only published.")] = False,
    unresolved: Annotated[bool, typer.Option("--unresolved", help="Only open ones.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N.")] = 50,
    json_output: JsonOpt = False,
) -> None:
    """List public incidents, newest first (drafts included unless --published)."""
    if drafts and published:
        fail("use either --drafts or --published, not both")
    params: list[tuple[str, str | int]] = [("limit", limit)]
    if drafts or published:
        params.append(("draft", "true" if drafts else "false"))
    if unresolved:
        params.append(("unresolved", "true"))
    with api() as client:
        page = client.get(f"{API}/incidents", params=params)
    if json_output:
        print_json(page)
        return
    items = page.get("items", [])
    if not items:
        say("No status-page incidents match.")
        return
    get_console().print(_incident_table(items))


@incident_app.command("show")
def show_incident(code: IdArg, json_output: JsonOpt = False) -> None:
    """Show a public incident with its updates."""
    with api() as client:
        incident = client.get(_path("incidents", code))
    if json_output:
        print_json(incident)
        return
    say(_headline(incident))
    say(f"Impact {incident.get('impact')}; components: ", _component_text(incident))
    for update in incident.get("updates", []):
        say(
            f"  {format_time(update.get('display_at'))} ",
            Text(str(update.get("status", "")), style="bold"),
            f" - {update.get('body', '')}",
        )


def _component_text(incident: Mapping[str, Any]) -> str:
    states = incident.get("components") or {}
    return ", ".join(f"{name} ({state})" for name, state in states.items()) or "none"


# -- maintenance ----------------------------------------------------------------------


@maintenance_app.command("create")
def create_maintenance(
    name: Annotated[str, typer.Argument(help="e.g. 'Database upgrade'.")],
    starts: Annotated[str, typer.Option("--from", help="Start (ISO-8601 with offset).")],
    ends: Annotated[str, typer.Option("--until", help="End (ISO-8601 with offset).")],
    body: Annotated[str, typer.Option("--body", "-b", help="What customers should expect.")],
    component: Annotated[
        list[str] | None, typer.Option("--component", "-c", help="Component (repeatable).")
    ] = None,
    manual: Annotated[
        bool, typer.Option("--manual", help="Do not start and complete with the clock.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Schedule maintenance (shown on the page; subscribers are emailed)."""
    payload = {
        "name": name,
        "body": body,
        "components": component or [],
        "scheduled_for": starts,
        "scheduled_until": ends,
        "auto_transition": not manual,
    }
    with api() as client:
        created = client.post(f"{API}/maintenances", payload)
    if json_output:
        print_json(created)
        return
    say("Scheduled ", Text(str(created["id"]), style="bold"), f": {created.get('name', '')}")


@maintenance_app.command("list")
def list_maintenances(json_output: JsonOpt = False) -> None:
    """List scheduled maintenance, latest first."""
    with api() as client:
        page = client.get(f"{API}/maintenances")
    if json_output:
        print_json(page)
        return
    items = page.get("items", [])
    if not items:
        say("No scheduled maintenance.")
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("ID", "STATUS", "NAME", "FROM", "UNTIL", "COMPONENTS"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(
            Text(str(item["id"])),
            Text(str(item.get("status", ""))),
            Text(str(item.get("name", ""))),
            Text(format_time(item.get("scheduled_for"))),
            Text(format_time(item.get("scheduled_until"))),
            Text(", ".join(item.get("components") or ()) or "—"),
        )
    get_console().print(table)


@maintenance_app.command("update")
def update_maintenance(
    code: IdArg,
    body: Annotated[str | None, typer.Argument(help="Update text.")] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="scheduled, in_progress, verifying or completed."),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Post an update on a maintenance, optionally changing its status."""
    if body is None and status is None:
        fail("give an update text and/or --status")
    with api() as client:
        updated = client.patch(_path("maintenances", code), _drop_none(body=body, status=status))
    if json_output:
        print_json(updated)
        return
    say("Updated ", Text(str(updated["id"]), style="bold"), f" {updated.get('status', '')}")


@maintenance_app.command("cancel")
def cancel_maintenance(code: IdArg) -> None:
    """Cancel a maintenance (it disappears from the page)."""
    with api() as client:
        client.delete(_path("maintenances", code))
    say("Cancelled ", Text(code, style="bold"))


# -- current status -------------------------------------------------------------------


@status_app.command("summary")
def summary(json_output: JsonOpt = False) -> None:
    """What the public page says now (its /api/v2/summary.json)."""
    with api() as client:
        data = client.get("/api/v2/summary.json")
    if json_output:
        print_json(data)
        return
    status = data.get("status") or {}
    say(Text(str(status.get("description", "")), style="bold"), f" ({status.get('indicator', '')})")
    for component in data.get("components", []):
        if not component.get("group"):
            say(f"  {component.get('name')}: {component.get('status')}")
    for incident in data.get("incidents", []):
        say("Incident ", _headline({**incident, "draft": False}))
