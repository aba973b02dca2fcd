"""Alert-to-page latency: an Alertmanager alert in, its page out at a webhook receiver.

A real ``tocsin serve`` (its engine and delivery worker inside) runs a bench policy in
which an alert on the ``paging-api`` service opens an incident that pages ``pager`` at
once through the webhook channel ``pager-hook``, to a receiver in this process. While a
load generator posts ``--rate`` (200) background alerts a second, one alert per request,
over ``--fingerprints`` (1,000) fingerprints of the ``background`` service (stored and
deduplicated, paging nobody: their route says ``open_incident: false``), plus
``--elsewhere`` (1) alerts a second that each open an incident paging another person on
another webhook, a probe alert for a new incident is sent every ``--interval`` seconds.

A probe's latency runs from just before its request is written to the moment the
receiver has read the page. The first ``--warmup`` seconds are not measured.

Prints one JSON object: probes sent, answered and paged, latency p50/p90/p99/max in
milliseconds, the background rate reached with its request p50/p99, and the target
(p99 < 250 ms on SQLite).

    .venv/bin/python bench/page_latency.py [--seconds 60] [--rate 200] \\
        [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.pgcluster import PostgresCluster, find_pg_bin
from tests.support.receivers import ReceivedRequest, WebhookReceiver
from tests.support.servers import clean_env, free_port, run_tocsin, start_server, stop_server

P99_TARGET_MS = 250.0
CONNECTIONS = 8
STARTS_AT = "2026-03-02T08:00:00Z"

POLICY = """
severities:
  - {{name: SEV1, aliases: [critical], respond_within: 5m, escalate_after: 15m,
     update_every: 15m, resolve_target: 30m}}
  - {{name: SEV3, aliases: [warning], respond_within: 1h, escalate_after: 2h,
     update_every: 2h, resolve_target: 8h}}
people:
  - {{name: pager, email: pager@example.com}}
  - {{name: elsewhere, email: elsewhere@example.com}}
teams:
  - {{name: bench, members: [pager, elsewhere]}}
escalation_policies:
  - name: pager
    tiers: [{{timeout: 1h, targets: [{{person: pager}}]}}]
  - name: elsewhere
    tiers: [{{timeout: 1h, targets: [{{person: elsewhere}}]}}]
services:
  - {{name: paging-api, team: bench, escalation_policy: pager}}
  - {{name: background, team: bench, escalation_policy: elsewhere}}
# Probes and the incidents paged elsewhere are separate problems: with only two
# services, asking for three keeps cascade detection from merging them into one.
alerting:
  cascade: {{min_services: 3}}
routes:
  name: default
  group_by: [alertname, service]
  routes:
    # Each probe stands for a separate problem that must page: two new alerts a second
    # on one service would otherwise be an alert storm, which pages once.
    - name: probes
      match: ['service="paging-api"']
      service: paging-api
      storm: {{enabled: false}}
    - name: elsewhere
      match: ['tier="elsewhere"']
      service: background
      storm: {{enabled: false}}
    - name: quiet
      match: ['service="background"']
      service: background
      open_incident: false
channels:
  pager-hook: {{type: webhook, url: "{pager_url}", timeout: 5s, concurrency: 8}}
  elsewhere-hook: {{type: webhook, url: "{elsewhere_url}", timeout: 5s}}
notification_rules:
  pager:
    - notify: [{{channel: pager-hook}}]
  elsewhere:
    - notify: [{{channel: elsewhere-hook}}]
"""


# -- bodies ------------------------------------------------------------------------------


def _webhook(alert: dict[str, Any]) -> bytes:
    """One alert in Alertmanager's webhook (version 4), as Alertmanager sends it."""
    body = {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "tocsin",
        "groupLabels": {},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager.invalid",
        "alerts": [
            {
                "status": "firing",
                **alert,
                "startsAt": STARTS_AT,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.invalid/graph",
                "fingerprint": alert["fingerprint"],
            }
        ],
    }
    return json.dumps(body).encode()


