"""Drills from the command line: ``tocsin drill list|run SCENARIO`` (game days) and
``tocsin metrics --drills`` (how the rehearsals went)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tocsin.cli.incidents import API, JsonOpt, api
from tocsin.cli.output import format_time, get_console, print_json, say

__all__ = ["drill_app", "register", "show_drills"]

NONE = "—"


def _seconds(value: Any) -> str:
    if value is None:
        return NONE
    # The same formatting as the other metrics ("4m 10s"), imported late like theirs.
    from tocsin.metrics.rules import format_seconds

    return format_seconds(float(value))


def show_drills(window: str, *, json_output: bool) -> None:
    """The drills declared in the last ``window``, one line each, and their means."""
    with api() as client:
        data = client.get(f"{API}/metrics/drills", params=[("window", window)])
    if json_output:
        print_json(data)
        return
    console = get_console()
    console.print(
        Text.assemble(
            ("Drills", "bold"),
            f" since {format_time(data['since'])}: {data['count']}; mean time to acknowledge "
            f"{_seconds(data['mean_time_to_acknowledge'])}, to mitigate "
            f"{_seconds(data['mean_time_to_mitigate'])}",
        )
    )
    if not data["drills"]:
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("DRILL", "DECLARED (UTC)", "SEV", "TITLE", "TO ACK", "TO MITIGATE"):
        table.add_column(column, no_wrap=column != "TITLE")
    table.add_column("PARTICIPANTS", overflow="fold")
    for drill in data["drills"]:
        table.add_row(
            Text(drill["id"], style="bold"),
            format_time(drill["declared_at"]),
            drill["severity"],
            drill["title"],
            _seconds(drill["time_to_acknowledge"]),
            _seconds(drill["time_to_mitigate"]),
            ", ".join(drill["participants"]) or NONE,
        )
    console.print(table)
    console.print(f"Participants: {', '.join(data['participants']) or NONE}")


drill_app = typer.Typer(
    help="Game days: run the policy's drill scenarios (`game_days`) as drills.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``drill`` to the ``tocsin`` command."""
    app.add_typer(drill_app, name="drill")


@drill_app.command("list")
def list_game_days(json_output: JsonOpt = False) -> None:
    """The drill scenarios of the policy."""
    with api() as client:
        data = client.get(f"{API}/game-days")
    if json_output:
        print_json(data)
        return
    items = data.get("items", [])
    if not items:
        say("No game days in the policy (section `game_days`).")
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("SCENARIO", "ALERTS", "PAGES", "DESCRIPTION"):
        table.add_column(column, overflow="fold")
    for item in items:
        pages = "the on-call" if item.get("page_oncall") else ", ".join(item["responders"]) or NONE
        table.add_row(
            Text(item["name"], style="bold"), str(len(item["alerts"])), pages, item["description"]
        )
    get_console().print(table)


@drill_app.command("run")
def run_game_day(
    scenario: Annotated[str, typer.Argument(help="A game day of the policy (`drill list`).")],
    json_output: JsonOpt = False,
) -> None:
    """Run a scenario: its alerts go through the alert pipeline as a drill, each at its
    delay from now; the incidents they open are drills (never public, in no metric)."""
    with api() as client:
        data = client.post(f"{API}/game-days/{quote(scenario.strip(), safe='')}/run", {})
    if json_output:
        print_json(data)
        return
    due = data.get("alerts", [])
    last = format_time(due[-1], seconds=True) if due else NONE
    pages = "the on-call" if data.get("page_oncall") else ", ".join(data["responders"]) or "nobody"
    say(
        f"Game day {data['game_day']} started (run {data['run']}): {len(due)} alert(s), "
        f"the last at {last}; its drills page {pages}."
    )
