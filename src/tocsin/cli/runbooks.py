"""Diagnostics and playbooks from the command line: ``tocsin diagnose INC-1 [NAME]``
and ``tocsin playbook list|dry-run|propose|approve|decline INC-1 [NAME]``."""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.text import Text

from tocsin.cli.incidents import API, JsonOpt, api
from tocsin.cli.output import get_console, print_json, say

__all__ = ["playbook_app", "register"]

_FINISHED = {"done", "failed", "interrupted", "declined", "not_triggered"}

IncidentArg = Annotated[str, typer.Argument(help="The incident, e.g. INC-7.")]


def _path(incident: str, tail: str) -> str:
    return f"{API}/incidents/{quote(incident, safe='')}/{tail}"


def _show_run(run: dict[str, Any]) -> None:
    console = get_console()
    who = f", approved by {run['decided_by']}" if run.get("decided_by") else ""
    console.print(
        Text.assemble(
            (f"{run['kind'].capitalize()} {run['name']}", "bold"), f" — {run['state']}{who}"
        )
    )
    if run.get("note"):
        console.print(f"  {run['note']}")
    done = {step["position"]: step for step in run["steps"]}
    for position, planned in enumerate(run["planned"], 1):
        step = done.get(position)
        state = step["state"] if step else "not run"
        extra = ""
        if step and step["exit_status"] is not None:
            extra += f" exit {step['exit_status']}"
        if step and step["duration_ms"] is not None:
            extra += f" {step['duration_ms']} ms"
        console.print(Text(f"  {position}. {planned['name']} [{state}{extra}]"))
        shown = planned.get("error") or planned.get("display") or ""
        console.print(Text(f"     {shown}", style="dim"))
        if step and step["output"].strip():
            for line in step["output"].rstrip().splitlines()[:40]:
                console.print(Text(f"     | {line}"))


def diagnose(
    incident: IncidentArg,
    name: Annotated[
        str | None, typer.Argument(help="A collector of the policy; default: all that fit.")
    ] = None,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for the results (0: do not wait).")
    ] = 60.0,
    json_output: JsonOpt = False,
) -> None:
    """Run the policy's diagnostic collectors for an incident and show what they found."""
    with api() as client:
        queued = client.post(_path(incident, "diagnostics"), {"collector": name} if name else {})
        ids = {run["id"] for run in queued["items"]}
        deadline = time.monotonic() + wait
        runs = queued["items"]
        while wait > 0 and time.monotonic() < deadline:
            runs = [
                r for r in client.get(_path(incident, "diagnostics"))["items"] if r["id"] in ids
            ]
            if all(r["state"] in _FINISHED for r in runs):
                break
            time.sleep(0.3)
    if json_output:
        print_json({"items": runs})
        return
    for run in runs:
        _show_run(run)


playbook_app = typer.Typer(
    help="Remediation playbooks of an incident: see, propose, approve, decline.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="A playbook of the policy.")]


@playbook_app.command("list")
def list_playbooks(incident: IncidentArg, json_output: JsonOpt = False) -> None:
    """The incident's playbook proposals and runs, step by step."""
    with api() as client:
        data = client.get(_path(incident, "playbooks"))
    if json_output:
        print_json(data)
        return
    if not data["items"]:
        say("No playbook has been proposed for this incident.")
    for run in data["items"]:
        _show_run(run)


@playbook_app.command("dry-run")
def dry_run(incident: IncidentArg, name: NameArg, json_output: JsonOpt = False) -> None:
    """The playbook's actions as they would run for this incident; nothing runs."""
    with api() as client:
        data = client.get(_path(incident, f"playbooks/{quote(name, safe='')}/dry-run"))
    if json_output:
        print_json(data)
        return
    say(f"Playbook {name} for {data['incident']} (dry run: nothing is run)")
    for position, step in enumerate(data["steps"], 1):
        condition = f"  (only if still: {step['condition']})" if step["condition"] else ""
        get_console().print(Text(f"  {position}. {step['name']}{condition}"))
        get_console().print(Text(f"     {step['error'] or step['display']}", style="dim"))


def _decide(action: str, incident: str, name: str, json_output: bool) -> None:
    with api() as client:
        run = client.post(_path(incident, f"playbooks/{quote(name, safe='')}/{action}"))
    if json_output:
        print_json(run)
        return
    _show_run(run)


@playbook_app.command("propose")
def propose(incident: IncidentArg, name: NameArg, json_output: JsonOpt = False) -> None:
    """Propose the playbook (again) for the commander's approval."""
    _decide("propose", incident, name, json_output)


@playbook_app.command("approve")
def approve(incident: IncidentArg, name: NameArg, json_output: JsonOpt = False) -> None:
    """Approve the waiting proposal (the incident commander or an admin)."""
    _decide("approve", incident, name, json_output)


@playbook_app.command("decline")
def decline(incident: IncidentArg, name: NameArg, json_output: JsonOpt = False) -> None:
    """Decline the waiting proposal; it is not proposed again by itself."""
    _decide("decline", incident, name, json_output)


def register(app: typer.Typer) -> None:
    """Add ``diagnose`` and ``playbook`` to the ``tocsin`` command."""
    app.command("diagnose")(diagnose)
    app.add_typer(playbook_app, name="playbook")
