"""Metrics over a large history: `GET /api/v1/metrics/summary?window=365d` on SQLite.

Builds a temporary SQLite database with N incidents spread over the last year (bulk
inserts: incidents, their services, "declared" and "paged" timeline events, some
escalations and drills), then times the summary through the real application (served
by uvicorn on the loopback interface, over HTTP) and through the service function
alone, plus `/api/v1/slos`, a `/metrics` scrape and `tocsin metrics --window 365d` run
as a new process (start-up included). Prints one JSON object. Target: the command
under 1 s.

    .venv/bin/python bench/metrics.py [--incidents 100000] [--repeat 7] [--database FILE]

A server keeps the incidents it read in memory and re-reads only those that changed
(``tocsin.metrics.cache``), so the summary is timed in three states: ``cold`` (the first
request of a server process: everything is read), ``unchanged`` (nothing changed since
the previous request) and ``after_changes`` (100 incidents acknowledged or resolved
just before each request, the usual state of a busy installation). ``seconds`` is
the median of ``tocsin metrics --window 365d`` after changes; the cold command is
shown too. Each timing gives first, best, median and max of ``--repeat`` runs.
``calibration_seconds`` is a fixed pure-Python workload timed on the same machine, to
compare runs made under different loads (about 0.2 s on the project's 2-core machine
when idle). ``--database FILE`` keeps the generated SQLite file (and reuses it when it
exists), to time changes without building the history again.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import Engine, func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tocsin.auth import Role, create_token
from tocsin.clock import FakeClock
from tocsin.config import Settings
from tocsin.db import SessionFactory, create_db_engine, session_scope
from tocsin.db.migrate import upgrade
from tocsin.incidents.models import Incident, IncidentService, TimelineEvent
from tocsin.metrics.cache import IncidentTableCache
from tocsin.metrics.service import metrics_summary
from tocsin.policy import PolicyStore, example_policy_text, parse_policy
from tocsin.web.app import create_app
from tocsin.web.context import AppContext
from tocsin.wiring import wire

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SERVICES = ("checkout-api", "payments-db", "auth-service", "web-frontend")
SEVERITIES = (("SEV1", 1, 0.05), ("SEV2", 2, 0.15), ("SEV3", 3, 0.40), ("SEV4", 4, 0.40))
TITLES = (
    "High error rate on {s}",
    "Latency above SLO on {s}",
    "{s} pods crash looping",
    "Disk almost full on {s} node {n}",
    "Certificate expiring for {s}",
    "Database connections exhausted ({s})",
    "Elevated 5xx after deploy {n} of {s}",
    "Memory pressure on {s} host {n}",
)
BATCH = 10_000


def _rows(count: int, rng: random.Random) -> tuple[list[dict[str, Any]], ...]:
    incidents: list[dict[str, Any]] = []
    services: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    year = 365 * 86_400
    weights = [w for _, _, w in SEVERITIES]
    for number in range(1, count + 1):
        detected = NOW - timedelta(seconds=rng.uniform(60, year))
        name, rank, _ = rng.choices(SEVERITIES, weights)[0]
        service = rng.choice(SERVICES)
        title = rng.choice(TITLES).format(s=service, n=rng.randint(1, 40))
        open_ = rng.random() < 0.002
        ack = detected + timedelta(seconds=rng.expovariate(1 / (120 * rank)))
        mitigated = ack + timedelta(seconds=rng.expovariate(1 / (600 * rank)))
        resolved = mitigated + timedelta(seconds=rng.expovariate(1 / (1200 * rank)))
        tags = [service, "drill"] if rng.random() < 0.01 else [service]
        incidents.append(
            {
                "id": number,
                "number": number,
                "title": title,
                "description": "",
                "status": "triggered" if open_ else "resolved",
                "severity": name,
                "severity_rank": rank,
                "tags": tags,
                "drill": "drill" in tags,
                "started_at": detected - timedelta(seconds=rng.expovariate(1 / 240)),
                "detected_at": detected,
                "acknowledged_at": None if open_ else ack,
                "mitigated_at": None if open_ else mitigated,
                "resolved_at": None if open_ else resolved,
                "closed_at": None,
                "created_at": detected,
                "updated_at": detected,
                "created_by": "bench",
            }
        )
        services.append({"incident_id": number, "service": service})
        base = {"incident_id": number, "actor": "tocsin", "summary": ""}
        events.append({**base, "at": detected, "kind": "declared", "data": {}})
        events.append({**base, "at": detected, "kind": "paged", "data": {"tier": 1, "step": 0}})
        if rng.random() < 0.15:
            data = {"tier": 2, "step": 1, "reason": "not acknowledged within 15m"}
            events.append({**base, "at": ack, "kind": "paged", "data": data})
        if rng.random() < 0.03:
            events.append({**base, "at": ack, "kind": "escalated", "data": {"reason": "help"}})
    return incidents, services, events


def build(engine: Engine, count: int, seed: int) -> dict[str, float]:
    upgrade(engine)
    started = time.perf_counter()
    incidents, services, events = _rows(count, random.Random(seed))
    generated = time.perf_counter()
    with engine.begin() as conn:
        for table, rows in (
            (Incident, incidents),
            (IncidentService, services),
            (TimelineEvent, events),
        ):
            for start in range(0, len(rows), BATCH):
                conn.execute(insert(table), rows[start : start + BATCH])
        conn.exec_driver_sql("ANALYZE")
    return {
        "generate_seconds": round(generated - started, 2),
        "insert_seconds": round(time.perf_counter() - generated, 2),
        "timeline_events": len(events),
    }


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    """The application in uvicorn on a free loopback port, in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start within 10 s")
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{port}"


