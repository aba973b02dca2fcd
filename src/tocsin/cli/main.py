"""The `tocsin` command.

Typer turns every registered command's signature into parameters before it runs any
of them: about 0.15 s for Tocsin's seventy commands, plus importing all their modules,
on each invocation. So :func:`main` (the console entry point) builds only the group of
the top-level command the command line names; help, completion and unknown commands get
the whole application. ``app`` (the whole application, built on first use) is what
tests and ``python -m`` use.

A registrar must import every module that adds commands to the groups it registers:
``tocsin incident escalate`` is defined beside ``tocsin oncall``, so the ``incident``
registrar imports that module too. The tests run every command's ``--help`` through the
installed executable, one process each, so a command only the whole application has is
caught.

Help texts are shown as written: Typer reads them as Rich markup, where a ``[word]`` or
``[/word]`` is a style tag (and an unmatched closing one an error), so the root group
escapes every help text of the tree before it is shown.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

if TYPE_CHECKING:
    from typer._click import Command

__all__ = ["application_for", "build", "main"]


def _admin(app: typer.Typer) -> None:
    from tocsin.cli.admin import init, migrate, serve, token_app, worker

    for command in (init, migrate, serve, worker):
        app.command()(command)
    app.add_typer(token_app, name="token")


def _policy(app: typer.Typer) -> None:
    from tocsin.cli.policy import policy_app

    app.add_typer(policy_app, name="policy")


def _incidents(app: typer.Typer) -> None:
    from tocsin.cli import hints, oncall  # noqa: F401  (adds hint, escalate, repage, reassign...)
    from tocsin.cli.incidents import incident_app

    app.add_typer(incident_app, name="incident")


def _status(app: typer.Typer) -> None:
    from tocsin.cli.statuspage import status_app

    app.add_typer(status_app, name="status")


def _templates(app: typer.Typer) -> None:
    from tocsin.cli.templates import template_app

    app.add_typer(template_app, name="template")


def _users(app: typer.Typer) -> None:
    from tocsin.cli.users import user_app

    app.add_typer(user_app, name="user")


def _oncall(app: typer.Typer) -> None:
    from tocsin.cli import calendars  # noqa: F401  (adds `tocsin schedule subscribe` ...)
    from tocsin.cli.oncall import register

    register(app)


def _metrics(app: typer.Typer) -> None:
    from tocsin.cli.metrics import register

    register(app)


def _postmortems(app: typer.Typer) -> None:
    from tocsin.cli import actions_jira  # noqa: F401  (adds `tocsin actions sync-jira`)
    from tocsin.cli.postmortems import register

    register(app)


def _alerts(app: typer.Typer) -> None:
    from tocsin.cli.alerts import register

    register(app)


def _changes(app: typer.Typer) -> None:
    from tocsin.cli.changes import register

    register(app)


def _drills(app: typer.Typer) -> None:
    from tocsin.cli.drills import register

    register(app)


def _importers(app: typer.Typer) -> None:
    from tocsin.cli.importers import import_app

    app.add_typer(import_app, name="import")


def _tasks(app: typer.Typer) -> None:
    from tocsin.cli.tasks import register

    register(app)


def _runbooks(app: typer.Typer) -> None:
    from tocsin.cli.runbooks import register

    register(app)


Registrar = Callable[[typer.Typer], None]

#: Each top-level command and the registrar that adds it (with its siblings).
GROUPS: dict[str, Registrar] = {
    "init": _admin,
    "migrate": _admin,
    "serve": _admin,
    "worker": _admin,
    "token": _admin,
    "policy": _policy,
    "incident": _incidents,
    "status": _status,
    "template": _templates,
    "user": _users,
    "oncall": _oncall,
    "schedule": _oncall,
    "notifications": _oncall,
    "metrics": _metrics,
    "slo": _metrics,
    "report": _metrics,
    "postmortem": _postmortems,
    "actions": _postmortems,
    "integration": _alerts,
    "alert": _alerts,
    "silence": _alerts,
    "change": _changes,
    "drill": _drills,
    "import": _importers,
    "task": _tasks,
    "diagnose": _runbooks,
    "playbook": _runbooks,
}


class LiteralHelpGroup(TyperGroup):
    """The ``tocsin`` group: every help text below it is escaped for Rich, so that
    ``external[/sub-category]`` is printed as it is written instead of failing."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        if self.rich_markup_mode == "rich":
            _escape_help(self)


def _escape_help(command: Command) -> None:
    for attribute in ("help", "short_help", "epilog"):
        text = getattr(command, attribute, None)
        if isinstance(text, str):
            setattr(command, attribute, escape(text))
    for param in command.params:
        text = getattr(param, "help", None)
        if isinstance(text, str):
            setattr(param, "help", escape(text))  # noqa: B010  (not every parameter has one)
    if isinstance(command, TyperGroup):
        for child in command.commands.values():
            _escape_help(child)


def build(only: str | None = None) -> typer.Typer:
    """The application; with ``only``, just the group that holds that top-level command."""
    application = typer.Typer(
        cls=LiteralHelpGroup,
        help="Tocsin: incidents, on-call paging and escalation, status page.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    registrars = [GROUPS[only]] if only in GROUPS else list(dict.fromkeys(GROUPS.values()))
    for register in registrars:
        register(application)
    return application


def _named_command(args: Sequence[str]) -> str | None:
    """The top-level command of a command line, when it is one Tocsin has."""
    first = args[0] if args else None
    return first if first in GROUPS else None


def application_for(args: Sequence[str]) -> typer.Typer:
    """What :func:`main` runs for the command line ``args`` (after ``tocsin``)."""
    return build(_named_command(args))


def main(args: Sequence[str] | None = None) -> Any:
    arguments = list(sys.argv[1:] if args is None else args)
    return application_for(arguments)(args=arguments, prog_name="tocsin")


_app: typer.Typer | None = None


def __getattr__(name: str) -> Any:
    global _app
    if name == "app":
        if _app is None:
            _app = build()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
