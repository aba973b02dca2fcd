"""A new user's first minutes: `tocsin init`, `tocsin serve`, then the README's commands.

Everything runs as separate processes through the installed `tocsin` entry point, in an
empty directory, with no TOCSIN_* variables: the CLI must find the server and its token
from what `init` wrote.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.pgcluster import PostgresCluster
from tests.support.servers import clean_env, free_port, run_tocsin, start_server, stop_server


class Workspace:
    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.env = env

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = run_tocsin(*args, cwd=self.directory, env=self.env)
        if ok:
            assert result.returncode == 0, f"tocsin {' '.join(args)}:\n{result.stderr}"
        return result


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    extra: dict[str, str] = {}
    if request.param == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        cluster.create_database("fresh_e2e")
        extra["TOCSIN_DATABASE_URL"] = cluster.url("fresh_e2e")
    port = free_port()
    ws = Workspace(tmp_path, clean_env(extra))
    init = ws.run("init", "--url", f"http://127.0.0.1:{port}")
    token = init.stdout.strip().splitlines()[-1]
    assert token.startswith("tcs_")
    server = start_server(tmp_path, port, ws.env)
    try:
        yield ws
    finally:
        output = stop_server(server)
        assert token not in output, "the server log must not show the token"
        if request.param == "postgres":
            cluster.drop_database("fresh_e2e")


def test_init_writes_a_valid_policy_and_private_credentials(workspace: Workspace) -> None:
    creds = workspace.directory / ".tocsin" / "credentials.json"
    assert creds.stat().st_mode & 0o077 == 0
    assert workspace.run("policy", "validate", "tocsin.yaml").returncode == 0


def test_the_readme_walkthrough(workspace: Workspace) -> None:
    declared = workspace.run(
        "incident",
        "declare",
        "Checkout API 5xx",
        "--severity",
        "sev2",
        "--service",
        "checkout-api",
    )
    assert "INC-1" in declared.stdout

    listed = json.loads(workspace.run("incident", "list", "--json").stdout)
    assert [(i["id"], i["status"], i["severity"]) for i in listed["items"]] == [
        ("INC-1", "triggered", "SEV2")
    ]
    assert "Checkout API 5xx" in workspace.run("incident", "list").stdout

    workspace.run("incident", "ack", "INC-1")
    workspace.run(
        "incident",
        "update",
        "INC-1",
        "--status",
        "identified",
        "Bad deploy 4711, rolling back",
        "--public",
    )
    workspace.run("incident", "assign", "INC-1", "--role", "commander", "alice")
    workspace.run("incident", "resolve", "INC-1", "Rolled back")

    shown = json.loads(workspace.run("incident", "show", "INC-1", "--json").stdout)
    incident = shown
    assert incident["status"] == "resolved"
    assert incident["roles"] == {"commander": ["alice"]}

    human = workspace.run("incident", "show", "INC-1").stdout
    for expected in (
        "Checkout API 5xx",
        "resolved",
        "Bad deploy 4711, rolling back",
        "alice",
        "Rolled back",
    ):
        assert expected in human

    again = workspace.run("incident", "ack", "INC-1", ok=False)
    assert again.returncode == 1
    assert "closed" in again.stderr  # the allowed move from resolved is named


def test_a_bad_policy_is_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "tocsin.yaml").write_text("severities:\n  - name: SEV1\n    respond_within: soon\n")
    result = run_tocsin("serve", "--port", str(free_port()), cwd=tmp_path, env=clean_env())
    assert result.returncode == 1
    assert "respond_within" in result.stderr
    assert ":3:" in result.stderr  # the line of the bad value
