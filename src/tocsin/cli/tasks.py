"""``tocsin task list|done|skip``: an incident's checklists from the command line.

``tocsin task done INC-7 3`` ticks item 3 of INC-7 as the token's person; ``tocsin task
skip INC-7 3 --reason "..."`` skips it, saying why. Both are on the incident's
timeline. A refusal (an item already settled, a viewer's token) is printed on stderr
with exit code 1.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from tocsin.cli.incidents import IncidentArg, JsonOpt, api, incident_path
from tocsin.cli.output import format_time, print_json, say

__all__ = ["register", "task_app"]

task_app = typer.Typer(
    help="An incident's checklists: list them, tick an item, or skip it with a reason.",
    no_args_is_help=True,
)

NumberArg = Annotated[
    int,
    typer.Argument(metavar="N", min=1, help="The item's number (see `tocsin task list`)."),
]


def register(app: typer.Typer) -> None:
    """Add ``task`` to the ``tocsin`` command."""
    app.add_typer(task_app, name="task")


_MARKS = {"done": "[x]", "skipped": "[-]", "open": "[ ]"}


def _item_line(item: dict[str, Any]) -> Text:
    line = Text(f"  {_MARKS.get(item['state'], '[?]')} {item['number']:>3}. {item['text']}")
    if item["state"] == "done":
        line.append(f"  ({item['settled_by']}, {format_time(item['settled_at'])})", "dim")
    elif item["state"] == "skipped":
        line.append(f"  skipped by {item['settled_by']}: {item['reason']}", "dim")
    elif item["overdue"]:
        line.append(f"  overdue since {format_time(item['due_at'])}", "bold red")
    elif item["due_at"]:
        line.append(f"  due {format_time(item['due_at'])}", "yellow")
    return line


@task_app.command("list")
def list_tasks(incident_id: IncidentArg, json_output: JsonOpt = False) -> None:
    """The incident's checklists and where each item stands."""
    with api() as client:
        data = client.get(incident_path(incident_id, "tasks"))
    if json_output:
        print_json(data)
        return
    if not data["checklists"]:
        say(f"{data['incident']} has no checklist.")
        return
    say(Text(data["incident"], style="bold"), f": {data['open']} open")
    for checklist in data["checklists"]:
        owner = f" ({checklist['role']})" if checklist["role"] else ""
        holder = f" for {checklist['holder']}" if checklist["holder"] else ""
        needed = "  required to resolve" if checklist["required_to_resolve"] else ""
        say(Text(checklist["heading"], style="bold"), owner, holder, Text(needed, "yellow"))
        for item in checklist["items"]:
            say(_item_line(item))


@task_app.command("done")
def done(incident_id: IncidentArg, number: NumberArg, json_output: JsonOpt = False) -> None:
    """Tick item N of the incident."""
    with api() as client:
        item = client.post(incident_path(incident_id, "tasks", str(number), "done"), {})
    if json_output:
        print_json(item)
        return
    say(f"Ticked {item['number']}. {item['text']}")


@task_app.command("skip")
def skip(
    incident_id: IncidentArg,
    number: NumberArg,
    reason: Annotated[
        str, typer.Option("--reason", "-r", help="Why the item does not apply (required).")
    ],
    json_output: JsonOpt = False,
) -> None:
    """Skip item N of the incident, saying why."""
    with api() as client:
        path = incident_path(incident_id, "tasks", str(number), "skip")
        item = client.post(path, {"reason": reason})
    if json_output:
        print_json(item)
        return
    say(f"Skipped {item['number']}. {item['text']}: {item['reason']}")
