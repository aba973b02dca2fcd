"""``tocsin oncall``, ``tocsin schedule ...``, ``tocsin notifications`` and the escalation
controls ``tocsin incident escalate|repage|reassign|notifications``.

Clients of the REST API like ``tocsin incident``: human output by default, the API's
JSON with ``--json``, refusals on stderr with exit code 1, an unreachable server 2.
Times are shown in UTC, and schedules also in their own time zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tocsin.cli.client import ApiClient
from tocsin.cli.incidents import (
    API,
    IncidentArg,
    JsonOpt,
    api,
    incident_app,
    incident_path,
)
from tocsin.cli.output import (
    NONE,
    fail,
    format_time,
    get_console,
    parse_time,
    print_json,
    say,
)
from tocsin.cli.times import FORMS, parse_instant

__all__ = ["notifications", "oncall", "register", "schedule_app"]

schedule_app = typer.Typer(
    help="On-call schedules: shifts, overrides (a client of the Tocsin REST API).",
    no_args_is_help=True,
)

ScheduleArg = Annotated[str, typer.Argument(metavar="SCHEDULE", help="Schedule name.")]


def register(app: typer.Typer) -> None:
    """Add ``oncall``, ``schedule`` and ``notifications`` to the ``tocsin`` command (the
    ``incident`` subcommands here register themselves when this module is imported)."""
    app.command("oncall")(oncall)
    app.add_typer(schedule_app, name="schedule")
    app.command("notifications")(notifications)


def _schedule_path(name: str, *rest: str) -> str:
    return "/".join([f"{API}/schedules", quote(name.strip(), safe=""), *rest])


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _local(value: str | None, zone: ZoneInfo | None) -> str:
    """``Mon 2026-03-02 01:00 PST`` in ``zone``; ``—`` for none."""
    parsed = parse_time(value)
    if parsed is None or zone is None:
        return NONE
    return parsed.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def _instant(option: str, value: str) -> str:
    """``value`` of ``option`` as an ISO-8601 UTC instant, or a refusal that names the
    option and the forms it takes."""
    try:
        return parse_instant(value, datetime.now(UTC)).isoformat()
    except ValueError as exc:
        fail(f"{option}: {exc}")


def _people(names: Sequence[str] | None) -> Text:
    if not names:
        return Text("nobody", style="bold red")
    return Text(", ".join(names))


# -- who is on call ---------------------------------------------------------------------------


def oncall(
    schedule: Annotated[
        str | None, typer.Argument(metavar="[SCHEDULE]", help="One schedule; default: all.")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help=f"When: {FORMS}; default: now."),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Who is on call now (or --at another time), until when, and who is next."""
    when = _instant("--at", at) if at is not None else None
    params = [(k, v) for k, v in (("schedule", schedule), ("at", when)) if v]
    with api() as client:
        answer = client.get(f"{API}/oncall", params=params)
    if json_output:
        print_json(answer)
        return
    table = _table("SCHEDULE", "ON CALL", "UNTIL (UTC)", "NEXT")
    for item in answer.get("items", []):
        handoff = item.get("next_handoff") or {}
        incoming = handoff.get("incoming")
        following = Text(str(incoming)) if incoming else Text("nobody", style="red")
        table.add_row(
            Text(str(item["schedule"]), style="bold"),
            _people(item.get("people")),
            Text(format_time(item.get("shift_end"))),
            following if handoff else Text(NONE),
        )
    console = get_console()
    console.print(Text(f"On call at {format_time(answer.get('at'))}"))
    console.print(table)


# -- schedules ----------------------------------------------------------------------------------


def _layer_summary(layer: Mapping[str, Any]) -> str:
    rotation = str(layer.get("rotation"))
    if rotation == "custom" and layer.get("length"):
        rotation = f"every {layer['length']}"
    text = f"{layer.get('name')}: {', '.join(layer.get('participants') or ())} ({rotation}"
    text += f" from {layer.get('start')})"
    for restriction in layer.get("restrictions") or ():
        days = ",".join(restriction.get("days") or ())
        text += f" {days} {restriction.get('from')}-{restriction.get('to')}"
    return text


@schedule_app.command("list")
def list_schedules(json_output: JsonOpt = False) -> None:
    """List the schedules of the running policy with their layers."""
    with api() as client:
        answer = client.get(f"{API}/schedules")
    if json_output:
        print_json(answer)
        return
    table = _table("SCHEDULE", "TEAM", "TIME ZONE", "LAYERS (lowest priority first)")
    for item in answer.get("items", []):
        table.add_row(
            Text(str(item["name"]), style="bold"),
            Text(str(item.get("team") or NONE)),
            Text(str(item.get("timezone"))),
            Text("\n".join(_layer_summary(layer) for layer in item.get("layers") or ())),
        )
    get_console().print(table)


