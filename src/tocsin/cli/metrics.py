"""``tocsin metrics``, ``tocsin slo`` and ``tocsin report monthly``: reliability figures
from the REST API.

Like ``tocsin incident``: Rich tables by default, the API's JSON with ``--json``, a
refusal (a bad ``--window`` or ``--month``) on stderr with exit code 1, an unreachable
server 2. Durations are shown as ``1h 5m``; the JSON keeps seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich import box
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from tocsin.cli.drills import show_drills
from tocsin.cli.incidents import API, JsonOpt, api
from tocsin.cli.output import fail, format_time, get_console, print_json, say
from tocsin.timetext import duration_text

__all__ = ["metrics", "register", "report_app", "slo"]

report_app = typer.Typer(
    help="Reports rendered by the server (a client of the Tocsin REST API).",
    no_args_is_help=True,
)


def format_seconds(value: float | None) -> str:
    """``1h 2m``: the one duration rule of :mod:`tocsin.timetext`."""
    return duration_text(value)


def register(app: typer.Typer) -> None:
    """Add ``metrics``, ``slo`` and ``report`` to the ``tocsin`` command."""
    app.command("metrics")(metrics)
    app.command("slo")(slo)
    app.add_typer(report_app, name="report")


def _table(*columns: str, title: str | None = None, right: int = 1) -> Table:
    """A table whose columns from index ``right`` on are right-aligned numbers."""
    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )
    for index, column in enumerate(columns):
        table.add_column(column, justify="right" if index >= right else "left", no_wrap=True)
    return table


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * float(value):.1f} %"


def _rate(rate: Mapping[str, Any]) -> str:
    if not rate.get("available", True):
        return "n/a"
    return f"{_pct(rate.get('rate'))} ({rate['count']}/{rate['total']})"


def _compliance(entry: Mapping[str, Any] | None) -> str:
    if not entry:
        return "n/a"
    text = f"{_pct(entry.get('rate'))} ({entry['met']}/{entry['met'] + entry['breached']})"
    return text + (f" +{entry['pending']} pending" if entry.get("pending") else "")


def _print_summary(data: Mapping[str, Any]) -> None:
    console = get_console()
    drills = data.get("drills_excluded") or 0
    console.print(
        Text.assemble(
            ("Incidents detected ", ""),
            f"{format_time(data['since'])} to {format_time(data['until'])}",
            f" ({format_seconds(data['window_seconds'])}): ",
            (str(data["incidents"]), "bold"),
            f", {data['open']} open",
            f", {drills} drill{'s' if drills != 1 else ''} excluded" if drills else "",
        )
    )
    names = {"mttd": "MTTD", "mtta": "MTTA", "mttm": "MTTM", "mttr": "MTTR"}
    times = _table("MEASURE", "FROM → TO", "COUNT", "MEAN", "MEDIAN", "P90", right=2)
    spans = {
        "mttd": "impact start → detected",
        "mtta": "detected → acknowledged",
        "mttm": "detected → mitigated",
        "mttr": "detected → resolved",
    }
    for key, label in names.items():
        stats = data[key]["overall"]
        times.add_row(
            Text(label, style="bold"),
            spans[key],
            str(stats["count"]),
            format_seconds(stats["mean"]),
            format_seconds(stats["median"]),
            format_seconds(stats["p90"]),
        )
    console.print(times)
    console.print()
    severity = _table(
        "SEVERITY",
        "INCIDENTS",
        "MTTA MEAN",
        "MTTR MEAN",
        "MTTR MEDIAN",
        "MTTR P90",
        "RESPONSE SLA",
        "RESOLUTION SLA",
        title="By severity",
    )
    response = data["response_sla"]["by_severity"]
    resolution = data["resolution_sla"]["by_severity"]
    for name, count in data["by_severity"].items():
        mtta = data["mtta"]["by_severity"].get(name, {})
        mttr = data["mttr"]["by_severity"].get(name, {})
        severity.add_row(
            Text(name, style="bold"),
            str(count),
            format_seconds(mtta.get("mean")),
            format_seconds(mttr.get("mean")),
            format_seconds(mttr.get("median")),
            format_seconds(mttr.get("p90")),
            _compliance(response.get(name)),
            _compliance(resolution.get(name)),
        )
    severity.add_row(
        Text("all", style="bold"),
        str(data["incidents"]),
        format_seconds(data["mtta"]["overall"]["mean"]),
        format_seconds(data["mttr"]["overall"]["mean"]),
        format_seconds(data["mttr"]["overall"]["median"]),
        format_seconds(data["mttr"]["overall"]["p90"]),
        _compliance(data["response_sla"]["overall"]),
        _compliance(data["resolution_sla"]["overall"]),
    )
    console.print(severity)
    console.print()
    rates = _table("RATE", "VALUE", title="Rates")
    for label, key in (
        ("Escalated", "escalations"),
        ("Repeat (same service, similar title, 7 days)", "repeats"),
        ("Post-mortems completed", "postmortem_completion"),
        ("Action items done by their due date", "action_items_on_time"),
        ("Top hint was the confirmed cause", "top_hint_confirmed"),
    ):
        if key in data:
            rates.add_row(label, _rate(data[key]))
    console.print(rates)
    console.print()
    counts = _table(
        "GROUP", "NAME", "INCIDENTS", title="Incidents by service and category", right=2
    )
    for service, count in data["by_service"].items():
        counts.add_row("service", Text(service), str(count))
    categories = data.get("by_category")
    if categories is None:
        counts.add_row("category", Text("n/a (post-mortems not available)"), "")
    for category, count in (categories or {}).items():
        counts.add_row("category", Text(category), str(count))
    console.print(counts)
    console.print()
    weekly = data["period"] == "week"
    title = (
        "Incidents per ISO week (from Monday, UTC)" if weekly else f"Incidents per {data['period']}"
    )
    periods = _table("PERIOD", "INCIDENTS", title=title)
    for bucket in data["by_period"]:
        day = format_time(bucket["start"])[:10]
        if weekly:
            year, week, _ = date.fromisoformat(day).isocalendar()
            day = f"{year}-W{week:02d} ({day})"
        periods.add_row(day, str(bucket["count"]))
    console.print(periods)


def metrics(
    window: Annotated[
        str, typer.Option("--window", "-w", help="Look-back: 7d, 30d, 90d, 365d ...")
    ] = "30d",
    period: Annotated[
        str,
        typer.Option(
            "--period", help="Bucket of the per-period counts: day, week (ISO, from Monday), month."
        ),
    ] = "week",
    drills: Annotated[
        bool,
        typer.Option(
            "--drills",
            help="The drills instead (they count in no other metric): count, time to "
            "acknowledge and to mitigate, participants.",
        ),
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """MTTD/MTTA/MTTM/MTTR, SLA compliance and incident counts over a window."""
    if drills:
        show_drills(window, json_output=json_output)
        return
    with api() as client:
        data = client.get(f"{API}/metrics/summary", params=[("window", window), ("period", period)])
    if json_output:
        print_json(data)
    else:
        _print_summary(data)


def slo(
    service: Annotated[
        str | None, typer.Argument(metavar="[SERVICE]", help="One service; default: all.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Error budgets: availability, budget spent and left, burn rates."""
    path = f"{API}/slos" + (f"/{quote(service.strip(), safe='')}" if service else "")
    with api() as client:
        data = client.get(path)
    if json_output:
        print_json(data)
        return
    items = [data] if service else data.get("items", [])
    if not items:
        say("No service level objectives are defined in the policy (section `slos`).")
        return
    table = _table("SERVICE", "OBJECTIVE", "AVAILABILITY", "BUDGET", "SPENT", "LEFT", "BURN RATES")
    for item in items:
        burns = Text()
        for burn in item["burn_rates"]:
            if burns:
                burns.append("  ")
            label = f"{format_seconds(burn['window_seconds'])} {burn['rate']:.2f}"
            burns.append(label, style="bold red" if burn["alerting"] else "")
        left = float(item["remaining_percent"])
        table.add_row(
            Text(item["service"], style="bold"),
            f"{item['objective']:g} % / {format_seconds(item['window_seconds'])}",
            f"{item['availability_percent']:.3f} %",
            format_seconds(item["budget_seconds"]),
            format_seconds(item["consumed_seconds"]),
            Text(f"{left:.1f} %", style="red" if left < 0 else ""),
            burns,
        )
    get_console().print(table)


