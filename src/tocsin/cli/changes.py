"""``tocsin change record`` and ``tocsin change list``: changes to services (deploys,
configuration updates, feature flags, migrations).

``record`` is made for CI pipelines: a client of ``POST /api/v1/changes`` whose token
(``TOCSIN_TOKEN``) may be a responder's API token or the key of a ``changes``
integration. ``list`` is a client of ``GET /api/v1/changes`` like ``tocsin alert
list``: human output by default, the API's JSON with ``--json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tocsin.cli.incidents import API, JsonOpt, api
from tocsin.cli.output import fail, format_time, get_console, print_json, say
from tocsin.policy import parse_duration

__all__ = ["change_app", "register"]

change_app = typer.Typer(
    help="Changes to services (deploys, configuration updates, feature flags, migrations): "
    "recorded from CI, GitHub or PagerDuty change events, shown on incidents.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``change`` to the ``tocsin`` command."""
    app.add_typer(change_app, name="change")


def since_param(value: str) -> str:
    """``--since``: a duration back from now (``2h``, ``1d``) or an ISO-8601 time."""
    try:
        back = parse_duration(value)
    except (ValueError, OverflowError):
        return value  # a time: the server checks it and names what is wrong
    try:
        return (datetime.now(UTC) - back).isoformat()
    except OverflowError:
        fail(f"--since {value} reaches before any date")


@change_app.command("record")
def change_record(
    service: Annotated[str, typer.Argument(help="The service that changed.")],
    summary: Annotated[str, typer.Argument(help='What changed, e.g. "Deploy 1.4.2".')],
    link: Annotated[
        list[str] | None,
        typer.Option("--link", help="A link to the change: build, diff, release (repeatable)."),
    ] = None,
    kind: Annotated[
        str, typer.Option("--kind", help="deploy, config, feature_flag, migration or other.")
    ] = "deploy",
    source: Annotated[
        str | None, typer.Option("--source", help="Where it comes from (e.g. ci).")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="When it happened (ISO 8601); default: now."),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Record a change to SERVICE (for CI pipelines: TOCSIN_TOKEN may be a changes
    integration's key)."""
    body: dict[str, Any] = {
        "service": service,
        "summary": summary,
        "kind": kind,
        "links": [{"href": href, "text": ""} for href in link or []],
    }
    if source:
        body["source"] = source
    if at:
        body["timestamp"] = at
    with api() as client:
        change = client.post(f"{API}/changes", body)
    if json_output:
        print_json(change)
        return
    say(f"Recorded change {change['id']} to {change['service']}: {change['summary']}")


@change_app.command("list")
def change_list(
    service: Annotated[str | None, typer.Option("--service", help="Only this service.")] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only changes since: a duration back (2h, 1d) or a time."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many.")] = 0,
    json_output: JsonOpt = False,
) -> None:
    """List changes, the most recent first."""
    params: list[tuple[str, str | int]] = [("limit", limit)]
    if service:
        params.append(("service", service))
    if since:
        params.append(("since", since_param(since)))
    if offset:
        params.append(("offset", offset))
    with api() as client:
        page = client.get(f"{API}/changes", params=params)
    if json_output:
        print_json(page)
        return
    items: Sequence[Mapping[str, Any]] = page.get("items", [])
    if not items:
        say("No changes match.")
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("WHEN", "SERVICE", "SUMMARY", "SOURCE", "LINK"):
        table.add_column(column, overflow="fold")
    for item in items:
        links: Sequence[Mapping[str, str]] = item.get("links") or []
        table.add_row(
            Text(format_time(item.get("timestamp"))),
            Text(str(item["service"])),
            Text(str(item["summary"])),
            Text(str(item.get("source") or "—")),
            Text(links[0]["href"] if links else "—"),
        )
    console = get_console()
    console.print(table)
    total = int(page.get("total", len(items)))
    if total > offset + len(items):
        end = offset + len(items)
        console.print(
            f"Showing {offset + 1}-{end} of {total} changes; --offset {end} shows the next ones."
        )
