"""``tocsin integration ...``, ``tocsin alert ...`` and ``tocsin silence ...``.

Clients of the REST API like ``tocsin incident``: human output by default, the API's
JSON with ``--json``, refusals on stderr with exit code 1, an unreachable server 2.
``tocsin integration create`` prints the new key on its last line (and nowhere else),
so that a script can take it with ``tail -n 1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tocsin.cli.incidents import API, JsonOpt, api
from tocsin.cli.output import fail, format_age, format_time, get_console, print_json, say

__all__ = ["alert_app", "integration_app", "register", "silence_app"]

integration_app = typer.Typer(
    help="Inbound integrations: the keys monitoring tools send alerts with.",
    no_args_is_help=True,
)
alert_app = typer.Typer(help="Alerts received from monitoring.", no_args_is_help=True)
silence_app = typer.Typer(
    help="Silences: matching alerts are stored but page nobody.", no_args_is_help=True
)

#: Where each kind of integration sends to (``<key>`` stands for the key).
_ENDPOINTS = {
    "alertmanager": "/api/v1/integrations/<key>/alertmanager",
    "grafana": "/api/v1/integrations/<key>/grafana",
    "generic": "/api/v1/integrations/<key>/events",
    "pagerduty": "/v2/enqueue and /v2/change/enqueue  (routing_key = <key>)",
    "opsgenie": "/v2/alerts  (Authorization: GenieKey <key>)",
    "heartbeat": "/api/v1/heartbeats/<key>",
    "changes": "/api/v1/changes (Authorization: Bearer <key>) and "
    "/api/v1/integrations/<key>/github",
}


def register(app: typer.Typer) -> None:
    """Add ``integration``, ``alert`` and ``silence`` to the ``tocsin`` command."""
    app.add_typer(integration_app, name="integration")
    app.add_typer(alert_app, name="alert")
    app.add_typer(silence_app, name="silence")


def _table(*columns: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _cell(value: Any) -> Text:
    return Text("—" if value is None or value == "" else str(value))


# -- integrations ------------------------------------------------------------------------


@integration_app.command("create")
def integration_create(
    service: Annotated[str, typer.Argument(help="The service its alerts are for.")],
    kind: Annotated[
        str,
        typer.Option(
            "--kind", "-k", help="alertmanager, grafana, pagerduty, opsgenie, generic or heartbeat."
        ),
    ],
    name: Annotated[
        str | None, typer.Option("--name", help="Unique name (default: SERVICE-KIND).")
    ] = None,
    heartbeat_interval: Annotated[
        str | None,
        typer.Option("--heartbeat-interval", help="Heartbeat kind: a ping expected every D."),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Create an integration; its key is printed once, on the last line."""
    body: dict[str, Any] = {"name": name or f"{service}-{kind}", "service": service, "kind": kind}
    if heartbeat_interval is not None:
        body["heartbeat_interval"] = heartbeat_interval
    with api() as client:
        created = client.post(f"{API}/integrations", body)
        base = client.url
    if json_output:
        print_json(created)
        return
    say(f"Created {created['kind']} integration {created['name']!r} for {created['service']}.")
    endpoint = _ENDPOINTS.get(str(created["kind"]))
    if endpoint:
        say(f"Send to: {base}{endpoint}")
    say("The key is shown once; store it now (e.g. in your monitoring's secret store):")
    typer.echo(str(created["key"]))


@integration_app.command("list")
def integration_list(json_output: JsonOpt = False) -> None:
    """List integrations (never their keys; the prefix tells them apart)."""
    with api() as client:
        page = client.get(f"{API}/integrations")
    if json_output:
        print_json(page)
        return
    items: Sequence[Mapping[str, Any]] = page.get("items", [])
    if not items:
        say("No integrations yet: tocsin integration create SERVICE --kind KIND")
        return
    table = _table("ID", "NAME", "SERVICE", "KIND", "KEY", "LAST SEEN", "STATE")
    for item in items:
        state = "disabled" if item.get("disabled_at") else "enabled"
        table.add_row(
            _cell(item["id"]),
            _cell(item["name"]),
            _cell(item["service"]),
            _cell(item["kind"]),
            _cell(f"{item['key_prefix']}…"),
            _cell(format_age(item.get("last_seen_at")) if item.get("last_seen_at") else None),
            _cell(state),
        )
    get_console().print(table)


@integration_app.command("disable")
def integration_disable(
    integration: Annotated[str, typer.Argument(metavar="ID|NAME")], json_output: JsonOpt = False
) -> None:
    """Disable an integration: its key is refused from now on (its alerts stay)."""
    with api() as client:
        disabled = client.delete(f"{API}/integrations/{quote(integration, safe='')}")
    if json_output:
        print_json(disabled)
        return
    say(f"Disabled integration {disabled['name']!r}; its key is refused from now on.")


