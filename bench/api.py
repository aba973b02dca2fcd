"""Reads over a long history: the API and the pages at 100,000 incidents.

For SQLite and then PostgreSQL (a throwaway cluster), a fresh set-up gets N incidents
(default 100,000) with 20 timeline events each (2 million rows), bulk-loaded straight
into the tables; then ``tocsin serve`` with its defaults answers 16 concurrent
keep-alive clients for 20 s on each of:

- ``list``: ``GET /api/v1/incidents?limit=50``;
- ``filtered_deep_offset``: a status + service filter at offset 20,000;
- ``filtered_deep_cursor``: the same filter, the page after a cursor as deep;
- ``incident``: ``GET /api/v1/incidents/INC-n`` for random n;
- ``timeline``: ``GET /api/v1/incidents/INC-n/timeline`` for random n;
- ``dashboard_list``: the dashboard's incident list (signed in);
- ``status``: the public status page.

Each endpoint is first driven for ``--warm-up`` seconds (default 2) that are not
counted: what a process caches on its first requests (compiled statements, templates,
pooled connections, the database's pages) is the server's steady state, not history.

Prints one JSON object: per database and endpoint, requests/s, p50/p99/max latency and
the non-2xx count, next to the target (p99 < 100 ms on every endpoint).

    .venv/bin/python bench/api.py [--incidents 100000] [--seconds 20] [--warm-up 2]
        [--backends sqlite,postgresql] [--workers N]

``--workers N`` passes ``--workers N`` to ``tocsin serve`` (N HTTP processes); without
it the server runs with its defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.pgcluster import PostgresCluster, find_pg_bin
from tests.support.servers import (
    TOCSIN,
    clean_env,
    free_port,
    run_tocsin,
    start_server,
    stop_server,
)

CLIENTS = 16
EVENTS_PER_INCIDENT = 20
DEEP = 20_000
P99_TARGET_MS = 100.0
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
STATUSES = ("resolved", "closed", "resolved", "closed", "monitoring", "triggered")
START = datetime(2024, 1, 1, tzinfo=UTC)
KINDS = ("declared", "paged", "acknowledged", "status_update", "note")
PASSWORD = "bench password 1"


# -- the history -------------------------------------------------------------------------


def _incident(n: int) -> tuple[Any, ...]:
    at = START + timedelta(minutes=5 * n)
    status = STATUSES[n % len(STATUSES)]
    done = at + timedelta(hours=1) if status in ("resolved", "closed") else None
    severity = SEVERITIES[n % 4]
    return (
        n,  # id
        n,  # number
        f"Checkout latency {n}",
        "Bulk-loaded history.",
        status,
        severity,
        n % 4 + 1,
        "[]",
        at,
        at,
        at + timedelta(minutes=3),
        done,
        done,
        done if status == "closed" else None,
        at,
        done or at,
        "bench",
        False,
        False,
    )


INCIDENT_COLUMNS = (
    "id, number, title, description, status, severity, severity_rank, tags, started_at, "
    "detected_at, acknowledged_at, mitigated_at, resolved_at, closed_at, created_at, "
    "updated_at, created_by, drill, drill_pages_oncall"
)
EVENT_COLUMNS = "incident_id, at, actor, kind, summary, data"


def _events(n: int) -> Iterator[tuple[Any, ...]]:
    at = START + timedelta(minutes=5 * n)
    for step in range(EVENTS_PER_INCIDENT):
        kind = KINDS[step % len(KINDS)]
        yield (n, at + timedelta(seconds=30 * step), "bench", kind, f"{kind} #{step}", "{}")


#: The history was announced as it happened: the broadcast feed's cursor stands at its
#: end (else the server would spend the run announcing two million old events).
ANNOUNCED = (
    "UPDATE delivery_cursors SET position = (SELECT max(id) FROM timeline_events) "
    "WHERE name = 'broadcasts'"
)


def load_sqlite(path: Path, incidents: int) -> None:
    def stamp(value: Any) -> Any:
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value

    marks = ", ".join("?" * 19)
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.executemany(
            f"INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES ({marks})",
            (tuple(stamp(v) for v in _incident(n)) for n in range(1, incidents + 1)),
        )
        db.executemany(
            "INSERT INTO incident_services (incident_id, service) VALUES (?, ?)",
            ((n, "checkout") for n in range(1, incidents + 1)),
        )
        db.executemany(
            f"INSERT INTO timeline_events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (
                tuple(stamp(v) for v in event)
                for n in range(1, incidents + 1)
                for event in _events(n)
            ),
        )
        db.execute(
            "INSERT INTO counters (name, value) VALUES ('incident', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (incidents,),
        )
        db.execute(ANNOUNCED)
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("ANALYZE")


def load_postgres(conninfo: str, incidents: int) -> None:
    with psycopg.connect(conninfo) as db, db.cursor() as cur:
        with cur.copy(f"COPY incidents ({INCIDENT_COLUMNS}) FROM STDIN") as copy:
            for n in range(1, incidents + 1):
                copy.write_row(_incident(n))
        with cur.copy("COPY incident_services (incident_id, service) FROM STDIN") as copy:
            for n in range(1, incidents + 1):
                copy.write_row((n, "checkout"))
        with cur.copy(f"COPY timeline_events ({EVENT_COLUMNS}) FROM STDIN") as copy:
            for n in range(1, incidents + 1):
                for event in _events(n):
                    copy.write_row(event)
        cur.execute("SELECT setval('incidents_id_seq', %s)", (incidents,))
        cur.execute(
            "INSERT INTO counters (name, value) VALUES ('incident', %s) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (incidents,),
        )
        cur.execute(ANNOUNCED)
    with psycopg.connect(conninfo, autocommit=True) as db:
        db.execute("VACUUM ANALYZE")


# -- the load generator ------------------------------------------------------------------


@dataclass
class Run:
    host: str
    port: int
    path: Callable[[], str]
    headers: str
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        ok = sum(n for status, n in self.statuses.items() if 200 <= status < 300)
        failed = sum(self.statuses.values()) - ok
        p99 = _percentile(ordered, 99) * 1000
        return {
            "requests": len(ordered),
            "requests_per_s": round(len(ordered) / self.seconds, 1),
            "p50_ms": round(_percentile(ordered, 50) * 1000, 2),
            "p99_ms": round(p99, 2),
            "max_ms": round(ordered[-1] * 1000, 2) if ordered else None,
            "non_2xx": failed,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "p99_target_met": p99 < P99_TARGET_MS and not failed,
        }


def _percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> None:
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(b":") for line in head.split(b"\r\n")[1:])
    }
    if headers.get(b"transfer-encoding") == b"chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                return
    length = int(headers.get(b"content-length", b"0"))
    if length:
        await reader.readexactly(length)


async def _client(run: Run, until: float) -> None:
    """One keep-alive client; a connection the server drops counts as a failed request
    (status 0) and is opened again."""
    while time.perf_counter() < until:
        reader, writer = await asyncio.open_connection(run.host, run.port)
        try:
            while time.perf_counter() < until:
                request = f"GET {run.path()} HTTP/1.1\r\nHost: {run.host}\r\n{run.headers}\r\n"
                started = time.perf_counter()
                writer.write(request.encode())
                head = await reader.readuntil(b"\r\n\r\n")
                await _read_body(reader, head)
                run.latencies.append(time.perf_counter() - started)
                status = int(head.split(b" ", 2)[1])
                run.statuses[status] = run.statuses.get(status, 0) + 1
        except (OSError, asyncio.IncompleteReadError):
            run.statuses[0] = run.statuses.get(0, 0) + 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _drive(run: Run) -> None:
    until = time.perf_counter() + run.seconds
    await asyncio.gather(*(_client(run, until) for _ in range(CLIENTS)))


def drive(run: Run) -> dict[str, Any]:
    asyncio.run(_drive(run))
    return run.report()


# -- one database ------------------------------------------------------------------------


def _sign_in(url: str) -> str:
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as browser:
        page = browser.get("/login")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None, "no sign-in form"
        fields = {"csrf_token": found.group(1), "username": "bench", "password": PASSWORD}
        answer = browser.post("/login", data=fields)
        assert answer.status_code == 303, answer.text
        return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


@dataclass(frozen=True)
class Options:
    incidents: int
    seconds: float
    warm_up: float
    serve_args: tuple[str, ...]


def bench_backend(
    name: str, directory: Path, env: dict[str, str], options: Options, load: Any
) -> dict[str, Any]:
    incidents = options.incidents
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    init = run_tocsin("init", "--url", url, cwd=directory, env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    token = json.loads((directory / ".tocsin" / "credentials.json").read_text())["token"]
    created = subprocess.run(
        [TOCSIN, "user", "create", "bench", "--role", "viewer", "--password-stdin"],
        cwd=directory, env=env, input=f"{PASSWORD}\n", capture_output=True, text=True,
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    started = time.perf_counter()
    load()
    loaded = time.perf_counter() - started
    server = start_server(
        directory, port, env, *options.serve_args, log=directory / "serve.log", timeout=120
    )
    try:
        bearer = f"Authorization: Bearer {token}\r\n"
        cookie = f"Cookie: {_sign_in(url)}\r\n"
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as api:
            deep = "/api/v1/incidents?status=resolved,closed&service=checkout&limit=50"
            offset = min(DEEP, incidents // 6)
            cursor = api.get(f"{deep}&offset={offset - 50}", timeout=60).json()["next_cursor"]
        pick = random.Random(7)
        paths: dict[str, tuple[Callable[[], str], str]] = {
            "list": (lambda: "/api/v1/incidents?limit=50", bearer),
            "filtered_deep_offset": (lambda: f"{deep}&offset={offset}", bearer),
            "filtered_deep_cursor": (lambda: f"{deep}&after={cursor}", bearer),
            "incident": (lambda: f"/api/v1/incidents/INC-{pick.randint(1, incidents)}", bearer),
            "timeline": (
                lambda: f"/api/v1/incidents/INC-{pick.randint(1, incidents)}/timeline",
                bearer,
            ),
            "dashboard_list": (lambda: "/dashboard", cookie),
            "status": (lambda: "/status", ""),
        }
        endpoints = {}
        for endpoint, (path, headers) in paths.items():
            if options.warm_up > 0:
                drive(Run("127.0.0.1", port, path, headers, options.warm_up))
            endpoints[endpoint] = drive(Run("127.0.0.1", port, path, headers, options.seconds))
    finally:
        stop_server(server)
    return {
        "database": name,
        "incidents": incidents,
        "timeline_events": incidents * EVENTS_PER_INCIDENT,
        "bulk_load_seconds": round(loaded, 1),
        "endpoints": endpoints,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warm-up", type=float, default=2.0)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    serve_args = ("--workers", str(args.workers)) if args.workers else ()
    options = Options(args.incidents, args.seconds, args.warm_up, serve_args)
    results = []
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="tocsin-bench-api-") as tmp:
            directory = Path(tmp)
            if backend == "sqlite":
                env = clean_env()
                database = directory / ".tocsin" / "tocsin.db"
                results.append(
                    bench_backend(
                        backend, directory, env, options,
                        lambda database=database: load_sqlite(database, args.incidents),
                    )
                )  # fmt: skip
                continue
            if find_pg_bin() is None:
                results.append({"database": backend, "skipped": "PostgreSQL not installed"})
                continue
            with PostgresCluster() as cluster:
                cluster.create_database("bench")
                env = clean_env({"TOCSIN_DATABASE_URL": cluster.url("bench")})
                results.append(
                    bench_backend(
                        backend, directory, env, options,
                        lambda: load_postgres(cluster.conninfo("bench"), args.incidents),
                    )
                )  # fmt: skip
    print(
        json.dumps(
            {
                "benchmark": "api reads over a long history",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "clients": CLIENTS,
                "seconds_per_endpoint": args.seconds,
                "warm_up_seconds": args.warm_up,
                "serve_args": list(serve_args),
                "target": {"p99_ms": P99_TARGET_MS},
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
