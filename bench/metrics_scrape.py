"""A Prometheus scrape of `/metrics` over a large history, and what counting costs.

Builds a temporary SQLite database (or uses ``--database-url``, e.g. a PostgreSQL
database, which it fills) with N incidents over the last year (bulk inserts; a share
of them still open), one page per incident with its delivery (a few still pending),
and the counters those incidents' events left behind: every incident's declaration,
acknowledgement, resolution and page is noted through the metrics catalog and
committed, as the events themselves would have. Then it times:

- ``scrape_http``: ``GET /metrics`` with a viewer token through the real application
  (uvicorn on the loopback interface), the way Prometheus asks;
- ``scrape_function``: the exposition alone (its queries and formatting);
- ``note_microseconds``: noting one event in a session (what the alert intake pays per
  batch, in memory);
- ``commit_milliseconds``: a small write transaction without and with a counted event
  (the one extra statement a transaction that counts something pays at commit).

Each timing gives first, best, median, p95 and max in milliseconds. Prints one JSON
object. Target: a scrape well under 50 ms at 100,000 incidents.

    .venv/bin/python bench/metrics_scrape.py [--incidents 100000] [--open-share 0.005]
        [--repeat 50] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
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
from sqlalchemy import Engine, func, insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tocsin.auth import Role, create_token
from tocsin.clock import FakeClock
from tocsin.config import Settings
from tocsin.db import SessionFactory, create_db_engine, session_scope
from tocsin.db.migrate import upgrade
from tocsin.incidents.models import Incident, IncidentService
from tocsin.metrics import catalog
from tocsin.metrics.prometheus import exposition
from tocsin.metrics.stored_counters import MetricCounter
from tocsin.notify.models import Delivery, Notification
from tocsin.policy import PolicyStore, example_policy_text
from tocsin.web.app import create_app
from tocsin.web.context import AppContext
from tocsin.wiring import wire

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SERVICES = ("checkout-api", "payments-db", "auth-service", "web-frontend")
SEVERITIES = (("SEV1", 1, 0.05), ("SEV2", 2, 0.15), ("SEV3", 3, 0.40), ("SEV4", 4, 0.40))
CHANNELS = ("slack", "sms", "email")
BATCH = 10_000
TARGET_MS = 50.0


def _rows(count: int, open_share: float, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {
        "incidents": [],
        "services": [],
        "notifications": [],
        "deliveries": [],
    }
    year = 365 * 86_400
    weights = [w for _, _, w in SEVERITIES]
    for number in range(1, count + 1):
        detected = NOW - timedelta(seconds=rng.uniform(60, year))
        name, rank, _ = rng.choices(SEVERITIES, weights)[0]
        service = rng.choice(SERVICES)
        open_ = rng.random() < open_share
        ack = detected + timedelta(seconds=rng.expovariate(1 / (120 * rank)))
        resolved = ack + timedelta(seconds=rng.expovariate(1 / (1800 * rank)))
        rows["incidents"].append(
            {
                "id": number,
                "number": number,
                "title": f"Trouble on {service} #{number}",
                "description": "",
                "status": rng.choice(["triggered", "investigating"]) if open_ else "resolved",
                "severity": name,
                "severity_rank": rank,
                "tags": [service],
                "started_at": detected,
                "detected_at": detected,
                "acknowledged_at": None if open_ else ack,
                "mitigated_at": None if open_ else resolved,
                "resolved_at": None if open_ else resolved,
                "closed_at": None,
                "created_at": detected,
                "updated_at": detected,
                "created_by": "bench",
            }
        )
        rows["services"].append({"incident_id": number, "service": service})
        pending = open_ and rng.random() < 0.2
        state = "pending" if pending else "sent"
        rows["notifications"].append(
            {
                "id": number,
                "key": f"page/{number}",
                "incident_id": number,
                "person": "alice",
                "kind": "page",
                "channel": "person",
                "subject": "page",
                "body": "",
                "reason": "tier 1",
                "data": {},
                "state": state,
                "attempts": 0 if pending else 1,
                "due_at": detected,
                "created_at": detected,
                "expanded_at": detected,
            }
        )
        sent_at = None if pending else detected + timedelta(seconds=rng.uniform(0.2, 3))
        rows["deliveries"].append(
            {
                "id": number,
                "notification_id": number,
                "key": f"page/{number}#0:{rng.choice(CHANNELS)}",
                "incident_id": number,
                "person": "alice",
                "kind": "page",
                "channel": rng.choice(CHANNELS),
                "target": "alice",
                "step": 0,
                "subject": "page",
                "body": "",
                "state": state,
                "attempts": 0 if pending else 1,
                "due_at": detected,
                "created_at": detected,
                "sent_at": sent_at,
            }
        )
    return rows


def _count_history(sessions: SessionFactory, rows: dict[str, list[dict[str, Any]]]) -> float:
    """Note every event of the history through the catalog and commit it (as the
    events would have, one by one); returns the seconds the noting took."""
    started = time.perf_counter()
    with session_scope(sessions) as session:
        for incident, service in zip(rows["incidents"], rows["services"], strict=True):
            labels = {"severity": incident["severity"]}
            catalog.INCIDENTS.inc(session, {**labels, "service": service["service"]})
            if incident["acknowledged_at"] is not None:
                seconds = (incident["acknowledged_at"] - incident["detected_at"]).total_seconds()
                catalog.TIME_TO_ACKNOWLEDGE.observe(session, labels, seconds)
            if incident["resolved_at"] is not None:
                seconds = (incident["resolved_at"] - incident["detected_at"]).total_seconds()
                catalog.TIME_TO_RESOLVE.observe(session, labels, seconds)
        for delivery in rows["deliveries"]:
            catalog.NOTIFICATIONS.inc(session, {"kind": "page"})
            if delivery["sent_at"] is not None:
                channel = {"channel": delivery["channel"]}
                catalog.DELIVERIES.inc(session, {**channel, "outcome": "sent"})
                seconds = (delivery["sent_at"] - delivery["created_at"]).total_seconds()
                catalog.DELIVERY_LATENCY.observe(session, channel, seconds)
        catalog.ALERTS_RECEIVED.inc(session, {"source": "alertmanager"}, 2_500_000)
        catalog.ALERTS_DEDUPLICATED.inc(session, {"source": "alertmanager"}, 2_300_000)
        noted = time.perf_counter() - started
    return noted


def build(engine: Engine, sessions: SessionFactory, args: argparse.Namespace) -> dict[str, Any]:
    upgrade(engine)
    started = time.perf_counter()
    rows = _rows(args.incidents, args.open_share, random.Random(args.seed))
    with engine.begin() as conn:
        for table, name in (
            (Incident, "incidents"),
            (IncidentService, "services"),
            (Notification, "notifications"),
            (Delivery, "deliveries"),
        ):
            for start in range(0, len(rows[name]), BATCH):
                conn.execute(insert(table), rows[name][start : start + BATCH])
        conn.exec_driver_sql("ANALYZE")
    inserted = time.perf_counter()
    events = 4 * args.incidents
    noted = _count_history(sessions, rows)
    return {
        "insert_seconds": round(inserted - started, 2),
        "history_events_noted": events,
        "history_noting_seconds": round(noted, 2),
        "history_commit_seconds": round(time.perf_counter() - inserted - noted, 2),
    }


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
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


def _timed(call: Callable[[], Any], repeat: int) -> dict[str, float]:
    """``call`` timed ``repeat`` times, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    ordered = sorted(times)
    return {
        "first": round(times[0], 2),
        "best": round(ordered[0], 2),
        "median": round(statistics.median(times), 2),
        "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2),
        "max": round(ordered[-1], 2),
    }


