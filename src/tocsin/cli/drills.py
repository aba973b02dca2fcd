"""Drills from the command line: ``tocsin metrics --drills`` (how the rehearsals went)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from tocsin.cli.incidents import API, api
from tocsin.cli.output import format_time, get_console, print_json

__all__ = ["show_drills"]

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
