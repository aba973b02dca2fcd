"""Timer lateness of the engine: N timers falling due within S seconds.

Prints one JSON object: for SQLite and PostgreSQL, with one and with two workers, the
lateness (handled at - due at) p50/p99/max in milliseconds and the jobs handled.
Target: p99 < 500 ms, max < 2 s.

    .venv/bin/python bench/escalation.py [--timers 10000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.pgcluster import PostgresCluster, find_pg_bin

from tocsin.clock import SystemClock
from tocsin.db import SessionFactory, create_db_engine, session_scope
from tocsin.db.jobs import Job
from tocsin.db.migrate import upgrade
from tocsin.engine.handlers import HANDLERS, EngineContext
from tocsin.engine.worker import Worker
from tocsin.policy import PolicyStore, parse_policy
from tocsin.wiring import wire

KIND = "bench"
POLICY = (
    "severities:\n  - {name: SEV1, respond_within: 5m, escalate_after: 15m, "
    "update_every: 15m, resolve_target: 1h}\n"
)


def _record(session: Session, context: EngineContext, payload: Mapping[str, Any]) -> str:
    session.execute(
        text("INSERT INTO bench_hits (due_at, handled_at) VALUES (:d, :h)"),
        {"d": payload["due"], "h": datetime.now(UTC).timestamp()},
    )
    return "ok"


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def run(url: str, *, workers: int, timers: int, seconds: float) -> dict[str, Any]:
    engine = create_db_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_hits"))
        conn.execute(text("CREATE TABLE bench_hits (due_at FLOAT, handled_at FLOAT)"))
        conn.execute(text("DELETE FROM jobs"))
    sessions = SessionFactory(engine)
    # One bulk insert, so that setting the timers up takes well under the 3 s head start
    # (the lateness of the first timers would otherwise measure the set-up).
    created = datetime.now(UTC)
    start = created + timedelta(seconds=3)
    rows = []
    for n in range(timers):
        due = start + timedelta(seconds=seconds * n / timers)
        rows.append(
            {
                "kind": KIND,
                "key": f"bench/{n}",
                "due_at": due,
                "payload": {"due": due.timestamp()},
                "state": "pending",
                "attempts": 0,
                "created_at": created,
            }
        )
    with session_scope(sessions) as session:
        session.execute(insert(Job), rows)
    assert datetime.now(UTC) < start, "setting up the timers took longer than the head start"
    store = PolicyStore.from_policy(parse_policy(POLICY))
    stop = threading.Event()
    threads = []
    for i in range(workers):
        worker_engine = create_db_engine(url)
        worker = Worker(
            sessions=SessionFactory(worker_engine),
            policy=store,
            clock=SystemClock(),
            handlers={**HANDLERS, KIND: _record},
            name=f"bench-{i}",
        )
        thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
        thread.start()
        threads.append(thread)
    deadline = time.monotonic() + 3 + seconds + 30
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            done = conn.execute(text("SELECT COUNT(*) FROM bench_hits")).scalar_one()
        if done >= timers:
            break
        time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT due_at, handled_at FROM bench_hits")).all()
    engine.dispose()
    lateness = [(handled - due) * 1000 for due, handled in rows]
    return {
        "workers": workers,
        "timers": timers,
        "handled": len(rows),
        "lateness_ms": {
            "p50": round(statistics.median(lateness), 1) if lateness else None,
            "p99": round(_percentile(lateness, 99), 1) if lateness else None,
            "max": round(max(lateness), 1) if lateness else None,
        },
    }


def main() -> None:
    wire()  # as `tocsin serve` and `tocsin worker` do before their engine starts
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    results: dict[str, Any] = {
        "benchmark": "escalation_timer_lateness",
        "target": {"p99_ms": 500, "max_ms": 2000},
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            url = f"sqlite:///{Path(tmp) / f'bench-{workers}.db'}"
            results["runs"].append(
                {
                    "database": "sqlite",
                    **run(url, workers=workers, timers=args.timers, seconds=args.seconds),
                }
            )
    if find_pg_bin() is None:
        results["postgresql"] = "skipped: PostgreSQL server binaries not found"
    else:
        with PostgresCluster() as cluster:
            for workers in (1, 2):
                name = f"bench_{workers}"
                cluster.create_database(name)
                results["runs"].append(
                    {
                        "database": "postgresql",
                        **run(
                            cluster.url(name),
                            workers=workers,
                            timers=args.timers,
                            seconds=args.seconds,
                        ),
                    }
                )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
