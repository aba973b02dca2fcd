"""Setting up with the installed `tocsin` command: where the CLI finds the server, what
the local admin commands do outside a set-up directory, `make run`'s address, and
`tocsin user create` as a script or a person without a terminal runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.servers import TOCSIN, clean_env, run_tocsin, stop_server
from tests.support.waiting import wait_for

from tocsin.auth.users import sign_in
from tocsin.db import SessionFactory, create_db_engine

ROOT = Path(__file__).resolve().parents[2]
SECRET = "a long enough secret"


def credentials(directory: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads((directory / ".tocsin" / "credentials.json").read_text())
    return data


@pytest.fixture
def initialised(tmp_path: Path) -> Path:
    """A directory `tocsin init` set up, with its default CLI address."""
    directory = tmp_path / "ops"
    directory.mkdir()
    result = run_tocsin("init", cwd=directory, env=clean_env())
    assert result.returncode == 0, result.stderr
    assert credentials(directory)["url"] == "http://127.0.0.1:8080"
    return directory


@pytest.fixture
def served(initialised: Path) -> Iterator[tuple[Path, str]]:
    """`tocsin serve --port 0` there: the port the system gave it, read from where the
    CLI reads it."""
    process = subprocess.Popen(
        [TOCSIN, "serve", "--port", "0", "--no-worker"],
        cwd=initialised,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = wait_for(
            lambda: (u := credentials(initialised)["url"]) != "http://127.0.0.1:8080" and u,
            60,
            "serve writes its address",
        )
        wait_for(lambda: _ready(url), 60, "the server answers")
        yield initialised, url
    finally:
        output = stop_server(process)
        assert credentials(initialised)["token"] not in output


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_the_cli_follows_serve_to_the_port_it_listens_on(
    served: tuple[Path, str], tmp_path: Path
) -> None:
    directory, url = served
    assert url.startswith("http://127.0.0.1:") and int(url.rsplit(":", 1)[1]) > 0
    assert (directory / ".tocsin" / "credentials.json").stat().st_mode & 0o077 == 0
    declared = run_tocsin(
        "incident", "declare", "Disk full", "-s", "sev3", cwd=directory, env=clean_env()
    )
    assert declared.returncode == 0, declared.stderr
    assert "INC-1" in declared.stdout

    # A second server cannot take the same address: it says so, and the CLI of its
    # directory keeps the address it had.
    other = tmp_path / "other"
    other.mkdir()
    assert (
        run_tocsin("init", "--url", "http://127.0.0.1:9", cwd=other, env=clean_env()).returncode
        == 0
    )
    port = url.rsplit(":", 1)[1]
    refused = run_tocsin("serve", "--port", port, cwd=other, env=clean_env())
    assert refused.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert credentials(other)["url"] == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (("token", "create", "ops", "--role", "responder"), "No Tocsin set-up here"),
        (("token", "list"), "No Tocsin set-up here"),
        (("user", "list"), "No Tocsin set-up here"),
        (("user", "create", "alice", "--password-stdin"), "No Tocsin set-up here"),
        (("migrate",), "No Tocsin set-up here"),
        (("serve", "--port", "0"), "No policy file tocsin.yaml"),
        (("worker",), "No policy file tocsin.yaml"),
    ],
)
def test_local_commands_refuse_to_create_a_database_outside_a_setup(
    tmp_path: Path, command: tuple[str, ...], says: str
) -> None:
    result = subprocess.run(
        [TOCSIN, *command],
        cwd=tmp_path,
        env=clean_env(),
        input=f"{SECRET}\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout
    assert says in result.stderr and "tocsin init" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # no .tocsin/, no database


def test_in_a_subdirectory_the_hint_names_the_setup_above(initialised: Path) -> None:
    below = initialised / "runbooks"
    below.mkdir()
    result = run_tocsin("token", "create", "ops", cwd=below, env=clean_env())
    assert result.returncode == 1
    assert f"The nearest set-up is in {initialised}" in " ".join(result.stderr.split())
    assert not (below / ".tocsin").exists()
    # Where it was set up, the same command works.
    made = run_tocsin("token", "create", "ops", cwd=initialised, env=clean_env())
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().splitlines()[-1].startswith("tcs_")
    nobody = run_tocsin(
        "token", "create", "bot", "--person", "nobody-here", cwd=initialised, env=clean_env()
    )
    assert nobody.returncode == 1 and "no person named 'nobody-here'" in nobody.stderr


def test_user_create_checks_the_person_and_reads_the_first_line_of_stdin(
    initialised: Path,
) -> None:
    def create(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TOCSIN, "user", "create", *args],
            cwd=initialised,
            env=clean_env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    nobody = create("rita", "--person", "nobody-here", "--password-stdin", stdin=f"{SECRET}\n")
    assert nobody.returncode == 1
    assert "'nobody-here'" in nobody.stderr and "--person" in nobody.stderr
    near = create("rita", "--person", "alicee", "--password-stdin", stdin=f"{SECRET}\n")
    assert "did you mean 'alice'?" in near.stderr

    twice = create("rita", "--person", "alice", "--password-stdin", stdin=f"{SECRET}\n{SECRET}\n")
    assert twice.returncode == 0, twice.stderr
    sessions = SessionFactory(
        create_db_engine(f"sqlite:///{initialised / '.tocsin' / 'tocsin.db'}")
    )
    try:
        assert sign_in(sessions=sessions, username="rita", password=SECRET) is not None
        assert sign_in(sessions=sessions, username="rita", password=f"{SECRET}\n{SECRET}") is None
    finally:
        sessions.engine.dispose()

    empty = create("sam", "--password-stdin", stdin="")
    assert empty.returncode == 1 and "standard input is empty" in empty.stderr

    listed = run_tocsin("user", "list", "--json", cwd=initialised, env=clean_env())
    assert [u["username"] for u in json.loads(listed.stdout)["items"]] == ["rita"]


def test_without_a_terminal_user_create_says_how_to_pass_the_password(initialised: Path) -> None:
    """No controlling terminal (a new session) and a pipe on stdin: Python's getpass
    would warn and read the password, echoed, from the pipe."""
    result = subprocess.run(
        [TOCSIN, "user", "create", "sam"],
        cwd=initialised,
        env=clean_env(),
        input=f"{SECRET}\n{SECRET}\n",
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
    )
    assert result.returncode == 1
    assert "no terminal" in result.stderr and "--password-stdin" in result.stderr
    assert "Warning" not in result.stderr and "Traceback" not in result.stderr
    listed = run_tocsin("user", "list", "--json", cwd=initialised, env=clean_env())
    assert json.loads(listed.stdout)["items"] == []


@pytest.mark.parametrize(
    ("variables", "address"),
    [
        ((), "--host 127.0.0.1 --port 8080"),
        (("PORT=9123", "HOST=0.0.0.0"), "--host 0.0.0.0 --port 9123"),
    ],
)
def test_make_run_serves_where_it_is_told(variables: tuple[str, ...], address: str) -> None:
    """`make run` (dry run: the commands it would run); a HOST in the environment, which
    some shells set to the machine's name, does not move it."""
    env = {**os.environ, "HOST": "build-box"}
    result = subprocess.run(
        ["make", "-n", "-s", "run", *variables],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"tocsin serve {address}" in result.stdout
