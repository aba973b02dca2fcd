"""``tocsin postmortem ...`` and ``tocsin actions ...``: post-mortems and action items.

Clients of the REST API like ``tocsin incident``: human output by default, the API's
JSON with ``--json``, refusals on stderr with exit code 1, an unreachable server 2.
A post-mortem is named by its own id (``PM-3``, or ``3``) or by its incident's
(``INC-7``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tocsin.cli.client import ApiClient
from tocsin.cli.incidents import API, IncidentArg, JsonOpt, api, incident_path
from tocsin.cli.output import NONE, fail, format_time, get_console, print_json, say

__all__ = ["actions_app", "postmortem_app", "register"]

postmortem_app = typer.Typer(
    help="Post-mortems: draft from an incident, review, publish; recurring patterns.",
    no_args_is_help=True,
)
actions_app = typer.Typer(
    help="Action items from post-mortems: list, add, accept, complete.", no_args_is_help=True
)

PostmortemArg = Annotated[
    str, typer.Argument(metavar="POSTMORTEM", help="PM-3 (or 3), or the incident: INC-7.")
]
ItemArg = Annotated[int, typer.Argument(metavar="ID", help="Action item id.")]


def register(app: typer.Typer) -> None:
    """Add ``postmortem`` and ``actions`` to the ``tocsin`` command."""
    app.add_typer(postmortem_app, name="postmortem")
    app.add_typer(actions_app, name="actions")


# -- plumbing -------------------------------------------------------------------------


def _pm_path(pm_id: str, *rest: str) -> str:
    return "/".join([f"{API}/postmortems", quote(pm_id.strip(), safe=""), *rest])


def _fetch(client: ApiClient, ref: str) -> dict[str, Any]:
    """The post-mortem named by ``ref`` (its own id or its incident's)."""
    if ref.strip().lower().startswith("inc-"):
        return client.get(incident_path(ref, "postmortem"))
    return client.get(_pm_path(ref))


def _pm_id(client: ApiClient, ref: str) -> str:
    return str(_fetch(client, ref)["id"]) if ref.strip().lower().startswith("inc-") else ref


def _table(*columns: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _overdue(flag: object) -> Text:
    return Text("overdue", style="bold red") if flag else Text("")


def _print_items(items: Sequence[Mapping[str, Any]], *, empty: str) -> None:
    if not items:
        say(empty)
        return
    table = _table("ID", "POST-MORTEM", "ACTION", "OWNER", "DUE", "PRIO", "STATUS", "")
    for item in items:
        table.add_row(
            str(item["id"]),
            f"{item['postmortem']} ({item['incident']})",
            str(item["title"]),
            str(item.get("owner") or NONE),
            str(item.get("due_date") or NONE),
            str(item["priority"]).upper(),
            str(item["status"]),
            _overdue(item.get("overdue")),
        )
    get_console().print(table)


def _minutes(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return NONE
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + f"{secs}s" if secs or not text else text


def _print_postmortem(pm: Mapping[str, Any]) -> None:
    late = f"  OVERDUE: {', '.join(pm['overdue_stages'])}" if pm.get("overdue") else ""
    say(Text(f"{pm['id']}", style="bold"), f" ({pm['incident']}, {pm['severity']}): {pm['title']}")
    say(f"Status {pm['status']}; owner {pm.get('owner') or 'unassigned'}{late}")
    due = pm.get("due") or {}
    if any(due.values()):
        say("Due: " + ", ".join(f"{k} {format_time(v)}" for k, v in due.items() if v))
    metrics = pm.get("metrics") or {}
    say(
        f"Detect {_minutes(metrics.get('time_to_detect'))}, "
        f"acknowledge {_minutes(metrics.get('time_to_acknowledge'))}, "
        f"mitigate {_minutes(metrics.get('time_to_mitigate'))}, "
        f"resolve {_minutes(metrics.get('time_to_resolve'))}; "
        f"escalations {metrics.get('escalations', 0)}"
    )
    if pm.get("root_cause_category"):
        sub = pm.get("root_cause_subcategory")
        say(f"Root cause: {pm['root_cause_category']}" + (f"/{sub}" if sub else ""))
    items = [i for i in pm.get("action_items", []) if i.get("status") != "dropped"]
    if items:
        say("")
        _print_items(items, empty="")
    findings = pm.get("blameless_findings") or []
    if findings:
        say("")
        say(Text("Blameless language check (advisory):", style="yellow"))
        for finding in findings:
            say(f'  [{finding["section"]}] "{finding["sentence"]}": {finding["reason"]}')
            say(f"      {finding['suggestion']}")


def _move(ref: str, action: str, verb: str, json_output: bool) -> None:
    with api() as client:
        pm = client.post(_pm_path(_pm_id(client, ref), action))
    if json_output:
        print_json(pm)
        return
    say(Text(str(pm["id"]), style="bold"), f" {verb}; status {pm['status']}")


# -- postmortem ----------------------------------------------------------------------


@postmortem_app.command()
def create(incident_id: IncidentArg, json_output: JsonOpt = False) -> None:
    """Draft the post-mortem of a resolved incident."""
    with api() as client:
        pm = client.post(incident_path(incident_id, "postmortem"))
    if json_output:
        print_json(pm)
        return
    say(
        "Drafted ",
        Text(str(pm["id"]), style="bold"),
        f" for {pm['incident']}; owner {pm.get('owner') or 'unassigned'}; "
        f"publish due {format_time((pm.get('due') or {}).get('publish'))}",
    )


@postmortem_app.command()
def show(
    ref: PostmortemArg,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the Markdown document.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Show a post-mortem: status, due dates, response figures, action items, findings."""
    with api() as client:
        pm = _fetch(client, ref)
    if json_output:
        print_json(pm)
    elif markdown:
        typer.echo(pm["markdown"], nl=False)
    else:
        _print_postmortem(pm)


@postmortem_app.command("list")
def list_postmortems(
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue ones.")] = False,
    status: Annotated[
        str | None, typer.Option("--status", help="draft, in_review or published.")
    ] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this owner's.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """List post-mortems, newest first."""
    params: list[tuple[str, str | int]] = [("limit", 500)]
    params += [(k, v) for k, v in (("status", status), ("owner", owner)) if v]
    if overdue:
        params.append(("overdue", "true"))
    with api() as client:
        page = client.get(f"{API}/postmortems", params=params)
    if json_output:
        print_json(page)
        return
    items = page.get("items", [])
    if not items:
        say("No overdue post-mortems." if overdue else "No post-mortems match.")
        return
    table = _table("ID", "INCIDENT", "TITLE", "STATUS", "OWNER", "PUBLISH DUE", "")
    for pm in items:
        table.add_row(
            str(pm["id"]),
            f"{pm['incident']} {pm['severity']}",
            str(pm["title"]),
            str(pm["status"]),
            str(pm.get("owner") or NONE),
            format_time((pm.get("due") or {}).get("publish")),
            _overdue(pm.get("overdue")),
        )
    get_console().print(table)


@postmortem_app.command()
def edit(
    ref: PostmortemArg,
    section: Annotated[
        str | None, typer.Option("--section", "-s", help="Section to replace, e.g. root_cause.")
    ] = None,
    text: Annotated[str | None, typer.Option("--text", help="The section's Markdown.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Read the section's Markdown from a file.")
    ] = None,
    category: Annotated[
        str | None,
        typer.Option(
            "--category",
            help="technical, process, human or external[/SUB-CATEGORY], e.g. technical/deployment.",
        ),
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag (repeatable).")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="New owner.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Edit a post-mortem: one section's Markdown, the root-cause category, tags, owner."""
    body: dict[str, Any] = {}
    if section is not None:
        if (text is None) == (file is None):
            fail("give the section's text with --text or --file (one of them)")
        content = text if text is not None else file.read_text(encoding="utf-8") if file else ""
        body["sections"] = {section: content}
    elif text is not None or file is not None:
        fail("--text and --file need --section")
    if category is not None:
        body["root_cause_category"] = category
    if tag:
        body["tags"] = tag
    if owner is not None:
        body["owner"] = owner
    if not body:
        fail("nothing to change: give --section, --category, --tag or --owner")
    with api() as client:
        pm = client.patch(_pm_path(_pm_id(client, ref)), body)
    if json_output:
        print_json(pm)
        return
    say(Text(str(pm["id"]), style="bold"), " updated")
    for finding in pm.get("blameless_findings") or []:
        if section is None or finding["section"] == section:
            say(f'  blameless check: "{finding["sentence"]}": {finding["reason"]}')


@postmortem_app.command()
def submit(ref: PostmortemArg, json_output: JsonOpt = False) -> None:
    """Submit a draft for review."""
    _move(ref, "submit", "submitted for review", json_output)


@postmortem_app.command()
def publish(ref: PostmortemArg, json_output: JsonOpt = False) -> None:
    """Publish a reviewed post-mortem (its text becomes final)."""
    _move(ref, "publish", "published", json_output)


@postmortem_app.command()
def patterns(
    days: Annotated[int, typer.Option("--days", min=1, help="Window in days.")] = 90,
    json_output: JsonOpt = False,
) -> None:
    """Root-cause categories seen more than twice in the window."""
    with api() as client:
        found = client.get(f"{API}/patterns", params=[("days", days)])
    if json_output:
        print_json(found)
        return
    items = found.get("items", [])
    if not items:
        say(f"No recurring pattern in the last {days} days.")
    for pattern in items:
        say(Text(str(pattern["pattern"]), style="bold"), f": {pattern['description']}")
        incidents = ", ".join(i["incident"] for i in pattern.get("incidents", []))
        say(f"  {pattern['occurrences']} incidents: {incidents}")


@postmortem_app.command()
def similar(
    incident_id: IncidentArg,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100)] = 10,
    json_output: JsonOpt = False,
) -> None:
    """Earlier incidents most like this one (text and services)."""
    with api() as client:
        found = client.get(incident_path(incident_id, "similar"), params=[("limit", limit)])
    if json_output:
        print_json(found)
        return
    items = found.get("items", [])
    if not items:
        say("No similar earlier incident.")
        return
    table = _table("INCIDENT", "SCORE", "TITLE", "SERVICES", "POST-MORTEM")
    for item in items:
        table.add_row(
            str(item["incident"]),
            f"{item['score']:.2f}",
            str(item["title"]),
            ", ".join(item.get("services") or ()) or NONE,
            str(item.get("postmortem") or NONE),
        )
    get_console().print(table)


# -- actions --------------------------------------------------------------------------


@actions_app.command("list")
def list_actions(
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue ones.")] = False,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this owner's.")] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="suggested, open, in_progress, done or dropped."),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """List action items (accepted ones unless --status suggested), earliest due first."""
    params: list[tuple[str, str | int]] = [("limit", 500)]
    params += [(k, v) for k, v in (("owner", owner), ("status", status)) if v]
    if overdue:
        params.append(("overdue", "true"))
    with api() as client:
        page = client.get(f"{API}/action-items", params=params)
    if json_output:
        print_json(page)
        return
    _print_items(
        page.get("items", []), empty="No overdue action items." if overdue else "No action items."
    )


