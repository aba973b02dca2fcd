"""Running `tocsin ...` commands in-process against a live server, as one user."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from typer.testing import CliRunner, Result

from tocsin.cli.main import app


@dataclass
class Cli:
    """Runs `tocsin ...` as one user; every output is checked for the token. ``prefix``
    is put before every command's arguments (``("incident",)`` runs `tocsin incident ...`)."""

    url: str
    token: str
    prefix: tuple[str, ...] = ()
    runner: CliRunner = field(default_factory=CliRunner)

    def __call__(self, *args: str) -> Result:
        result = self.runner.invoke(
            app,
            [*self.prefix, *args],
            env={"TOCSIN_URL": self.url, "TOCSIN_TOKEN": self.token, "NO_COLOR": "1"},
            catch_exceptions=False,
        )
        assert self.token not in result.output
        return result

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def refused(self, *args: str, code: int = 1) -> str:
        result = self(*args)
        assert result.exit_code == code, result.output
        assert result.stdout == ""
        return result.stderr
