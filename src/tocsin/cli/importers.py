"""`tocsin import opsgenie|pagerduty|grafana-oncall`: people, schedules and escalation
policies from another product's API into the policy file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from tocsin.cli.local import err, out

if TYPE_CHECKING:
    from tocsin.importers.draft import Draft
    from tocsin.importers.http import SourceApi

__all__ = ["import_app", "opsgenie_url"]

import_app = typer.Typer(
    help="Import people, teams, schedules, escalation policies, services and maintenance "
    "windows from Opsgenie, PagerDuty or Grafana OnCall into a policy file.",
    no_args_is_help=True,
)

_OUTPUT = typer.Option(
    Path("tocsin.yaml"), "--output", "-o", help="Policy file to write (a new file unless --merge)."
)
_MERGE = typer.Option(
    False, "--merge", help="Add to the existing file: what it has already is kept."
)
_DRY_RUN = typer.Option(False, "--dry-run", help="Print the change as a diff; write nothing.")
_TOKEN_FILE = typer.Option(
    None, "--token-file", help="File whose first line is the API token (instead of --token-env)."
)
_SINCE = typer.Option(
    None,
    "--since",
    help="Instant the import is for (ISO 8601; default now): older overrides "
    "and maintenance windows are left out.",
)
_WEEKS = typer.Option(12, "--weeks", min=1, max=104, help="How far ahead to read overrides.")
_REPORT = typer.Option(None, "--report", help="Also write the report to this file.")


def opsgenie_url(api_url: str | None, eu: bool) -> str:
    """``--api-url`` if given, else Opsgenie's EU or US host."""
    from tocsin.importers import opsgenie as source

    return api_url or (source.EU_API_URL if eu else source.API_URL)


def _since(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 instant, e.g. 2027-03-01T00:00:00Z",
            param_hint="--since",
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _run(
    product: str,
    fetch: Callable[[SourceApi, datetime, datetime], Draft],
    api_url: str,
    header: Callable[[str], str],
    token_env: str,
    token_file: Path | None,
    *,
    accept: str = "application/json",
    output: Path,
    merge: bool,
    dry_run: bool,
    since: str | None,
    weeks: int,
    report: Path | None,
) -> None:
    from tocsin.importers.http import ImportFailed, SourceApi, read_token
    from tocsin.importers.policyfile import plan_change, write_change
    from tocsin.importers.report import render_report

    start = _since(since)
    try:
        token = read_token(token_env, token_file, product)
        with SourceApi(product, api_url, header(token), accept=accept) as api:
            draft = fetch(api, start, start + timedelta(weeks=weeks))
        change = plan_change(draft, output, merge)
    except ImportFailed as exc:
        err.print(Text.assemble(("error: ", "bold red"), str(exc)))
        raise typer.Exit(1) from None
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        # An answer of a shape the importer does not know: say so, without a traceback.
        message = f"{product}'s API answered something this import cannot read ({exc!r})"
        err.print(Text.assemble(("error: ", "bold red"), message))
        raise typer.Exit(1) from None
    text = render_report(draft, change.undefined_channels)
    if dry_run:
        out.print(change.diff() or f"{output}: nothing would change", markup=False, highlight=False)
    else:
        write_change(change)
        out.print(f"wrote {output}", markup=False, highlight=False)
    out.print(text, markup=False, highlight=False, end="")
    if report is not None:
        report.write_text(text, encoding="utf-8")


@import_app.command("opsgenie")
def opsgenie(
    api_url: str | None = typer.Option(
        None, "--api-url", help="Opsgenie's API (default https://api.opsgenie.com)."
    ),
    eu: bool = typer.Option(False, "--eu", help="The EU instance, https://api.eu.opsgenie.com."),
    token_env: str = typer.Option(
        "OPSGENIE_API_KEY", "--token-env", help="Variable holding an API integration's key."
    ),
    token_file: Path | None = _TOKEN_FILE,
    output: Path = _OUTPUT,
    merge: bool = _MERGE,
    dry_run: bool = _DRY_RUN,
    since: str | None = _SINCE,
    weeks: int = _WEEKS,
    report: Path | None = _REPORT,
) -> None:
    """Import from Opsgenie (authenticates with `GenieKey <key>`)."""
    from tocsin.importers import opsgenie as source

    url = opsgenie_url(api_url, eu)
    _run(
        "Opsgenie",
        source.import_opsgenie,
        url,
        source.auth_header,
        token_env,
        token_file,
        output=output,
        merge=merge,
        dry_run=dry_run,
        since=since,
        weeks=weeks,
        report=report,
    )


@import_app.command("pagerduty")
def pagerduty(
    api_url: str = typer.Option(
        "https://api.pagerduty.com", "--api-url", help="PagerDuty's REST API."
    ),
    token_env: str = typer.Option(
        "PAGERDUTY_API_TOKEN", "--token-env", help="Variable holding a REST API key."
    ),
    token_file: Path | None = _TOKEN_FILE,
    output: Path = _OUTPUT,
    merge: bool = _MERGE,
    dry_run: bool = _DRY_RUN,
    since: str | None = _SINCE,
    weeks: int = _WEEKS,
    report: Path | None = _REPORT,
) -> None:
    """Import from PagerDuty's REST API v2 (authenticates with `Token token=<key>`)."""
    from tocsin.importers import pagerduty as source

    _run(
        "PagerDuty",
        source.import_pagerduty,
        api_url,
        source.auth_header,
        token_env,
        token_file,
        accept=source.ACCEPT,
        output=output,
        merge=merge,
        dry_run=dry_run,
        since=since,
        weeks=weeks,
        report=report,
    )


@import_app.command("grafana-oncall")
def grafana_oncall(
    api_url: str = typer.Option(
        ...,
        "--api-url",
        help="The stack's OnCall API URL, as its settings page shows it (without /api/v1).",
    ),
    token_env: str = typer.Option(
        "GRAFANA_ONCALL_TOKEN", "--token-env", help="Variable holding an OnCall API token."
    ),
    token_file: Path | None = _TOKEN_FILE,
    output: Path = _OUTPUT,
    merge: bool = _MERGE,
    dry_run: bool = _DRY_RUN,
    since: str | None = _SINCE,
    weeks: int = _WEEKS,
    report: Path | None = _REPORT,
) -> None:
    """Import from Grafana OnCall (authenticates with the token as `Authorization`)."""
    from tocsin.importers import grafana_oncall as source

    _run(
        "Grafana OnCall", source.import_grafana_oncall, api_url, source.auth_header, token_env,
        token_file, output=output, merge=merge, dry_run=dry_run, since=since, weeks=weeks,
        report=report,
    )  # fmt: skip