def _calibration() -> float:
    started = time.perf_counter()
    total = sum(range(10_000_000))
    table = {n: n for n in range(1_000_000)}
    assert total and table
    return round(time.perf_counter() - started, 3)


def _cli(url: str, token: str, directory: Path) -> Callable[[], Any]:
    """``tocsin metrics --window 365d --json`` as a person types it: a new process (its
    start-up included) asking the server."""
    command = [str(Path(sys.executable).with_name("tocsin")), "metrics", "--window", "365d"]
    env = {**os.environ, "TOCSIN_URL": url, "TOCSIN_TOKEN": token}

    def call() -> None:
        done = subprocess.run(
            [*command, "--json"], cwd=directory, env=env, capture_output=True, timeout=60
        )
        if done.returncode != 0:
            raise RuntimeError(f"tocsin metrics failed: {done.stderr.decode(errors='replace')}")

    return call


def _changer(sessions: SessionFactory, rng: random.Random) -> Callable[[], None]:
    """Acknowledges or resolves 100 incidents (a committed write, as another process
    would make it) each time it is called."""

    def change() -> None:
        with session_scope(sessions) as session:
            top = session.scalar(select(func.max(Incident.id))) or 0
            for incident_id in rng.sample(range(1, top + 1), min(100, top)):
                incident = session.get(Incident, incident_id)
                if incident is None:
                    continue
                later = incident.detected_at + timedelta(minutes=rng.randint(1, 90))
                if incident.acknowledged_at is None:
                    incident.acknowledged_at = later
                elif incident.resolved_at is None:
                    incident.resolved_at = max(later, incident.acknowledged_at)
                incident.updated_at = NOW

    return change


def _timed(
    call: Callable[[], Any], repeat: int, before: Callable[[], Any] | None = None
) -> dict[str, float]:
    """``call`` timed ``repeat`` times (``before`` runs untimed before each)."""
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return {
        "first": round(times[0], 3),
        "best": round(min(times), 3),
        "median": round(statistics.median(times), 3),
        "max": round(max(times), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        policy_path = Path(tmp) / "tocsin.yaml"
        policy_path.write_text(example_policy_text(), encoding="utf-8")
        database = args.database or Path(tmp) / "bench.db"
        reuse = database.exists() and database.stat().st_size > 0
        url = f"sqlite:///{database.resolve()}"
        engine = create_db_engine(url)
        if reuse:
            upgrade(engine)
        setup = {"reused_database": True} if reuse else build(engine, args.incidents, args.seed)
        sessions = SessionFactory(engine)
        clock = FakeClock(NOW)
        with session_scope(sessions) as session:
            token = create_token(
                session=session,
                name=f"bench-{time.time_ns()}",
                role=Role.viewer,
                person=None,
                now=NOW,
            )
        context = AppContext(
            settings=Settings(policy=policy_path, database_url=url),
            policy=PolicyStore(policy_path),
            sessions=sessions,
            clock=clock,
        )
        policy = parse_policy(example_policy_text())
        headers = {"Authorization": f"Bearer {token}"}
        wire()  # as the server does: the summary's post-mortem figures come from a hook

        def service_call() -> None:
            with session_scope(sessions, write=False) as session:
                metrics_summary(session=session, policy=policy, now=NOW, window=timedelta(days=365))

        server, thread, url = _serve(create_app(context))
        with httpx.Client(base_url=url, timeout=120) as client:

            def get(path: str) -> Callable[[], Any]:
                def call() -> Any:
                    response = client.get(path, headers=headers)
                    response.raise_for_status()
                    return response

                return call

            def forget() -> None:
                context.metrics_cache = IncidentTableCache()

            change = _changer(sessions, random.Random(args.seed))
            year = get("/api/v1/metrics/summary?window=365d")
            cli = _cli(url, token, Path(tmp))
            cli_runs = max(3, args.repeat // 2)
            summary = year()
            cli_after_changes = _timed(cli, cli_runs, before=change)
            results = {
                "benchmark": "metrics_summary",
                "database": "sqlite",
                "incidents": args.incidents,
                "counted": summary.json()["incidents"],
                "seconds": cli_after_changes["median"],
                "target_seconds": 1.0,
                "calibration_seconds": _calibration(),
                "cli_metrics_365d_after_changes": cli_after_changes,
                "cli_metrics_365d_cold": _timed(cli, cli_runs, before=forget),
                "cli_metrics_365d_unchanged": _timed(cli, cli_runs),
                "http_summary_365d_cold": _timed(year, args.repeat, before=forget),
                "http_summary_365d_unchanged": _timed(year, args.repeat),
                "http_summary_365d_after_changes": _timed(year, args.repeat, before=change),
                "service_summary_365d_uncached": _timed(service_call, args.repeat),
                "http_summary_30d": _timed(get("/api/v1/metrics/summary?window=30d"), args.repeat),
                "http_slos": _timed(get("/api/v1/slos"), args.repeat),
                "prometheus_scrape": _timed(get("/metrics"), args.repeat),
                **setup,
            }
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