@schedule_app.command("show")
def show_schedule(
    name: ScheduleArg,
    days: Annotated[int, typer.Option("--days", min=1, max=90, help="Days ahead.")] = 14,
    json_output: JsonOpt = False,
) -> None:
    """Show the shifts of a schedule for the next days (overrides applied)."""
    with api() as client:
        answer = client.get(_schedule_path(name), params=[("days", days)])
    if json_output:
        print_json(answer)
        return
    zone_name = str(answer.get("timezone") or "UTC")
    zone = _zone(zone_name)
    local = zone_name not in ("UTC", "Etc/UTC")  # else the local columns repeat UTC ones
    columns = ["PERSON", f"FROM ({zone_name})", f"TO ({zone_name})"] if local else ["PERSON"]
    table = _table(
        *columns,
        "FROM (UTC)",
        "TO (UTC)",
        "LAYER",
        title=f"{answer.get('name')}: the next {days} days",
    )
    for shift in answer.get("shifts", []):
        layer = str(shift.get("layer", ""))
        row = [Text(str(shift["person"]), style="bold")]
        if local:
            row += [Text(_local(shift.get("start"), zone)), Text(_local(shift.get("end"), zone))]
        table.add_row(
            *row,
            Text(format_time(shift.get("start"))),
            Text(format_time(shift.get("end"))),
            Text(layer, style="yellow" if layer == "override" else ""),
        )
    console = get_console()
    console.print(table)
    if not answer.get("shifts"):
        console.print(Text("Nobody is on call in this period.", style="red"))


def _override_line(item: Mapping[str, Any]) -> list[str | Text]:
    reason = f" ({item['reason']})" if item.get("reason") else ""
    return [
        f"Override {item.get('id')}: ",
        Text(str(item.get("person")), style="bold"),
        f" covers {item.get('schedule')} from {format_time(item.get('start'))}"
        f" to {format_time(item.get('end'))}{reason}",
    ]


