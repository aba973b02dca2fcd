"""Rules of the CLI's own, checked on their pure parts: the times `--at` takes, the order
of `tocsin notifications failed`, help texts shown as written, and the address the CLI
is given for a server's listening address. (The installed command is exercised in
tests/e2e/test_installed_cli.py, test_cli_output.py and test_cli_setup.py.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import typer
from typer.testing import CliRunner

from tocsin.cli.local import cli_url
from tocsin.cli.main import LiteralHelpGroup
from tocsin.cli.oncall import _print_deliveries
from tocsin.cli.times import parse_instant

PACIFIC = ZoneInfo("America/Los_Angeles")
#: Saturday 2026-03-07 10:00 in Los Angeles (PST); clocks go forward on Sunday at 02:00.
NOW = datetime(2026, 3, 7, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("now", "2026-03-07T18:00"),
        ("Today", "2026-03-07T18:00"),
        ("tomorrow", "2026-03-08T17:00"),  # 10:00 again, now PDT: 23 hours later
        ("yesterday", "2026-03-06T18:00"),
        ("tomorrow 09:00", "2026-03-08T16:00"),
        ("09:00", "2026-03-07T17:00"),
        ("+2h", "2026-03-07T20:00"),
        ("-30m", "2026-03-07T17:30"),
        ("in 1d", "2026-03-08T18:00"),  # elapsed time: 24 hours
        ("3h ago", "2026-03-07T15:00"),
        ("+1h30m", "2026-03-07T19:30"),
        ("2026-03-10", "2026-03-10T07:00"),  # midnight PDT
        ("2026-03-08 02:30", "2026-03-08T10:30"),  # skipped: read as PST, i.e. 03:30 PDT
        ("2026-11-01 01:30", "2026-11-01T08:30"),  # twice: the first (PDT)
        ("2026-03-05T10:00", "2026-03-05T18:00"),
        ("2026-03-05T10:00Z", "2026-03-05T10:00"),
        ("2026-03-05t10:00z", "2026-03-05T10:00"),
        ("2026-03-05 10:00+01:00", "2026-03-05T09:00"),
    ],
)
def test_times_people_type(typed: str, expected: str) -> None:
    found = parse_instant(typed, NOW, PACIFIC)
    assert found.tzinfo == UTC
    assert found.isoformat().startswith(expected + ":00")


@pytest.mark.parametrize("typed", ["next tuesday", "25:00", "tomorrow 9", "+2x", "", "soon"])
def test_other_times_are_refused_with_the_forms_that_work(typed: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_instant(typed, NOW, PACIFIC)
    message = str(refused.value)
    assert "tomorrow" in message and "2026-03-05T10:00Z" in message
    if typed:
        assert repr(typed) in message


def _failed(incident: str, person: str, when: str) -> dict[str, object]:
    return {
        "incident_id": incident,
        "person": person,
        "kind": "page",
        "channel": "sms",
        "due_at": "2026-03-02T09:00:00+00:00",
        "attempts": 3,
        "last_error": f"{person}: carrier refused",
        "deliveries": [
            {
                "channel": "sms",
                "target": "+15550100",
                "state": "failed",
                "attempts": 3,
                "due_at": "2026-03-02T09:00:00+00:00",
                "started_at": when,
                "last_error": f"{person}: carrier refused",
            }
        ],
    }


def test_failed_notifications_are_listed_by_when_they_failed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The API lists notifications by id; a page retried for longer fails after later
    ones, and the dead letters read as a log: oldest first."""
    page = {
        "items": [
            _failed("INC-1", "alice", "2026-03-02T09:20:00+00:00"),
            _failed("INC-2", "bob", "2026-03-02T09:05:00+00:00"),
            _failed("INC-3", "carol", "2026-03-02T09:12:00+00:00"),
        ],
        "total": 3,
    }
    _print_deliveries(page, failed=True)
    rows = [line for line in capsys.readouterr().out.splitlines() if "carrier refused" in line]
    assert [row.split()[:3] for row in rows] == [
        ["2026-03-02", "09:05:00Z", "INC-2"],
        ["2026-03-02", "09:12:00Z", "INC-3"],
        ["2026-03-02", "09:20:00Z", "INC-1"],
    ]


def test_help_texts_are_shown_as_written() -> None:
    """Square brackets in a help text are not Rich markup: ``[/x]`` alone used to end
    the program with a MarkupError, ``[bold]`` vanished."""
    application = typer.Typer(cls=LiteralHelpGroup)

    @application.command("edit")
    def edit(
        category: str = typer.Option("", help="technical or external[/SUB-CATEGORY]."),
    ) -> None:
        """Edit [bold]this[/bold] post-mortem."""

    @application.command("other")
    def other() -> None:
        """Another command."""

    result = CliRunner().invoke(application, ["edit", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "external[/SUB-CATEGORY]." in result.output
    assert "Edit [bold]this[/bold] post-mortem." in result.output


@pytest.mark.parametrize(
    ("host", "tls", "url"),
    [
        ("127.0.0.1", False, "http://127.0.0.1:9000"),
        ("0.0.0.0", False, "http://127.0.0.1:9000"),
        ("::", True, "https://[::1]:9000"),
        ("::1", False, "http://[::1]:9000"),
        ("tocsin.internal", True, "https://tocsin.internal:9000"),
    ],
)
def test_the_cli_is_given_an_address_it_can_reach(host: str, tls: bool, url: str) -> None:
    assert cli_url(host, 9000, tls=tls) == url
