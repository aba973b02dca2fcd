"""`tocsin user create|list|disable|passwd` against a real database (both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.cli import Cli
from tests.support.dashboard_session import cheap_hashing
from typer.testing import Result

from tocsin.auth.users import session_user, sign_in
from tocsin.cli.main import app
from tocsin.db import SessionFactory, create_db_engine, session_scope

SECRET = "a long enough secret"


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


@pytest.fixture
def cli(database_url: str, policy_file: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """User commands open the database named by the environment, as on a server."""
    monkeypatch.setenv("TOCSIN_DATABASE_URL", database_url)
    monkeypatch.setenv("TOCSIN_POLICY", str(policy_file))
    return Cli(url="http://127.0.0.1:9", token="tcs_not-used-by-local-commands")


@pytest.fixture
def sessions(database_url: str) -> Iterator[SessionFactory]:
    factory = SessionFactory(create_db_engine(database_url))
    yield factory
    factory.engine.dispose()


def typed(cli: Cli, *args: str, keyboard: str) -> Result:
    """Run a command that prompts, typing ``keyboard`` at it."""
    return cli.runner.invoke(app, list(args), input=keyboard, env={"NO_COLOR": "1"})


def can_sign_in(sessions: SessionFactory, name: str, password: str) -> bool:
    return sign_in(sessions=sessions, username=name, password=password) is not None


def test_create_prompts_twice_and_the_user_can_sign_in(cli: Cli, sessions: SessionFactory) -> None:
    result = typed(cli, "user", "create", "alice", "--role", "admin", keyboard=f"{SECRET}\n" * 2)
    assert result.exit_code == 0, result.output
    assert "Password: \nRepeat for confirmation: " in result.output
    assert SECRET not in result.output
    assert "Created admin user 'alice'" in result.output
    assert can_sign_in(sessions, "alice", SECRET)
    assert not can_sign_in(sessions, "alice", SECRET.upper())

    mismatch = typed(cli, "user", "create", "bob", keyboard=f"{SECRET}\nsomething else\n")
    assert mismatch.exit_code != 0
    assert "do not match" in mismatch.output
    assert [u["username"] for u in cli.json("user", "list")["items"]] == ["alice"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_scripts_pass_the_password_on_stdin_and_read_json(
    cli: Cli, sessions: SessionFactory
) -> None:
    result = cli.runner.invoke(
        app,
        [
            *("user", "create", "rita", "--role", "viewer", "--person", "alice"),
            *("--password-stdin", "--json"),
        ],
        input=f"{SECRET}\n",
    )
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert can_sign_in(sessions, "rita", SECRET)
    listed = cli.json("user", "list")["items"]
    assert [(u["username"], u["role"], u["person"], u["disabled_at"]) for u in listed] == [
        ("rita", "viewer", "alice", None)
    ]
    assert "argon2" not in cli.ok("user", "list")
    assert "rita" in cli.ok("user", "list")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bad_input_is_refused_with_the_reason(cli: Cli) -> None:
    def create(name: str, password: str) -> Result:
        return cli.runner.invoke(app, ["user", "create", name, "--password-stdin"], input=password)

    short = create("alice", "short")
    assert short.exit_code == 1 and "password: must be at least 8 characters" in short.stderr
    assert "short" not in short.stderr.replace("must be at least", "")
    bad_name = create("not a name!", SECRET)
    assert bad_name.exit_code == 1 and "username:" in bad_name.stderr
    assert create("alice", SECRET).exit_code == 0
    again = create("alice", SECRET)
    assert again.exit_code == 1 and "already exists" in again.stderr
    assert "no user named 'zed'" in cli.refused("user", "disable", "zed")


def test_disable_and_passwd_end_sessions(cli: Cli, sessions: SessionFactory) -> None:
    for name in ("alice", "bob"):
        typed(cli, "user", "create", name, "--password-stdin", keyboard=SECRET)
    epochs = {
        name: (user.id, user.session_epoch)
        for name in ("alice", "bob")
        if (user := sign_in(sessions=sessions, username=name, password=SECRET))
    }

    assert "Disabled 'alice'" in cli.ok("user", "disable", "alice")
    assert not can_sign_in(sessions, "alice", SECRET)
    assert "already disabled" in cli.refused("user", "disable", "alice")
    assert cli.json("user", "list")["items"][0]["disabled_at"] is not None

    changed = typed(cli, "user", "passwd", "bob", keyboard="new password!\n" * 2)
    assert changed.exit_code == 0, changed.output
    assert not can_sign_in(sessions, "bob", SECRET)
    assert can_sign_in(sessions, "bob", "new password!")
    with session_scope(sessions) as session:
        for user_id, epoch in epochs.values():
            assert session_user(session=session, user_id=user_id, epoch=epoch) is None
