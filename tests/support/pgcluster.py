"""A throwaway PostgreSQL cluster for the test session.

The cluster lives in a fresh temporary directory, listens on a free TCP port on
127.0.0.1 (plus a private unix socket directory), trusts every local connection
and is tuned for speed, not durability. It never touches a system cluster.

PostgreSQL refuses to run as root, so when the tests run as root the server
binaries are run as the ``postgres`` system user (created by Debian's
postgresql package) and the superuser role is ``postgres``; otherwise they run
as the current user and the superuser role is that user's name.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql
from psycopg.abc import Query

DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
SYSTEM_USER_WHEN_ROOT = "postgres"
START_ATTEMPTS = 5
LOG_TAIL_LINES = 40


class PostgresClusterError(RuntimeError):
    """initdb or the server failed; the message carries their output."""


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None.

    Debian keeps them off PATH in /usr/lib/postgresql/<version>/bin: the newest
    version there wins. Otherwise the directory of ``initdb`` found on PATH.
    """
    versions: list[tuple[tuple[int, ...], Path]] = []
    if DEBIAN_PG_ROOT.is_dir():
        for bin_dir in DEBIAN_PG_ROOT.glob("*/bin"):
            if re.fullmatch(r"\d+(\.\d+)*", bin_dir.parent.name) and _has_server_tools(bin_dir):
                version = tuple(int(part) for part in bin_dir.parent.name.split("."))
                versions.append((version, bin_dir))
    if versions:
        return max(versions)[1]
    initdb = shutil.which("initdb")
    if initdb is not None:
        bin_dir = Path(initdb).resolve().parent
        if _has_server_tools(bin_dir):
            return bin_dir
    return None


def _has_server_tools(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _temp_parent_for(other_user: bool) -> str | None:
    """A temp base directory; when another user must enter it, one they can traverse."""
    if not other_user:
        return None
    base = Path(tempfile.gettempdir()).resolve()
    for directory in (base, *base.parents):
        if not directory.stat().st_mode & stat.S_IXOTH:
            return "/tmp"
    return str(base)


class PostgresCluster:
    """A private PostgreSQL server; use as a context manager or call start()/stop()."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_pg_bin()
        if found is None:
            raise PostgresClusterError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.bin_dir = found
        self._as_root = os.geteuid() == 0
        if self._as_root:
            self.superuser = SYSTEM_USER_WHEN_ROOT
        else:
            self.superuser = pwd.getpwuid(os.geteuid()).pw_name
        self.port = 0
        self._base: Path | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> PostgresCluster:
        if self._base is not None:
            raise PostgresClusterError("cluster already started")
        parent = _temp_parent_for(self._as_root)
        self._base = Path(tempfile.mkdtemp(prefix="tocsin-pg-", dir=parent))
        atexit.register(self.stop)
        try:
            (self._base / "sock").mkdir()
            if self._as_root:
                try:
                    owner = pwd.getpwnam(SYSTEM_USER_WHEN_ROOT)
                except KeyError:
                    raise PostgresClusterError(
                        f"running as root needs the {SYSTEM_USER_WHEN_ROOT!r} system user "
                        "(apt-get install postgresql creates it)"
                    ) from None
                for path in (self._base, self._base / "sock"):
                    os.chown(path, owner.pw_uid, owner.pw_gid)
            self._initdb()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server at once (no checkpoint) and delete its files. Idempotent."""
        base, self._base = self._base, None
        if base is None:
            return
        atexit.unregister(self.stop)
        if (base / "data" / "postmaster.pid").exists():
            self._run(["pg_ctl", "stop", "-D", str(base / "data"), "-m", "immediate", "-w"], base)
        shutil.rmtree(base, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- connecting --------------------------------------------------------

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) for ``dbname`` as the superuser."""
        return f"postgresql+psycopg://{self.superuser}@127.0.0.1:{self.port}/{dbname}"

    def conninfo(self, dbname: str) -> str:
        """libpq URL for ``psycopg.connect`` to ``dbname`` as the superuser."""
        return f"postgresql://{self.superuser}@127.0.0.1:{self.port}/{dbname}"

    def execute_admin(self, query: Query) -> None:
        """Run one statement in the ``postgres`` database with autocommit."""
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(query)

    def create_database(self, name: str, template: str | None = None) -> None:
        """CREATE DATABASE; a template must have no open connections while it is copied."""
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
        self.execute_admin(statement)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE IF EXISTS, closing any connections still open to it."""
        self.execute_admin(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

    # -- internals ---------------------------------------------------------

    @property
    def _data(self) -> Path:
        assert self._base is not None, "cluster not started"
        return self._base / "data"

    def _run(self, argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self._as_root:
            command = ["runuser", "-u", SYSTEM_USER_WHEN_ROOT, "--", *command]
        # cwd: the server user may not be allowed into the caller's directory.
        return subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, check=False, timeout=120
        )

    def _initdb(self) -> None:
        assert self._base is not None
        initdb = [
            "initdb",
            "-D",
            str(self._data),
            "-A",
            "trust",
            "-U",
            self.superuser,
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ]
        result = self._run(initdb, self._base)
        if result.returncode != 0:
            raise PostgresClusterError(
                f"initdb failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )

    def _start_server(self) -> None:
        assert self._base is not None
        for attempt in range(1, START_ATTEMPTS + 1):
            self.port = _free_port()
            log = self._base / f"server-{attempt}.log"
            options = [
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
            server_options = " ".join(
                [f"-p {self.port}", f"-k {shlex.quote(str(self._base / 'sock'))}", *options]
            )
            start = ["pg_ctl", "start", "-w", "-t", "60", "-D", str(self._data)]
            result = self._run([*start, "-l", str(log), "-o", server_options], self._base)
            if result.returncode == 0:
                return
            log_text = log.read_text(errors="replace") if log.exists() else ""
            if "could not bind" in log_text and attempt < START_ATTEMPTS:
                continue  # someone took the port between our probe and the bind
            tail = "\n".join(log_text.splitlines()[-LOG_TAIL_LINES:])
            raise PostgresClusterError(
                f"PostgreSQL failed to start on port {self.port} "
                f"(pg_ctl exit {result.returncode}):\n{result.stdout}{result.stderr}"
                f"--- server log tail ---\n{tail}"
            )


class StoppableCluster(PostgresCluster):
    """A throwaway cluster that can also be stopped and started again on its port."""

    def halt(self) -> None:
        self._pg_ctl(["stop", "-D", str(self._data), "-m", "fast", "-w"])

    def resume(self) -> None:
        base = self._data.parent
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {shlex.quote(str(base / 'sock'))}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        log = base / "server-resumed.log"
        self._pg_ctl(["start", "-w", "-t", "60", "-D", str(self._data), "-l", str(log)], options)

    def _pg_ctl(self, argv: list[str], options: str | None = None) -> None:
        command = ["pg_ctl", *argv, *(["-o", options] if options else [])]
        result = self._run(command, self._data.parent)
        if result.returncode != 0:
            raise PostgresClusterError(f"pg_ctl {argv[0]} failed:\n{result.stdout}{result.stderr}")