@schedule_app.command("override")
def add_override(
    name: ScheduleArg,
    person: Annotated[str, typer.Argument(help="Who covers.")],
    start: Annotated[str, typer.Option("--start", help="From: now, 2026-03-05 09:00, +1h...")],
    end: Annotated[str, typer.Option("--end", help="Until: tomorrow 09:00, +8h...")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the record.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Make PERSON on call for a schedule from --start to --end, whatever the rotation."""
    body: dict[str, Any] = {
        "person": person,
        "start": _instant("--start", start),
        "end": _instant("--end", end),
    }
    if reason is not None:
        body["reason"] = reason
    with api() as client:
        created = client.post(_schedule_path(name, "overrides"), body)
    if json_output:
        print_json(created)
        return
    say(*_override_line(created))


@schedule_app.command("overrides")
def list_overrides(
    name: ScheduleArg,
    from_: Annotated[
        str | None, typer.Option("--from", help="From this instant (default: now).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Until this instant.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """List the overrides of a schedule that have not ended (or overlap --from/--to)."""
    params = [
        (key, _instant(option, value))
        for key, option, value in (("from", "--from", from_), ("to", "--to", to))
        if value
    ]
    with api() as client:
        answer = client.get(_schedule_path(name, "overrides"), params=params)
    if json_output:
        print_json(answer)
        return
    items = answer.get("items", [])
    if not items:
        get_console().print(f"No overrides for {name}.")
        return
    table = _table("ID", "PERSON", "FROM (UTC)", "TO (UTC)", "REASON", "BY")
    for item in items:
        table.add_row(
            Text(str(item["id"]), style="bold"),
            Text(str(item.get("person"))),
            Text(format_time(item.get("start"))),
            Text(format_time(item.get("end"))),
            Text(str(item.get("reason") or "")),
            Text(str(item.get("created_by") or "")),
        )
    get_console().print(table)


@schedule_app.command("remove-override")
def remove_override(
    name: ScheduleArg,
    override_id: Annotated[int, typer.Argument(metavar="ID", help="Override id.")],
) -> None:
    """Delete an override (the rotation applies again)."""
    with api() as client:
        client.delete(_schedule_path(name, "overrides", str(override_id)))
    say(f"Removed override {override_id} from {name}.")


# -- notifications --------------------------------------------------------------------------


def _channels_of(item: Mapping[str, Any]) -> str:
    """The channels a message went by (those it reached, else all it tried), or the one
    it was queued for."""
    rows = item.get("deliveries") or ()
    sent = [str(d.get("channel")) for d in rows if d.get("state") == "sent"]
    names = sent or [str(d.get("channel")) for d in rows]
    if not names and item.get("channel") != "person":
        names = [str(item.get("channel"))]
    return ", ".join(dict.fromkeys(names)) or NONE


def _notifications_table(items: Sequence[Mapping[str, Any]], *, with_incident: bool) -> Table:
    columns = ["WHEN (UTC)", "INCIDENT", "PERSON", "KIND", "CHANNEL", "STATE", "REASON"]
    if not with_incident:
        columns.remove("INCIDENT")
    table = _table(*columns)
    for item in items:
        row = [
            Text(format_time(item.get("created_at"), seconds=True)),
            Text(str(item.get("incident_id") or NONE)),
            Text(str(item.get("person")), style="bold"),
            Text(str(item.get("kind"))),
            Text(_channels_of(item)),
            Text(str(item.get("state")), style="red" if item.get("state") == "failed" else ""),
            Text(str(item.get("reason") or "")),
        ]
        if not with_incident:
            del row[1]
        table.add_row(*row)
    return table


def _print_notifications(page: Mapping[str, Any], *, with_incident: bool) -> None:
    items = page.get("items", [])
    console = get_console()
    if not items:
        console.print("No notifications.")
        return
    console.print(_notifications_table(items, with_incident=with_incident))
    total = int(page.get("total", len(items)))
    if total > len(items):
        console.print(f"Showing {len(items)} of {total}; raise --limit to see more.")


LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="At most N.")]


_VIEWS = ("pending", "failed", "console")
#: The channel `tocsin notifications console` reads: the console channel's name in the
#: example policy, and the built-in one's.
CONSOLE = "console"


def notifications(
    view: Annotated[
        str | None,
        typer.Argument(
            metavar="[pending|failed|console]",
            help="pending: what waits and until when, and why (throttled, retrying, a "
            "delayed step); failed: the dead letters and their errors; console: the "
            "messages the console channel delivered, in full.",
        ),
    ] = None,
    state: Annotated[
        list[str] | None,
        typer.Option("--state", help="pending, sending, sent, failed, cancelled (repeatable)."),
    ] = None,
    limit: LimitOpt = 200,
    json_output: JsonOpt = False,
) -> None:
    """The notification outbox: pages, stakeholder messages, reminders, handoffs."""
    if view is not None and view not in _VIEWS:
        fail(f"unknown view {view!r}; use pending, failed or console (or --state)")
    states = [view] if view in ("pending", "failed") else list(state or ())
    params: list[tuple[str, str | int]] = [("state", s) for s in states]
    if view == CONSOLE:
        params.append(("channel", CONSOLE))
    with api() as client:
        if view == CONSOLE:  # the newest messages, like the end of a log
            total = client.get(f"{API}/notifications", params=[*params, ("limit", 1)])["total"]
            params.append(("offset", max(0, int(total) - limit)))
        params.append(("limit", limit))
        page = client.get(f"{API}/notifications", params=params)
    if json_output:
        print_json(page)
        return
    if view == CONSOLE:
        _print_console(page)
        return
    if view is not None:
        _print_deliveries(page, failed=view == "failed")
        return
    _print_notifications(page, with_incident=True)


def _delivery_rows(item: Mapping[str, Any], *, failed: bool) -> list[Mapping[str, Any]]:
    """The deliveries of a notification still waiting (or failed); a message not yet
    expanded into deliveries stands for itself."""
    wanted = {"failed"} if failed else {"pending", "sending"}
    rows = [d for d in item.get("deliveries") or () if d.get("state") in wanted]
    if rows:
        return rows
    why = item.get("last_error") if failed else item.get("delay_reason")
    return [
        {
            "due_at": item.get("due_at"),
            "channel": item.get("channel"),
            "target": None,
            "attempts": item.get("attempts"),
            "last_error": item.get("last_error"),
            "delay_reason": why or "waiting for the delivery worker",
        }
    ]


def _print_console(page: Mapping[str, Any]) -> None:
    """Each message the console channel delivered: when, to whom, and its text."""
    console = get_console()
    items = page.get("items", [])
    shown = 0
    for item in items:
        rows = [d for d in item.get("deliveries") or () if d.get("channel") == CONSOLE]
        sent = next((d for d in rows if d.get("state") == "sent"), None)
        if sent is None:
            continue
        shown += 1
        who = item.get("person") or next((d.get("target") for d in rows), None) or NONE
        head = Text.assemble(
            (format_time(sent.get("sent_at"), seconds=True), "bold"),
            f"  {item.get('incident_id') or NONE}  {item.get('kind')} for ",
            (str(who), "bold"),
        )
        console.print(head)
        console.print(Text(f"  {item.get('subject')}"))
        for line in str(item.get("body") or "").splitlines():
            console.print(Text(f"    {line}"))
    if not shown:
        console.print("No messages on the console channel.")
        return
    total = int(page.get("total", len(items)))
    if total > len(items):
        console.print(f"The newest {len(items)} of {total}; raise --limit to see more.")


def _print_deliveries(page: Mapping[str, Any], *, failed: bool) -> None:
    """One line per delivery still waiting (or failed), oldest first: when (due, or
    the last attempt of a failed one), where, and why."""
    items = page.get("items", [])
    console = get_console()
    if not items:
        console.print("No failed notifications." if failed else "Nothing is waiting.")
        return
    first = "FAILED (UTC)" if failed else "DUE (UTC)"
    table = _table(first, "INCIDENT", "TO", "KIND", "CHANNEL", "ATTEMPTS", "WHY")
    lines: list[tuple[datetime, list[Text]]] = []
    for item in items:
        who = str(item.get("person") or "")
        for row in _delivery_rows(item, failed=failed):
            when = (row.get("started_at") if failed else None) or row.get("due_at")
            why = row.get("last_error") if failed else row.get("delay_reason")
            target = row.get("target")
            cells = [
                Text(format_time(when, seconds=True)),
                Text(str(item.get("incident_id") or NONE)),
                Text(
                    f"{who} ({target})"
                    if who and target and target != who
                    else who or str(target or NONE),
                    style="bold",
                ),
                Text(str(item.get("kind"))),
                Text(str(row.get("channel"))),
                Text(str(row.get("attempts", 0))),
                Text(str(why or ("due now" if not failed else "")), style="red" if failed else ""),
            ]
            lines.append((parse_time(when) or datetime.max.replace(tzinfo=UTC), cells))
    for _, cells in sorted(lines, key=lambda line: line[0]):
        table.add_row(*cells)
    console.print(table)
    total = int(page.get("total", len(items)))
    if total > len(items):
        console.print(f"Showing {len(items)} of {total}; raise --limit to see more.")


@incident_app.command("notifications")
def incident_notifications(
    incident_id: IncidentArg, limit: LimitOpt = 200, json_output: JsonOpt = False
) -> None:
    """Who was paged or told about an incident, when, and why."""
    with api() as client:
        page = client.get(incident_path(incident_id, "notifications"), params=[("limit", limit)])
    if json_output:
        print_json(page)
        return
    _print_notifications(page, with_incident=False)


# -- escalation controls ----------------------------------------------------------------------


def _last_event_id(client: ApiClient, incident_id: str) -> int:
    events = client.get(incident_path(incident_id, "timeline")).get("items", [])
    return max((int(e["id"]) for e in events), default=0)


def _control(incident_id: str, action: str, body: dict[str, Any], json_output: bool) -> None:
    """POST an escalation control and print what it put on the timeline (who was
    paged and why), which the incident object alone does not say."""
    with api() as client:
        before = 0 if json_output else _last_event_id(client, incident_id)
        incident = client.post(incident_path(incident_id, action), body)
        if json_output:
            print_json(incident)
            return
        ref = str(incident["id"])
        events = client.get(incident_path(ref, "timeline")).get("items", [])
    for event in events:
        if int(event["id"]) > before:
            say(Text(ref, style="bold"), " ", str(event.get("summary", "")))


@incident_app.command("escalate")
def escalate(
    incident_id: IncidentArg,
    tier: Annotated[
        int | None,
        typer.Option("--tier", min=1, help="Page this tier (1-based) now; default: the next."),
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the timeline.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Page the next escalation tier now (or a chosen tier)."""
    body = {k: v for k, v in (("tier", tier), ("reason", reason)) if v is not None}
    _control(incident_id, "escalate", body, json_output)


@incident_app.command("repage")
def repage(incident_id: IncidentArg, json_output: JsonOpt = False) -> None:
    """Page the current tier again and restart its timeout."""
    _control(incident_id, "repage", {}, json_output)


@incident_app.command("reassign")
def reassign(
    incident_id: IncidentArg,
    person: Annotated[str, typer.Argument(help="Who to page now.")],
    note: Annotated[
        str | None, typer.Option("--note", help="Sent with the page: why them, what to look at.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Page one chosen person now; the escalation goes on if they do not acknowledge."""
    body: dict[str, str] = {"person": person}
    if note:
        body["note"] = note
    _control(incident_id, "reassign", body, json_output)
