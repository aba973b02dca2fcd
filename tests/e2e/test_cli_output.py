"""What the installed `tocsin` command prints into a pipe, against a real `tocsin serve`
in a directory `tocsin init` set up (the example policy).

Every table the commands print has upper-case headers (a time zone in brackets aside),
is as wide as its widest line (not padded out to a wide console's width), and no line
ends in spaces. `tocsin oncall --at` takes the times a person types and refuses the
others in its own words.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from tests.support.servers import (
    TOCSIN,
    clean_env,
    free_port,
    run_tocsin,
    start_server,
    stop_server,
)

RULE = re.compile(r"^─+$")
#: Rich pads the last column of a table (an empty flag column, say) by a few spaces at
#: most; a table stretched to a console's width would be far wider than its lines.
SLACK = 4
ZONE = "America/Los_Angeles"


@dataclass
class Workspace:
    directory: Path
    env: dict[str, str]

    def run(self, *args: str, stdin: str = "") -> str:
        result = subprocess.run(
            [TOCSIN, *args],
            cwd=self.directory,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"tocsin {' '.join(args)}:\n{result.stderr}"
        return result.stdout


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    directory = tmp_path_factory.mktemp("output")
    env = clean_env({"TZ": ZONE})
    port = free_port()
    init = run_tocsin("init", "--url", f"http://127.0.0.1:{port}", cwd=directory, env=env)
    assert init.returncode == 0, init.stderr
    server = start_server(directory, port, env, timeout=90)
    try:
        yield Workspace(directory, env)
    finally:
        stop_server(server)


def tables(output: str) -> list[tuple[str, int, list[str]]]:
    """Each table in ``output``: its header line, the length of the rule under it, and
    its lines (header and rows, up to a blank line or the next table's header)."""
    lines = output.splitlines()
    found = []
    for index, line in enumerate(lines):
        if index == 0 or not RULE.match(line):
            continue
        block = [lines[index - 1]]
        for row_index in range(index + 1, len(lines)):
            row = lines[row_index]
            following = lines[row_index + 1] if row_index + 1 < len(lines) else ""
            if not row.strip() or RULE.match(following):
                break
            block.append(row)
        found.append((lines[index - 1], len(line), block))
    return found


def convention_problems(command: str, output: str) -> list[str]:
    problems = [
        f"{command}: line {n} ends in spaces: {line!r}"
        for n, line in enumerate(output.splitlines(), 1)
        if line != line.rstrip()
    ]
    for header, width, block in tables(output):
        words = re.sub(r"\([^)]*\)", "", header)
        if words != words.upper():
            problems.append(f"{command}: header not in upper case: {header!r}")
        widest = max(len(line) for line in block)
        if width > widest + SLACK:
            problems.append(f"{command}: table {width} wide, its widest line {widest}")
    return problems


def test_tables_read_the_same_in_every_command(workspace: Workspace) -> None:
    ws = workspace
    ws.run("incident", "declare", "Checkout API 5xx", "-s", "sev2", "--service", "checkout-api")
    ws.run("incident", "ack", "INC-1")
    ws.run("incident", "update", "INC-1", "Rolling back deploy 4711", "--status", "identified")
    ws.run("schedule", "override", "platform-primary", "dana", "--start", "now", "--end", "+2h")
    ws.run("integration", "create", "checkout-api", "--kind", "generic")
    ws.run("silence", "add", "service=checkout-api", "-c", "deploy", "--duration", "1h")
    ws.run("user", "create", "rita", "--password-stdin", stdin="a long enough secret\n")
    ws.run("incident", "resolve", "INC-1", "Rolled back")
    ws.run("actions", "add", "INC-1", "Add a canary stage", "--owner", "alice")
    ws.run(
        "status", "maintenance", "create", "Database upgrade", "--from", "2030-01-05T10:00Z",
        "--until", "2030-01-05T11:00Z", "--body", "A short read-only window",
    )  # fmt: skip

    commands = [
        ("incident", "list", "--all"),
        ("incident", "show", "INC-1"),
        ("incident", "notifications", "INC-1"),
        ("notifications",),
        ("notifications", "pending"),
        ("notifications", "failed"),
        ("oncall",),
        ("schedule", "list"),
        ("schedule", "show", "ic-rotation", "--days", "3"),
        ("schedule", "overrides", "platform-primary"),
        ("integration", "list"),
        ("silence", "list"),
        ("alert", "list"),
        ("template", "list"),
        ("postmortem", "list"),
        ("actions", "list"),
        ("status", "incident", "list"),
        ("status", "maintenance", "list"),
        ("user", "list"),
        ("token", "list"),
    ]
    problems = []
    checked = 0
    for command in commands:
        output = ws.run(*command)
        problems += convention_problems(" ".join(command), output)
        checked += len(tables(output))
    assert checked >= 15, checked  # most commands printed a table
    assert not problems, "\n".join(problems)


def test_a_table_stretched_to_the_console_would_be_caught() -> None:
    padded = "ID   Title\n" + "─" * 200 + "\n1    x   \n"
    found = convention_problems("t", padded)
    assert len(found) == 3, found
    assert "ends in spaces" in found[0]
    assert "not in upper case" in found[1]
    assert "table 200 wide, its widest line 10" in found[2]


def _minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def test_oncall_at_takes_the_times_people_type(workspace: Workspace) -> None:
    zone = ZoneInfo(ZONE)

    def tomorrow() -> str:
        local = datetime.now(zone).replace(tzinfo=None) + timedelta(days=1)
        return _minute(local.replace(tzinfo=zone))

    before = tomorrow()
    shown = workspace.run("oncall", "--at", "tomorrow")
    assert re.search(rf"On call at ({re.escape(before)}|{re.escape(tomorrow())})", shown)

    answer = json.loads(workspace.run("oncall", "--at", "2026-03-05 09:00", "--json"))
    assert answer["at"].startswith("2026-03-05T17:00:00")  # 09:00 Pacific, winter time
    answer = json.loads(workspace.run("oncall", "--at", "2026-07-05T09:00+02:00", "--json"))
    assert answer["at"].startswith("2026-07-05T07:00:00")

    refused = run_tocsin(
        "oncall", "--at", "next tuesday", cwd=workspace.directory, env=workspace.env
    )
    assert refused.returncode == 1 and refused.stdout == ""
    assert "--at: 'next tuesday' is not a time" in refused.stderr
    assert "tomorrow" in refused.stderr and "2026-03-05T10:00Z" in refused.stderr
    assert "Input should be" not in refused.stderr  # the server's validation wording
