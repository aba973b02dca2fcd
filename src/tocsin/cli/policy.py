"""`tocsin policy validate|schema`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tocsin.cli.local import err, out
from tocsin.policy import PolicyError, load_policy, policy_json_schema

policy_app = typer.Typer(
    help="Check the policy file and export its JSON Schema.", no_args_is_help=True
)


@policy_app.command("validate")
def validate(path: Path = typer.Argument(Path("tocsin.yaml"), help="Policy file.")) -> None:
    """Print every error with its YAML path and line; exit 1 if there is any."""
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


@policy_app.command("schema")
def schema() -> None:
    """Print the policy's JSON Schema (for editors: yaml-language-server)."""
    typer.echo(json.dumps(policy_json_schema(), indent=2))
