"""Root-cause hints in the CLI: shown by ``tocsin incident show``, decided with
``tocsin incident hint confirm|reject INC-n HINT_ID`` (clients of
``/api/v1/incidents/{id}/hints``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tocsin.cli.incidents import IncidentArg, JsonOpt, api, incident_app, incident_path
from tocsin.cli.output import format_time, get_console, print_json, say

__all__ = ["hint_app", "print_overview"]

hint_app = typer.Typer(
    help="Root-cause hints: confirm the cause, or rule a hint out.", no_args_is_help=True
)
incident_app.add_typer(hint_app, name="hint")

HintArg = Annotated[int, typer.Argument(help="The hint's id (the # column of incident show).")]

_STATUS = {"confirmed": "✔ confirmed", "rejected": "✘ ruled out", "open": ""}


def _linked(title: str, items: Sequence[Mapping[str, Any]]) -> Text | None:
    if not items:
        return None
    parts = [
        f"{item['incident']} ({item['status']}: {item['reason']}"
        + (", pages held" if item.get("held") else "")
        + ")"
        for item in items
    ]
    return Text(f"{title} " + ", ".join(parts))


def print_overview(overview: Mapping[str, Any]) -> None:
    """The incident's links, hints and recent changes, under its detail."""
    console = get_console()
    for line in (
        _linked("Downstream of", overview.get("downstream_of") or []),
        _linked("Upstream of", overview.get("upstream_of") or []),
    ):
        if line is not None:
            console.print(line)
    hints: Sequence[Mapping[str, Any]] = overview.get("hints") or []
    if hints:
        table = Table(title="Hints", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in ("#", "RANK", "KIND", "CONFIDENCE", "HINT", "EVIDENCE", "VERDICT"):
            table.add_column(column, overflow="fold")
        for hint in hints:
            evidence = [e.get("href") or e.get("ref") for e in hint.get("evidence") or []]
            table.add_row(
                str(hint["id"]),
                str(hint["rank"] or "—"),
                str(hint["kind"]),
                f"{float(hint['confidence']):.0%}",
                Text(str(hint["explanation"])),
                Text("\n".join(str(e) for e in evidence if e)),
                _STATUS.get(str(hint["status"]), str(hint["status"])),
            )
        console.print(table)
    else:
        console.print("No hints yet.")
    changes: Sequence[Mapping[str, Any]] = overview.get("recent_changes") or []
    if changes:
        table = Table(title="Recent changes", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in ("WHEN", "SERVICE", "SUMMARY", "LINK"):
            table.add_column(column, overflow="fold")
        for change in changes:
            links = change.get("links") or []
            table.add_row(
                format_time(change.get("timestamp")),
                str(change["service"]),
                Text(str(change["summary"])),
                links[0]["href"] if links else "—",
            )
        console.print(table)


def _decide(incident_id: str, hint_id: int, verdict: str, json_output: bool) -> None:
    with api() as client:
        hint = client.post(incident_path(incident_id, "hints", str(hint_id), verdict))
    if json_output:
        print_json(hint)
        return
    word = "confirmed as the cause" if verdict == "confirm" else "ruled out"
    say(f"Hint {hint['id']} {word}: {hint['explanation']}")


@hint_app.command("confirm")
def confirm_hint(incident_id: IncidentArg, hint_id: HintArg, json_output: JsonOpt = False) -> None:
    """This hint is the cause (the post-mortem's root-cause category follows it)."""
    _decide(incident_id, hint_id, "confirm", json_output)


@hint_app.command("reject")
def reject_hint(incident_id: IncidentArg, hint_id: HintArg, json_output: JsonOpt = False) -> None:
    """Rule this hint out (it stays listed as ruled out)."""
    _decide(incident_id, hint_id, "reject", json_output)