@actions_app.command()
def add(
    ref: PostmortemArg,
    title: Annotated[str, typer.Argument(help="What will be done.")],
    owner: Annotated[str | None, typer.Option("--owner", help="Person or team.")] = None,
    due: Annotated[str | None, typer.Option("--due", help="Due date, YYYY-MM-DD.")] = None,
    priority: Annotated[str, typer.Option("--priority", "-p", help="p1 to p4.")] = "p3",
    link: Annotated[str | None, typer.Option("--link", help="Ticket URL.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Add an action item to a post-mortem."""
    body: dict[str, Any] = {"title": title, "priority": priority}
    body.update({k: v for k, v in (("owner", owner), ("due_date", due), ("link", link)) if v})
    with api() as client:
        item = client.post(_pm_path(_pm_id(client, ref), "action-items"), body)
    if json_output:
        print_json(item)
        return
    say(f"Added action item {item['id']} to {item['postmortem']}: {item['title']}")


def _set_status(item_id: int, status: str, verb: str, json_output: bool) -> None:
    with api() as client:
        item = client.patch(f"{API}/action-items/{item_id}", {"status": status})
    if json_output:
        print_json(item)
        return
    say(f"Action item {item['id']} ({item['postmortem']}) {verb}: {item['title']}")


@actions_app.command()
def done(item_id: ItemArg, json_output: JsonOpt = False) -> None:
    """Mark an action item done."""
    _set_status(item_id, "done", "done", json_output)


@actions_app.command()
def accept(item_id: ItemArg, json_output: JsonOpt = False) -> None:
    """Accept a suggested action item (it becomes open)."""
    _set_status(item_id, "open", "accepted", json_output)


@actions_app.command()
def drop(item_id: ItemArg, json_output: JsonOpt = False) -> None:
    """Drop an action item or a suggestion."""
    _set_status(item_id, "dropped", "dropped", json_output)