def _note_cost(sessions: SessionFactory) -> float:
    """Microseconds to note one event in a session (rolled back: nothing written)."""
    calls = 100_000
    with session_scope(sessions, write=False) as session:
        started = time.perf_counter()
        for n in range(calls):
            catalog.ALERTS_RECEIVED.inc(session, {"source": "generic"}, n % 3 + 1)
        elapsed = time.perf_counter() - started
        session.rollback()
    return round(elapsed / calls * 1e6, 3)


def _commit_cost(sessions: SessionFactory, repeat: int) -> dict[str, dict[str, float]]:
    """A small write transaction (one incident touched) without and with one counted
    alert batch."""

    def transaction(counted: bool) -> Callable[[], None]:
        def run() -> None:
            with session_scope(sessions) as session:
                session.execute(update(Incident).where(Incident.id == 1).values(updated_at=NOW))
                if counted:
                    catalog.ALERTS_RECEIVED.inc(session, {"source": "generic"}, 100)
                    catalog.ALERTS_DEDUPLICATED.inc(session, {"source": "generic"}, 90)

        return run

    return {
        "without_counting": _timed(transaction(False), repeat),
        "with_counting": _timed(transaction(True), repeat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--open-share", type=float, default=0.005)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="an empty database to fill")
    args = parser.parse_args()
    wire()
    with tempfile.TemporaryDirectory() as tmp:
        policy_path = Path(tmp) / "tocsin.yaml"
        policy_path.write_text(example_policy_text(), encoding="utf-8")
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = create_db_engine(url)
        sessions = SessionFactory(engine)
        setup = build(engine, sessions, args)
        with session_scope(sessions) as session:
            token = create_token(
                session=session, name="bench-viewer", role=Role.viewer, person=None, now=NOW
            )
            open_now = session.scalar(select(func.count()).where(Incident.status != "resolved"))
            counter_rows = session.scalar(select(func.count()).select_from(MetricCounter))
        context = AppContext(
            settings=Settings(policy=policy_path, database_url=url),
            policy=PolicyStore(policy_path),
            sessions=sessions,
            clock=FakeClock(NOW),
        )
        policy = context.policy.current

        def function_call() -> None:
            with session_scope(sessions, write=False) as session:
                exposition(session=session, policy=policy, per_process=True)

        server, thread, base = _serve(create_app(context))
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, timeout=30, headers=headers) as client:

            def http_call() -> None:
                client.get("/metrics").raise_for_status()

            body = client.get("/metrics").text
            results = {
                "benchmark": "metrics_scrape",
                "database": engine.dialect.name,
                "incidents": args.incidents,
                "open_incidents": open_now,
                "metric_counter_rows": counter_rows,
                "exposition_bytes": len(body.encode()),
                "exposition_series": sum(
                    1 for line in body.splitlines() if line and not line.startswith("#")
                ),
                "target_ms": TARGET_MS,
                "scrape_http_ms": _timed(http_call, args.repeat),
                "scrape_function_ms": _timed(function_call, args.repeat),
                "note_microseconds": _note_cost(sessions),
                "commit_milliseconds": _commit_cost(sessions, args.repeat),
                **setup,
            }
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
