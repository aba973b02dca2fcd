"""``tocsin actions sync-jira [POSTMORTEM]``: push action items to Jira and pull their
status back (a client of ``POST /api/v1/action-items/jira-sync``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer
from rich import box
from rich.table import Table

from tocsin.cli.incidents import API, JsonOpt, api
from tocsin.cli.output import NONE, fail, get_console, print_json, say
from tocsin.cli.postmortems import actions_app

__all__ = ["sync_jira"]


@actions_app.command("sync-jira")
def sync_jira(
    ref: Annotated[
        str | None,
        typer.Argument(
            metavar="[POSTMORTEM]", help="PM-3 (or 3), or the incident: INC-7; default: all."
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Push open action items to Jira (one issue each); complete those Jira has done."""
    path = f"{API}/action-items/jira-sync"
    if ref:
        path += f"?postmortem={quote(ref.strip(), safe='')}"
    with api() as client:
        report = client.post(path)
    items = report.get("items", [])
    if json_output:
        print_json(report)
    elif not items:
        say("No action items to sync with Jira.")
    else:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in ("ID", "JIRA", "STATUS IN JIRA", "OUTCOME"):
            table.add_column(column, overflow="fold")
        for item in items:
            outcome = item["outcome"] + (f": {item['error']}" if item.get("error") else "")
            table.add_row(
                str(item["item"]), item.get("key") or NONE, item.get("jira_status") or NONE, outcome
            )
        get_console().print(table)
    failed = [i for i in items if i["outcome"] == "failed"]
    if failed:
        fail(f"{len(failed)} of {len(items)} action items could not be synced with Jira")
