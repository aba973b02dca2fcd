"""`tocsin policy validate|schema`, and the policy warnings shown at start-up."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.text import Text

from tocsin.cli.local import err, out

if TYPE_CHECKING:
    from tocsin.policy import Policy

__all__ = ["policy_app", "print_policy_warnings"]

policy_app = typer.Typer(
    help="Check the policy file and export its JSON Schema.", no_args_is_help=True
)


def print_policy_warnings(policy: Policy, now: datetime, console: Console | None = None) -> int:
    """Print each warning of ``policy`` (a valid policy that can still miss a page) as
    ``warning: PATH: MESSAGE`` in yellow, on stderr by default; return how many.

    Called by ``policy validate`` and when ``serve`` and ``worker`` start; the channel
    checks read this process's environment.
    """
    from tocsin.oncall.warnings import policy_warnings

    found = policy_warnings(policy, now, os.environ)
    for warning in found:
        (console or err).print(
            Text.assemble(
                ("warning:", "bold yellow"), (f" {warning.path}: ", "yellow"), warning.message
            )
        )
    return len(found)


@policy_app.command("validate")
def validate(path: Path = typer.Argument(Path("tocsin.yaml"), help="Policy file.")) -> None:
    """Print every error with its YAML path and line; exit 1 if there is any. Warnings
    (gaps in schedules, tiers that reach nobody...) are printed too but do not fail."""
    from tocsin.clock import SystemClock
    from tocsin.policy import PolicyError, load_policy

    try:
        policy = load_policy(path)
    except PolicyError as exc:
        err.print(f"[red]{len(exc.issues)} error(s) in {path}:[/red]")
        for line in str(exc).splitlines():
            err.print(line, markup=False, highlight=False)
        raise typer.Exit(1) from None
    out.print(
        f"{path}: OK — {len(policy.severities)} severities, {len(policy.services)} services, "
        f"{len(policy.teams)} teams, {len(policy.people)} people"
    )
    print_policy_warnings(policy, SystemClock().now())


@policy_app.command("schema")
def schema() -> None:
    """Print the policy's JSON Schema (for editors: yaml-language-server)."""
    from tocsin.policy import policy_json_schema

    typer.echo(json.dumps(policy_json_schema(), indent=2))
