"""Rich rendering for CLI commands: JSON for scripts, tables and panels for people.

Everything here writes to the current ``sys.stdout``/``sys.stderr`` at call time, so it
works under test runners that swap them. When the output is not a terminal (a pipe, a
file), nothing is wrapped: a table is as wide as its longest cells, one row per line, so
that ``grep`` finds a whole row; and no line ends in the spaces Rich pads cells with.
Text coming from the server is never parsed as Rich markup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, Any, NoReturn, cast

import typer
from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tocsin.timetext import duration_text

__all__ = [
    "data_table",
    "fail",
    "format_age",
    "format_time",
    "get_console",
    "incident_panel",
    "incident_table",
    "print_incident_detail",
    "print_incidents",
    "print_json",
    "say",
    "severity_text",
    "status_text",
    "timeline_table",
    "updates_table",
]

#: The width of output that is not a terminal: wide enough that no cell is ever folded.
PIPE_WIDTH = 10_000
NONE = "—"

SEVERITY_STYLES = {1: "bold red", 2: "dark_orange", 3: "yellow", 4: "dim"}
STATUS_STYLES = {
    "triggered": "bold red",
    "acknowledged": "yellow",
    "investigating": "yellow",
    "identified": "cyan",
    "monitoring": "blue",
    "resolved": "green",
    "closed": "dim",
}


class TrimmedLines:
    """A text stream that passes text on to ``target`` a line at a time, without
    trailing spaces."""

    def __init__(self, target: IO[str]) -> None:
        self._target = target
        self._pending = ""
        # Rich draws with ASCII when the target cannot take more.
        self.encoding = str(getattr(target, "encoding", None) or "utf-8")

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._target.write(line.rstrip(" ") + "\n")
        return len(text)

    def flush(self) -> None:
        if self._pending:  # a line printed without its end: keep it as it is
            self._target.write(self._pending)
            self._pending = ""
        self._target.flush()


def get_console(*, stderr: bool = False) -> Console:
    """A console on the current stdout (or stderr); unbounded and trimmed when not a
    terminal."""
    console = Console(stderr=stderr, soft_wrap=True, highlight=False, markup=False)
    if console.is_terminal:
        return console
    return Console(
        file=cast(IO[str], TrimmedLines(console.file)),  # a text stream, as Rich needs
        width=PIPE_WIDTH,
        soft_wrap=True,
        highlight=False,
        markup=False,
    )


def data_table(*columns: str) -> Table:
    """A table in the CLI's one style: upper-case headers over a rule, no borders."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column.upper(), overflow="fold")
    return table


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON with sorted keys (stable for scripts)."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def say(*parts: str | Text) -> None:
    """Print one line to stdout; plain strings are printed literally."""
    get_console().print(Text.assemble(*parts))


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` in red on stderr and exit with ``code``."""
    get_console(stderr=True).print(Text(message, style="red"))
    raise typer.Exit(code)


# -- values ---------------------------------------------------------------------------


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(value: str | None, *, seconds: bool = False) -> str:
    """``2026-11-23 04:21Z`` (or with seconds) for an ISO-8601 time; ``—`` for none."""
    parsed = parse_time(value)
    if parsed is None:
        return value or NONE
    return parsed.strftime("%Y-%m-%d %H:%M:%SZ" if seconds else "%Y-%m-%d %H:%MZ")


def format_age(value: str | None, now: datetime | None = None) -> str:
    """How long ago ``value`` was: ``45s``, ``3h 5m``, ``2d 4h`` (:mod:`tocsin.timetext`)."""
    parsed = parse_time(value)
    if parsed is None:
        return NONE
    return duration_text((now or datetime.now(UTC)) - parsed)


def severity_text(incident: Mapping[str, Any]) -> Text:
    name = str(incident.get("severity", "?"))
    rank = incident.get("severity_rank")
    style = SEVERITY_STYLES.get(rank, "dim") if isinstance(rank, int) else ""
    return Text(name, style=style)


def drill_text(incident: Mapping[str, Any]) -> Text:
    """`` DRILL`` after the severity of a drill; nothing for a real incident."""
    return Text(" DRILL", style="bold magenta") if incident.get("drill") else Text("")


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def _names(values: Iterable[str] | None) -> str:
    joined = ", ".join(values or ())
    return joined or NONE


def _commander(incident: Mapping[str, Any]) -> str:
    roles = incident.get("roles") or {}
    return _names(roles.get("commander"))


# -- incident list --------------------------------------------------------------------


def incident_table(items: Sequence[Mapping[str, Any]], now: datetime | None = None) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("ID", no_wrap=True, style="bold")
    table.add_column("SEV", no_wrap=True)
    table.add_column("STATUS", no_wrap=True)
    table.add_column("TITLE", overflow="fold")
    table.add_column("SERVICES", overflow="fold")
    table.add_column("COMMANDER", overflow="fold")
    table.add_column("AGE", no_wrap=True, justify="right")
    for incident in items:
        table.add_row(
            Text(str(incident["id"])),
            Text.assemble(severity_text(incident), drill_text(incident)),
            status_text(str(incident.get("status", ""))),
            Text(str(incident.get("title", ""))),
            Text(_names(incident.get("services"))),
            Text(_commander(incident)),
            Text(format_age(incident.get("started_at") or incident.get("detected_at"), now)),
        )
    return table


def print_incidents(items: Sequence[Mapping[str, Any]], total: int, *, empty: str) -> None:
    console = get_console()
    if not items:
        console.print(empty)
        return
    console.print(incident_table(items))
    if total > len(items):
        console.print(f"Showing {len(items)} of {total} incidents; raise --limit to see more.")


# -- one incident ---------------------------------------------------------------------


def incident_panel(incident: Mapping[str, Any]) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")

    def row(label: str, value: str | Text) -> None:
        grid.add_row(label, value if isinstance(value, Text) else Text(value))

    row("Title", str(incident.get("title", "")))
    if incident.get("drill"):
        pages = (
            "the on-call"
            if incident.get("drill_pages_oncall")
            else _names(incident.get("drill_responders"))
        )
        row("DRILL", Text(f"a rehearsal; pages {pages}", style="bold magenta"))
    row("Severity", severity_text(incident))
    row("Status", status_text(str(incident.get("status", ""))))
    row("Services", _names(incident.get("services")))
    roles: Mapping[str, Sequence[str]] = incident.get("roles") or {}
    for role, people in roles.items():
        row(role.capitalize(), _names(people))
    row("Declared by", str(incident.get("created_by") or NONE))
    for label, key in (
        ("Started", "started_at"),
        ("Detected", "detected_at"),
        ("Acknowledged", "acknowledged_at"),
        ("Mitigated", "mitigated_at"),
        ("Resolved", "resolved_at"),
        ("Closed", "closed_at"),
    ):
        if incident.get(key):
            row(label, format_time(incident[key], seconds=True))
    row("Next states", _names(incident.get("allowed_transitions")))
    body: list[RenderableType] = [grid]
    if incident.get("description"):
        body += [Text(""), Text(str(incident["description"]))]
    title = Text.assemble(
        (str(incident["id"]), "bold"),
        " · ",
        severity_text(incident),
        " · ",
        status_text(str(incident.get("status", ""))),
    )
    return Panel(Group(*body), title=title, title_align="left", expand=False)


def timeline_table(events: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(
        title="Timeline", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )
    table.add_column("TIME (UTC)", no_wrap=True)
    table.add_column("ACTOR", no_wrap=True)
    table.add_column("EVENT", no_wrap=True)
    table.add_column("SUMMARY", overflow="fold")
    for event in events:
        table.add_row(
            Text(format_time(event.get("at"), seconds=True)),
            Text(str(event.get("actor", ""))),
            Text(str(event.get("kind", ""))),
            Text(str(event.get("summary", ""))),
        )
    return table


def updates_table(updates: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(
        title="Status updates", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False
    )
    table.add_column("TIME (UTC)", no_wrap=True)
    table.add_column("STATUS", no_wrap=True)
    table.add_column("AUDIENCE", no_wrap=True)
    table.add_column("ACTOR", no_wrap=True)
    table.add_column("MESSAGE", overflow="fold")
    for update in updates:
        table.add_row(
            Text(format_time(update.get("created_at"), seconds=True)),
            status_text(str(update.get("status", ""))),
            Text("public" if update.get("public") else "internal"),
            Text(str(update.get("actor", ""))),
            Text(str(update.get("message", ""))),
        )
    return table


def print_incident_detail(
    incident: Mapping[str, Any],
    timeline: Sequence[Mapping[str, Any]],
    updates: Sequence[Mapping[str, Any]],
) -> None:
    console = get_console()
    console.print(incident_panel(incident))
    console.print(timeline_table(timeline))
    if updates:
        console.print(updates_table(updates))