#: What ``--output``'s suffix says the file wants, when ``--format`` does not say.
_SUFFIX_FORMATS = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown"}


@report_app.command("monthly")
def monthly(
    month: Annotated[
        str | None, typer.Option("--month", "-m", help="YYYY-MM; default: last month.")
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="markdown or html; default: from the --output file's suffix, else markdown.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (with the charts), not stdout."),
    ] = None,
    charts: Annotated[
        bool | None,
        typer.Option(
            "--charts/--no-charts",
            help="Include the charts (SVG images); default: only in a file written by --output.",
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """The monthly incident review: text in the terminal, charts in a file.

    Prints the review as Markdown text; --output review.html (or .md) writes it with charts.
    """
    suffix = output.suffix.lower() if output else ""
    chosen = fmt or _SUFFIX_FORMATS.get(suffix, "markdown")
    with_charts = charts if charts is not None else output is not None
    params = [("format", chosen), ("charts", "true" if with_charts else "false")]
    params += [("month", month)] if month else []
    with api() as client:
        data = client.get(f"{API}/reports/monthly", params=params)
    if json_output:
        print_json(data)
        return
    content = str(data.get("content", ""))
    if output is not None:
        try:
            output.write_text(content, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}")
        said = "with charts" if with_charts else "without charts"
        say(f"Wrote the {data.get('month')} review ({data.get('format')}, {said}) to {output}")
        return
    console = get_console()
    if console.is_terminal and chosen == "markdown" and not with_charts:
        console.print(Markdown(content))
    else:
        typer.echo(content, nl=not content.endswith("\n"))
    if not with_charts:
        hint = f"tocsin report monthly --month {data.get('month')} --output review.html"
        get_console(stderr=True).print(Text(f"Charts: {hint}", style="dim"))
