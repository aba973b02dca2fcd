"""The `tocsin` command."""

from __future__ import annotations

import typer

from tocsin.cli import actions_jira  # noqa: F401  (adds `tocsin actions sync-jira`)
from tocsin.cli.admin import init, migrate, serve, token_app, worker
from tocsin.cli.alerts import register as register_alerts
from tocsin.cli.incidents import incident_app
from tocsin.cli.metrics import register as register_metrics
from tocsin.cli.oncall import register as register_oncall
from tocsin.cli.policy import policy_app
from tocsin.cli.postmortems import register as register_postmortems
from tocsin.cli.statuspage import status_app
from tocsin.cli.templates import template_app
from tocsin.cli.users import user_app

app = typer.Typer(
    help="Tocsin: incidents, on-call paging and escalation, status page.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(init)
app.command()(migrate)
app.command()(serve)
app.command()(worker)
app.add_typer(token_app, name="token")
app.add_typer(policy_app, name="policy")
app.add_typer(incident_app, name="incident")
app.add_typer(status_app, name="status")
app.add_typer(template_app, name="template")
app.add_typer(user_app, name="user")
register_oncall(app)
register_metrics(app)
register_postmortems(app)
register_alerts(app)

if __name__ == "__main__":
    app()