# -- alerts ------------------------------------------------------------------------------


@alert_app.command("list")
def alert_list(
    status: Annotated[str | None, typer.Option("--status", help="firing or resolved.")] = None,
    service: Annotated[str | None, typer.Option("--service", help="Only this service.")] = None,
    incident: Annotated[
        str | None, typer.Option("--incident", help="Only alerts linked to INC-n.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=500)] = 50,
    offset: Annotated[
        int, typer.Option("--offset", min=0, help="Skip this many (to page through a storm).")
    ] = 0,
    json_output: JsonOpt = False,
) -> None:
    """List alerts, most recently fired first."""
    params: list[tuple[str, str | int]] = [
        (k, v) for k, v in (("status", status), ("service", service), ("incident", incident)) if v
    ]
    params.append(("limit", limit))
    if offset:
        params.append(("offset", offset))
    with api() as client:
        page = client.get(f"{API}/alerts", params=params)
    if json_output:
        print_json(page)
        return
    items: Sequence[Mapping[str, Any]] = page.get("items", [])
    if not items:
        say("No alerts match.")
        return
    table = _table("ID", "STATUS", "SEV", "SERVICE", "TITLE", "COUNT", "OUTCOME", "INCIDENT")
    table.add_column("LAST SEEN", justify="right", no_wrap=True)
    for item in items:
        table.add_row(
            _cell(item["id"]),
            _cell(item["status"]),
            _cell(item["severity"]),
            _cell(item.get("service")),
            _cell(item["title"]),
            _cell(item["occurrences"]),
            _cell(item["outcome"]),
            _cell(item.get("incident")),
            _cell(format_age(item.get("last_seen_at"))),
        )
    console = get_console()
    console.print(table)
    total = int(page.get("total", len(items)))
    if total > len(items):
        end = offset + len(items)
        console.print(
            f"Showing {offset + 1}-{end} of {total} alerts; --offset {end} shows the next ones."
        )


# -- silences ----------------------------------------------------------------------------


@silence_app.command("add")
def silence_add(
    matchers: Annotated[
        list[str],
        typer.Argument(
            metavar="MATCHER...", help="Label matchers, all must fit: 'service=checkout-api'."
        ),
    ],
    comment: Annotated[str, typer.Option("--comment", "-c", help="Why (shown to responders).")],
    duration: Annotated[
        str | None, typer.Option("--duration", "-d", help="How long, e.g. 2h or 1h30m.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="When it ends (ISO-8601 with offset).")
    ] = None,
    starts: Annotated[
        str | None, typer.Option("--starts", help="When it starts (default: now).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Silence alerts matching every MATCHER for --duration, or --until a time."""
    if (duration is None) == (until is None):
        fail("give either --duration or --until")
    body: dict[str, Any] = {"matchers": matchers, "comment": comment}
    body.update({k: v for k, v in (("duration", duration), ("ends_at", until)) if v})
    if starts:
        body["starts_at"] = starts
    with api() as client:
        silence = client.post(f"{API}/silences", body)
    if json_output:
        print_json(silence)
        return
    say(
        f"Silence {silence['id']} ({silence['state']}) until "
        f"{format_time(silence['ends_at'])}: {', '.join(silence['matchers'])}"
    )


@silence_app.command("list")
def silence_list(
    state: Annotated[
        str, typer.Option("--state", help="active, pending, expired or all.")
    ] = "active",
    json_output: JsonOpt = False,
) -> None:
    """List silences (active ones unless --state)."""
    with api() as client:
        page = client.get(f"{API}/silences", params=[("state", state)])
    if json_output:
        print_json(page)
        return
    items: Sequence[Mapping[str, Any]] = page.get("items", [])
    if not items:
        say(f"No {state} silences." if state != "all" else "No silences.")
        return
    table = _table("ID", "STATE", "MATCHERS", "STARTS", "ENDS", "BY", "COMMENT")
    for item in items:
        table.add_row(
            _cell(item["id"]),
            _cell(item["state"]),
            _cell(", ".join(item["matchers"])),
            _cell(format_time(item["starts_at"])),
            _cell(format_time(item["ends_at"])),
            _cell(item["created_by"]),
            _cell(item["comment"]),
        )
    get_console().print(table)


@silence_app.command("expire")
def silence_expire(
    silence_id: Annotated[int, typer.Argument(metavar="ID", min=1)], json_output: JsonOpt = False
) -> None:
    """End a silence now."""
    with api() as client:
        silence = client.delete(f"{API}/silences/{silence_id}")
    if json_output:
        print_json(silence)
        return
    say(f"Silence {silence['id']} expired.")