def probe_body(n: int) -> bytes:
    return _webhook(
        {
            "labels": {"alertname": f"Probe{n}", "service": "paging-api", "severity": "critical"},
            "annotations": {"summary": f"page probe {n}"},
            "fingerprint": f"p{n:015x}",
        }
    )


def background_body(n: int, fingerprints: int) -> bytes:
    fp = n % fingerprints
    return _webhook(
        {
            "labels": {
                "alertname": f"Background{fp % 10}",
                "service": "background",
                "severity": "warning",
                "instance": f"host-{fp}:9100",
            },
            "annotations": {"summary": f"Load above threshold on host-{fp}"},
            "fingerprint": f"b{fp:015x}",
        }
    )


def elsewhere_body(n: int) -> bytes:
    return _webhook(
        {
            "labels": {
                "alertname": f"Elsewhere{n}",
                "service": "background",
                "tier": "elsewhere",
                "severity": "critical",
            },
            "annotations": {"summary": f"paged elsewhere {n}"},
            "fingerprint": f"e{n:015x}",
        }
    )


# -- the client --------------------------------------------------------------------------


@dataclass
class Connection:
    """A minimal HTTP/1.1 keep-alive client on raw streams (httpx's client costs more
    CPU per request than the server it would measure; see bench/ingest.py)."""

    host: str
    port: int
    path: str
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes, sent: list[float] | None = None) -> int:
        """POST ``body``; a kept-alive connection the server closed meanwhile (idle
        longer than its keep-alive timeout) is reopened once."""
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            try:
                return await self._exchange(body, sent)
            except (asyncio.IncompleteReadError, ConnectionError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, body: bytes, sent: list[float] | None) -> int:
        assert self.reader is not None and self.writer is not None
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        if sent is not None:
            sent[:] = [time.perf_counter()]
        self.writer.write(head + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return int(header.split(b" ", 2)[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


@dataclass
class Run:
    host: str
    port: int
    path: str
    seconds: float
    warmup: float
    rate: float
    interval: float
    elsewhere: float
    fingerprints: int
    probes_sent: dict[int, float] = field(default_factory=dict)
    probe_answers: dict[int, float] = field(default_factory=dict)
    probe_statuses: dict[int, int] = field(default_factory=dict)
    background_latencies: list[float] = field(default_factory=list)
    background_statuses: dict[int, int] = field(default_factory=dict)
    background_late: int = 0
    started: float = 0.0
    #: time.time() - time.perf_counter(), to compare with the database's timestamps.
    wall_offset: float = field(default_factory=lambda: time.time() - time.perf_counter())


async def _paced(run: Run, rate: float, bodies: Iterator[bytes], measured: bool) -> None:
    """Post ``rate`` requests a second over a few connections until the run ends; a
    request whose turn comes while every connection is busy waits (and is counted)."""
    if rate <= 0:
        return
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        free.put_nowait(Connection(run.host, run.port, run.path))
    tasks: set[asyncio.Task[None]] = set()

    async def one(conn: Connection, body: bytes) -> None:
        started = time.perf_counter()
        status = await conn.post(body)
        if measured:
            run.background_latencies.append(time.perf_counter() - started)
        run.background_statuses[status] = run.background_statuses.get(status, 0) + 1
        free.put_nowait(conn)

    end = run.started + run.seconds
    n = 0
    while True:
        due = run.started + n / rate
        if due >= end:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if free.empty():
            run.background_late += 1
        conn = await free.get()
        task = asyncio.create_task(one(conn, next(bodies)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    await asyncio.gather(*tasks)
    while not free.empty():
        await free.get_nowait().close()


async def _probes(run: Run) -> None:
    conn = Connection(run.host, run.port, run.path)
    n = 0
    end = run.started + run.seconds
    while True:
        due = run.started + run.warmup + n * run.interval
        if due >= end:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent: list[float] = []
        status = await conn.post(probe_body(n), sent)
        run.probes_sent[n] = sent[0]
        run.probe_answers[n] = time.perf_counter()
        run.probe_statuses[status] = run.probe_statuses.get(status, 0) + 1
        n += 1
    await conn.close()


async def _drive(run: Run) -> None:
    run.started = time.perf_counter()
    background = (background_body(n, run.fingerprints) for n in range(10**9))
    elsewhere = (elsewhere_body(n) for n in range(10**9))
    await asyncio.gather(
        _paced(run, run.rate, background, measured=True),
        _paced(run, run.elsewhere, elsewhere, measured=False),
        _probes(run),
    )


def drive(run: Run) -> None:
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        runner.run(_drive(run))


# -- the server --------------------------------------------------------------------------


@dataclass
class Pages:
    """The pager's receiver: when each probe's page arrived."""

    received: dict[int, float] = field(default_factory=dict)
    other: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_request(self, request: ReceivedRequest) -> None:
        arrived = time.perf_counter()
        title = str(request.json().get("incident", {}).get("title", ""))
        name = title.split(":", 1)[0]
        with self.lock:
            if name.startswith("Probe") and name[5:].isdigit():
                self.received.setdefault(int(name[5:]), arrived)
            else:
                self.other += 1


@contextlib.contextmanager
def tocsin(workdir: Path, database_url: str | None, policy: str) -> Iterator[tuple[int, str]]:
    """``tocsin init`` + ``tocsin serve`` in ``workdir``; yields (port, admin token)."""
    workdir.mkdir(parents=True)
    (workdir / "tocsin.yaml").write_text(policy, encoding="utf-8")
    env = clean_env({"TOCSIN_DATABASE_URL": database_url} if database_url else None)
    port = free_port()
    init = run_tocsin("init", "--url", f"http://127.0.0.1:{port}", cwd=workdir, env=env)
    if init.returncode != 0:
        raise RuntimeError(f"tocsin init failed:\n{init.stdout}{init.stderr}")
    token = json.loads((workdir / ".tocsin" / "credentials.json").read_text())["token"]
    process = start_server(workdir, port, env, log=workdir / "serve.log")
    try:
        yield port, token
    finally:
        stop_server(process)


def _percentile(ordered: Sequence[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def _ms(values: Sequence[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    return {
        "p50": round(_percentile(ordered, 50) * 1000, 1),
        "p90": round(_percentile(ordered, 90) * 1000, 1),
        "p99": round(_percentile(ordered, 99) * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
    }


STAGES_SQL = """
SELECT a.title, a.first_seen_at, n.expanded_at, d.started_at
FROM alerts a
JOIN notifications n ON n.incident_id = a.incident_id AND n.kind = 'page'
JOIN deliveries d ON d.notification_id = n.id
WHERE a.route_path = 'default/probes'
"""


def _epoch(value: datetime | str | None) -> float | None:
    if value is None:
        return None
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def stages(database_url: str, run: Run, pages: Pages) -> dict[str, dict[str, float | None]]:
    """Where each probe's time went, from the rows' timestamps (taken when each step's
    transaction began) and the wall-clock times of the send and the receipt."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(STAGES_SQL)).all()
    finally:
        engine.dispose()
    parts: dict[str, list[float]] = {
        "sent_to_stored": [],
        "stored_to_expanded": [],
        "expanded_to_claimed": [],
        "claimed_to_received": [],
    }
    for title, stored, expanded, claimed in rows:
        name = str(title).split(":", 1)[0]
        n = int(name[5:]) if name.startswith("Probe") and name[5:].isdigit() else -1
        times = [_epoch(stored), _epoch(expanded), _epoch(claimed)]
        if n not in run.probes_sent or n not in pages.received or None in times:
            continue
        sent = run.probes_sent[n] + run.wall_offset
        received = pages.received[n] + run.wall_offset
        points = [sent, *(t for t in times if t is not None), received]
        for key, start, end in zip(parts, points, points[1:], strict=False):
            parts[key].append(end - start)
    return {key: _ms(values) for key, values in parts.items()}


def measure(database_url: str | None, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    pages = Pages()
    pager = WebhookReceiver(on_request=pages.on_request).start()
    elsewhere = WebhookReceiver().start()
    try:
        policy = POLICY.format(pager_url=pager.url, elsewhere_url=elsewhere.url)
        with tocsin(workdir, database_url, policy) as (port, token):
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ) as api:
                answer = api.post(
                    "/api/v1/integrations",
                    json={"name": "bench", "service": "background", "kind": "alertmanager"},
                )
                answer.raise_for_status()
                key = answer.json()["key"]
            run = Run(
                "127.0.0.1",
                port,
                f"/api/v1/integrations/{key}/alertmanager",
                seconds=args.seconds,
                warmup=args.warmup,
                rate=args.rate,
                interval=args.interval,
                elsewhere=args.elsewhere,
                fingerprints=args.fingerprints,
            )
            loadavg = os.getloadavg()[0]
            drive(run)
            deadline = time.perf_counter() + 10
            while len(pages.received) < len(run.probes_sent) and time.perf_counter() < deadline:
                time.sleep(0.05)
            breakdown = stages(
                database_url or f"sqlite:///{workdir / '.tocsin' / 'tocsin.db'}", run, pages
            )
    finally:
        pager.stop()
        elsewhere.stop()
    latencies = [pages.received[n] - run.probes_sent[n] for n in pages.received]
    answers = [run.probe_answers[n] - run.probes_sent[n] for n in run.probes_sent]
    measured_seconds = run.seconds
    background_sent = sum(run.background_statuses.values())
    return {
        "probes": {
            "sent": len(run.probes_sent),
            "statuses": {str(k): v for k, v in sorted(run.probe_statuses.items())},
            "paged": len(pages.received),
            "missing": sorted(set(run.probes_sent) - set(pages.received)),
        },
        "alert_to_page_ms": _ms(latencies),
        "alert_request_ms": _ms(answers),
        "stages_ms": breakdown,
        "background": {
            "alerts": background_sent,
            "alerts_per_s": round(background_sent / measured_seconds, 1),
            "statuses": {str(k): v for k, v in sorted(run.background_statuses.items())},
            "request_ms": _ms(run.background_latencies),
            "sent_late_all_connections_busy": run.background_late,
            "elsewhere_pages_received": len(elsewhere.processed),
        },
        "loadavg_1m_before": round(loadavg, 2),
        "target": {
            "p99_ms": P99_TARGET_MS,
            "reached": _ms(latencies)["p99"],
            "met": bool(latencies)
            and _ms(latencies)["p99"] is not None
            and float(_ms(latencies)["p99"] or 0) < P99_TARGET_MS
            and len(pages.received) == len(run.probes_sent),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=60.0, help="Length of the run.")
    parser.add_argument("--warmup", type=float, default=5.0, help="Seconds before probes.")
    parser.add_argument("--rate", type=float, default=200.0, help="Background alerts/s.")
    parser.add_argument("--interval", type=float, default=0.5, help="Seconds between probes.")
    parser.add_argument(
        "--elsewhere", type=float, default=1.0, help="Alerts/s paging someone else."
    )
    parser.add_argument("--fingerprints", type=int, default=1_000)
    parser.add_argument(
        "--keep", type=Path, help="Run in this new directory and keep it (serve.log, db)."
    )
    args = parser.parse_args()
    out: dict[str, Any] = {
        "benchmark": "alert_to_page_latency",
        "database": args.database,
        "settings": {
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "background_alerts_per_s": args.rate,
            "elsewhere_alerts_per_s": args.elsewhere,
            "probe_interval_s": args.interval,
            "fingerprints": args.fingerprints,
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-") as tmp:
        workdir = args.keep or Path(tmp) / "tocsin"
        if args.database == "sqlite":
            out.update(measure(None, workdir, args))
        elif find_pg_bin() is None:
            out["skipped"] = "PostgreSQL server binaries not found"
        else:
            with PostgresCluster() as cluster:
                cluster.create_database("bench")
                out.update(measure(cluster.url("bench"), workdir, args))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
