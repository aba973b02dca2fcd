"""Fixtures shared by the whole suite.

`database_url` gives every test a fresh, migrated database on SQLite and on a real
PostgreSQL server (a throwaway cluster started once per session); `live_server` runs the
real application in uvicorn on 127.0.0.1 against it, with a fake clock.
"""

from __future__ import annotations

import itertools
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from hypothesis import HealthCheck, settings
from tests.support.pgcluster import PostgresCluster, find_pg_bin
from tests.support.requirements import require

from tocsin.auth import Role, create_token
from tocsin.clock import FakeClock
from tocsin.config import Settings
from tocsin.db import SessionFactory, create_db_engine, session_scope
from tocsin.db.migrate import upgrade
from tocsin.policy import PolicyStore, example_policy_text
from tocsin.web.app import create_app
from tocsin.web.context import AppContext
from tocsin.wiring import wire

pytest_plugins = ["tests.support.api"]

# Property tests judge the code, not the machine: a loaded CI box must not fail them for
# being slow (per-example deadlines, the input-generation speed check).
settings.register_profile("tocsin", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("tocsin")

TEMPLATE_DB = "tocsin_template"
_counter = itertools.count(1)


@pytest.fixture(scope="session", autouse=True)
def wired() -> None:
    """Wire the hooks as the app and the worker do, for tests that call services directly."""
    wire()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    require(find_pg_bin() is not None, "PostgreSQL server", "apt-get install postgresql")
    with PostgresCluster() as cluster:
        cluster.create_database(TEMPLATE_DB)
        engine = create_db_engine(cluster.url(TEMPLATE_DB))
        upgrade(engine)
        engine.dispose()
        yield cluster


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated database per test, on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "tocsin.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    name = f"t_{next(_counter)}"
    cluster.create_database(name, template=TEMPLATE_DB)
    yield cluster.url(name)
    cluster.drop_database(name)


@pytest.fixture
def postgres_url(pg_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh migrated PostgreSQL database, for tests of what only PostgreSQL does."""
    name = f"t_{next(_counter)}"
    pg_cluster.create_database(name, template=TEMPLATE_DB)
    yield pg_cluster.url(name)
    pg_cluster.drop_database(name)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(example_policy_text(), encoding="utf-8")
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@dataclass
class LiveServer:
    """A running Tocsin server on 127.0.0.1 with an admin token and a fake clock."""

    url: str
    admin_token: str
    clock: FakeClock
    context: AppContext
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def make_token(self, role: str, person: str | None = None) -> str:
        with session_scope(self.context.sessions) as session:
            return create_token(
                session=session,
                name=f"{role}-{next(self._names)}",
                role=Role(role),
                person=person,
                now=self.clock.now(),
            )


def _serve(app: object) -> tuple[uvicorn.Server, threading.Thread, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.01)
    else:
        raise RuntimeError("test server did not start within 5 s")
    return server, thread, port


@pytest.fixture
def app_context(database_url: str, policy_file: Path, clock: FakeClock) -> Iterator[AppContext]:
    wire()  # what a process with an app context does (idempotent)
    settings = Settings(policy=policy_file, database_url=database_url)
    engine = create_db_engine(database_url)
    context = AppContext(
        settings=settings,
        policy=PolicyStore(policy_file),
        sessions=SessionFactory(engine),
        clock=clock,
    )
    yield context
    engine.dispose()


@pytest.fixture
def live_server(app_context: AppContext, clock: FakeClock) -> Iterator[LiveServer]:
    with session_scope(app_context.sessions) as session:
        admin = create_token(
            session=session, name="admin", role=Role.admin, person=None, now=clock.now()
        )
    server, thread, port = _serve(create_app(app_context))
    yield LiveServer(
        url=f"http://127.0.0.1:{port}", admin_token=admin, clock=clock, context=app_context
    )
    server.should_exit = True
    thread.join(timeout=10)
