"""``tocsin schedule subscribe|unsubscribe|subscriptions``: read-only calendar URLs of
schedules (clients of ``/api/v1/schedules/{name}/subscriptions`` and
``/api/v1/calendar-subscriptions``).

A calendar URL carries a token that opens one schedule's feed and nothing else; API
tokens do not open feeds. Subscribing again replaces the caller's URL for that schedule.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tocsin.cli.incidents import API, JsonOpt, api
from tocsin.cli.oncall import ScheduleArg, schedule_app
from tocsin.cli.output import fail, format_time, get_console, print_json, say

__all__ = ["subscribe", "subscriptions", "unsubscribe"]


def _path(name: str) -> str:
    return f"{API}/schedules/{quote(name.strip(), safe='')}/subscriptions"


@schedule_app.command("subscribe")
def subscribe(name: ScheduleArg, json_output: JsonOpt = False) -> None:
    """Print a read-only calendar URL of a schedule, shown once.

    Add it to Google, Apple or Outlook calendars. It opens this schedule's calendar and
    nothing else, and replaces your earlier URL for the schedule (which stops working).
    """
    with api() as client:
        created = client.post(_path(name))
    if json_output:
        print_json(created)
        return
    if created.get("replaced"):
        say("Your earlier calendar URL for this schedule no longer works.")
    say(
        f"Subscription {created['id']} to {created['schedule']}: add this URL to your "
        "calendar app. It is shown once, opens this schedule's calendar only, and stops "
        f"working with 'tocsin schedule unsubscribe {created['schedule']}'."
    )
    typer.echo(str(created["url"]))


@schedule_app.command("unsubscribe")
def unsubscribe(
    name: Annotated[
        str | None,
        typer.Argument(metavar="[SCHEDULE]", help="Revoke your own URL for this schedule."),
    ] = None,
    subscription_id: Annotated[
        int | None,
        typer.Option("--id", min=1, help="Revoke this subscription (anyone's, for an admin)."),
    ] = None,
) -> None:
    """Revoke a calendar URL: yours for SCHEDULE, or one by --id."""
    if (name is None) == (subscription_id is None):
        fail("name a SCHEDULE (your own URL) or give --id N, not both")
    with api() as client:
        if subscription_id is not None:
            client.delete(f"{API}/calendar-subscriptions/{subscription_id}")
            say(f"Revoked calendar subscription {subscription_id}: its URL no longer works.")
            return
        assert name is not None
        client.delete(_path(name))
    say(f"Revoked your calendar URL for {name}: it no longer works.")


@schedule_app.command("subscriptions")
def subscriptions(
    schedule: Annotated[
        str | None, typer.Option("--schedule", help="Only this schedule's.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """List live calendar URLs (yours; an admin sees everyone's), never their tokens."""
    params = [("schedule", schedule)] if schedule else []
    with api() as client:
        answer = client.get(f"{API}/calendar-subscriptions", params=params)
    if json_output:
        print_json(answer)
        return
    items = answer.get("items", [])
    if not items:
        say("No calendar subscriptions.")
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("ID", "SCHEDULE", "OWNER", "TOKEN", "CREATED (UTC)", "BY"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(
            Text(str(item["id"]), style="bold"),
            Text(str(item["schedule"])),
            Text(str(item["owner"])),
            Text(f"{item['token_prefix']}…"),
            Text(format_time(item.get("created_at"))),
            Text(str(item.get("created_by") or "")),
        )
    get_console().print(table)
