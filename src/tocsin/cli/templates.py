"""``tocsin template list|render``: message templates, previewed through the REST API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tocsin.cli.incidents import API, IncidentArg, JsonOpt, api, incident_path
from tocsin.cli.output import get_console, print_json

__all__ = ["template_app"]

template_app = typer.Typer(
    help="Message templates from the policy (a client of the Tocsin REST API).",
    no_args_is_help=True,
)


@template_app.command("list")
def list_templates(json_output: JsonOpt = False) -> None:
    """Every template: the policy's, and the built-in ones it does not replace."""
    with api() as client:
        page = client.get(f"{API}/templates")
    if json_output:
        print_json(page)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("NAME", style="bold")
    table.add_column("DESCRIPTION", overflow="fold")
    for item in page.get("items", []):
        table.add_row(str(item["name"]), str(item.get("description") or ""))
    get_console().print(table)


@template_app.command("render")
def render(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Template name, e.g. update.")],
    incident_id: IncidentArg,
    html: Annotated[bool, typer.Option("--html", help="Also print the HTML body.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Show the message a template makes for an incident now; nothing is sent."""
    with api() as client:
        message = client.post(incident_path(incident_id, "preview"), {"template": name})
    if json_output:
        print_json(message)
        return
    console = get_console()
    console.print(Text.assemble(("Subject: ", "bold"), str(message.get("subject", ""))))
    console.print()
    console.print(Text(str(message.get("text", ""))))
    if html and message.get("html"):
        console.print()
        console.print(Text("HTML:", style="bold"))
        console.print(Text(str(message["html"])))
