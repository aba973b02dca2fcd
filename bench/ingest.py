"""Alert ingestion over HTTP: Tocsin (SQLite, PostgreSQL) against a real Alertmanager.

N Alertmanager-webhook alerts (default 50,000) over 1,000 distinct fingerprints are
sent by 64 concurrent keep-alive connections, once with 1 alert per request and once
with 100 per request, to:

- a no-op HTTP endpoint in another process (how fast the load generator itself can
  go: it must outrun Tocsin for the figures below to mean anything);
- ``tocsin serve --workers 2`` (one HTTP process per core of the project's machine;
  ``--workers 1`` for a single process) on SQLite, then on PostgreSQL (a throwaway
  cluster), each alert committed before the answer — afterwards the stored alerts and
  their occurrence counts are checked through the API, so nothing answered 2xx went
  missing;
- a real Prometheus Alertmanager's ``POST /api/v2/alerts`` (the same alerts, in its
  API's shape), which keeps alerts in memory.

Prints one JSON object: alerts/s, requests/s, request latency p50/p99, errors, the
rate of alerts *decided* (answered, then through the server's inbox: the load's time
plus the wait until ``tocsin_alerts_queued`` reads 0, as a large body is answered once
stored and decided in chunks after), PostgreSQL's decided rate over SQLite's, the
servers' peak RSS (``VmHWM``, Tocsin's processes added up), Tocsin/Alertmanager ratios
and the issue's targets.

The load generator is asyncio with a minimal HTTP/1.1 keep-alive client on raw
streams: on the project's 2-core machine httpx's client tops out at a few hundred
requests/s, far below the server it would measure (``--httpx-probe`` shows it).

    .venv/bin/python bench/ingest.py [--alerts 50000] [--backends sqlite,postgresql]
        [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.alertmanager import Alertmanager, find_alertmanager, webhook_config
from tests.support.pgcluster import PostgresCluster, find_pg_bin
from tests.support.servers import (
    clean_env,
    free_port,
    run_tocsin,
    server_processes,
    start_server,
    stop_server,
)

CONNECTIONS = 64
FINGERPRINTS = 1_000
#: How long the server may take to decide what it answered before the figure gives up.
DECIDE_BOUND_S = 300.0
STARTS_AT = "2026-03-02T08:00:00Z"
TARGETS = {"1": 4_000.0, "100": 40_000.0}
P99_TARGET_MS = 100.0


# -- the load generator ------------------------------------------------------------------


@dataclass
class Load:
    """One run: ``requests`` bodies POSTed to ``path`` over ``connections`` connections."""

    host: str
    port: int
    path: str
    bodies: Sequence[bytes]
    alerts_per_request: int
    connections: int = CONNECTIONS
    latencies: list[float] = field(default_factory=list)
    #: When each request completed (perf_counter), in completion order.
    completed: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    started: float = 0.0
    elapsed: float = 0.0

    def steady(self) -> dict[str, Any]:
        """The requests after the first 10 % (at least the first two rounds of
        ``connections``) to complete: by then every fingerprint has been seen once (the
        first pass stores new alerts and opens incidents; the rest are repeats)."""
        skip = max(len(self.completed) // 10, 2 * self.connections)
        if len(self.completed) - skip < 2:
            return {}
        seconds = self.completed[-1] - self.completed[skip - 1 if skip else 0]
        count = len(self.completed) - skip
        ordered = sorted(self.latencies[skip:])
        return {
            "alerts_per_s": round(count * self.alerts_per_request / seconds, 1),
            "p50_ms": round(_percentile(ordered, 50) * 1000, 2),
            "p99_ms": round(_percentile(ordered, 99) * 1000, 2),
        }

    def report(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        ok = sum(n for status, n in self.statuses.items() if 200 <= status < 300)
        return {
            "requests": len(self.bodies),
            "alerts": len(self.bodies) * self.alerts_per_request,
            "seconds": round(self.elapsed, 3),
            "requests_per_s": round(len(self.bodies) / self.elapsed, 1),
            "alerts_per_s": round(len(self.bodies) * self.alerts_per_request / self.elapsed, 1),
            "p50_ms": round(_percentile(ordered, 50) * 1000, 2),
            "p99_ms": round(_percentile(ordered, 99) * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2) if ordered else None,
            "non_2xx": len(self.bodies) - ok,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "after_first_pass": self.steady(),
        }


def _percentile(ordered: Sequence[float], p: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


async def _connection(load: Load, queue: Iterator[int]) -> None:
    reader, writer = await asyncio.open_connection(load.host, load.port)
    head = (
        f"POST {load.path} HTTP/1.1\r\nHost: {load.host}:{load.port}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    try:
        for index in queue:
            body = load.bodies[index]
            started = time.perf_counter()
            writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
            status_line_and_headers = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in status_line_and_headers.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            done = time.perf_counter()
            load.latencies.append(done - started)
            load.completed.append(done)
            status = int(status_line_and_headers.split(b" ", 2)[1])
            load.statuses[status] = load.statuses.get(status, 0) + 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _drive(load: Load) -> Load:
    queue = iter(range(len(load.bodies)))
    load.started = time.perf_counter()
    await asyncio.gather(*(_connection(load, queue) for _ in range(load.connections)))
    load.elapsed = time.perf_counter() - load.started
    return load


def drive(load: Load) -> dict[str, Any]:
    runner = _event_loop_runner()
    with runner:
        runner.run(_drive(load))
    return load.report()


def _event_loop_runner() -> asyncio.Runner:
    try:
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        return asyncio.Runner()


# -- bodies ------------------------------------------------------------------------------


def _alert(n: int) -> dict[str, Any]:
    fp = n % FINGERPRINTS
    return {
        "labels": {
            "alertname": f"BenchAlert{fp % 10}",
            "service": "checkout",
            "severity": "warning",
            "instance": f"host-{fp}:9100",
            "job": "node",
        },
        "annotations": {"summary": f"Load above threshold on host-{fp}"},
        "startsAt": STARTS_AT,
        "generatorURL": f"http://prometheus.invalid/graph?g0.expr=load%7Bhost%3D{fp}%7D",
    }


def webhook_bodies(alerts: int, per_request: int) -> list[bytes]:
    """Alertmanager's webhook (version 4), as Alertmanager sends it to Tocsin."""
    bodies = []
    for start in range(0, alerts, per_request):
        items = []
        for n in range(start, min(start + per_request, alerts)):
            alert = _alert(n)
            items.append(
                {
                    "status": "firing",
                    **alert,
                    "endsAt": "0001-01-01T00:00:00Z",
                    "fingerprint": f"{n % FINGERPRINTS:016x}",
                }
            )
        body = {
            "version": "4",
            "groupKey": '{}:{alertname="BenchAlert"}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "tocsin",
            "groupLabels": {"alertname": "BenchAlert"},
            "commonLabels": {"service": "checkout"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.invalid",
            "alerts": items,
        }
        bodies.append(json.dumps(body).encode())
    return bodies


def alertmanager_bodies(alerts: int, per_request: int) -> list[bytes]:
    """The same alerts in the shape of Alertmanager's own API (``POST /api/v2/alerts``)."""
    return [
        json.dumps([_alert(n) for n in range(start, min(start + per_request, alerts))]).encode()
        for start in range(0, alerts, per_request)
    ]


# -- servers -----------------------------------------------------------------------------


def server_peak_rss_mib(pid: int) -> float | None:
    """The peak resident sets of ``pid`` and of its server processes
    (``tocsin serve --workers N``), added up, in MiB."""
    children = server_processes(pid)
    sizes = [peak_rss_mib(p) for p in (pid, *children)]
    return round(sum(s for s in sizes if s is not None), 1) if sizes[0] is not None else None


def peak_rss_mib(pid: int) -> float | None:
    """``VmHWM`` of ``pid`` (its peak resident set), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


NOOP_SERVER = r"""
import asyncio, sys
ANSWER = (b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\n"
          b"content-length: 20\r\n\r\n" + b'{"status":"success"}')
class Noop(asyncio.Protocol):
    def connection_made(self, transport): self.t, self.buf = transport, b""
    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0: return
            length = 0
            for line in self.buf[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length": length = int(value)
            if len(self.buf) < end + 4 + length: return
            self.buf = self.buf[end + 4 + length:]
            self.t.write(ANSWER)
async def main():
    server = await asyncio.get_running_loop().create_server(Noop, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()
try:
    import uvloop; uvloop.run(main())
except ImportError:
    asyncio.run(main())
"""


@contextlib.contextmanager
def noop_server() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", NOOP_SERVER, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Tocsin:
    directory: Path
    port: int
    token: str
    process: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=60, headers={"Authorization": f"Bearer {self.token}"}
        )

    def integration(self, name: str) -> str:
        with self.api() as api:
            answer = api.post(
                "/api/v1/integrations",
                json={"name": name, "service": "checkout-api", "kind": "alertmanager"},
            )
            answer.raise_for_status()
            key: str = answer.json()["key"]
            return key

    def backlog(self) -> float:
        """``tocsin_alerts_queued``: alerts answered 2xx but not decided yet."""
        with self.api() as api:
            text = api.get("/metrics").text
        for line in text.splitlines():
            if line.startswith("tocsin_alerts_queued "):
                return float(line.split()[1])
        raise RuntimeError("/metrics has no tocsin_alerts_queued")

    def wait_decided(self, bound: float = DECIDE_BOUND_S) -> tuple[float, float]:
        """(alerts still undecided at the last answer, seconds until none was), polling
        ``/metrics``; the bound's seconds when the backlog outlasts it."""
        started = time.perf_counter()
        first = left = self.backlog()
        while left > 0 and time.perf_counter() - started < bound:
            time.sleep(0.05)
            left = self.backlog()
        return first, time.perf_counter() - started

    def stored(self, integration: str) -> tuple[int, int]:
        """(alerts, total occurrences) stored for ``integration``, read via the API."""
        alerts = occurrences = offset = 0
        with self.api() as api:
            while True:
                page = api.get("/api/v1/alerts", params={"limit": 500, "offset": offset}).json()
                for item in page["items"]:
                    if item["integration"] == integration:
                        alerts += 1
                        occurrences += item["occurrences"]
                offset += len(page["items"])
                if not page["items"] or offset >= page["total"]:
                    return alerts, occurrences


@contextlib.contextmanager
def tocsin_server(
    database_url: str | None, workdir: Path, serve_args: Sequence[str] = ()
) -> Iterator[Tocsin]:
    workdir.mkdir(parents=True)
    env = clean_env({"TOCSIN_DATABASE_URL": database_url} if database_url else None)
    port = free_port()
    init = run_tocsin("init", "--url", f"http://127.0.0.1:{port}", cwd=workdir, env=env)
    if init.returncode != 0:
        raise RuntimeError(f"tocsin init failed:\n{init.stdout}{init.stderr}")
    token = json.loads((workdir / ".tocsin" / "credentials.json").read_text())["token"]
    process = start_server(workdir, port, env, *serve_args, log=workdir / "serve.log")
    try:
        yield Tocsin(workdir, port, token, process)
    finally:
        stop_server(process)


# -- the runs ----------------------------------------------------------------------------


def run_tocsin_backend(
    name: str, database_url: str | None, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    serve_args = ["--workers", str(args.workers), *args.serve_arg]
    with tocsin_server(database_url, workdir / name, serve_args) as server:
        warm_key = server.integration("warmup")
        drive(
            Load(
                "127.0.0.1",
                server.port,
                f"/api/v1/integrations/{warm_key}/alertmanager",
                webhook_bodies(min(2_000, args.alerts), 1),
                1,
            )
        )
        for per_request in (1, 100):
            label = f"{per_request}_per_request"
            key = server.integration(f"bench-{per_request}")
            bodies = webhook_bodies(args.alerts, per_request)
            load = Load(
                "127.0.0.1",
                server.port,
                f"/api/v1/integrations/{key}/alertmanager",
                bodies,
                per_request,
            )
            loadavg = os.getloadavg()[0]
            report = drive(load)
            undecided, waited = server.wait_decided()
            report["undecided_at_last_answer"] = undecided
            report["decided_alerts_per_s"] = round(
                len(bodies) * per_request / (report["seconds"] + waited), 1
            )
            report["loadavg_1m_before"] = round(loadavg, 2)
            report["peak_rss_mib_so_far"] = server_peak_rss_mib(server.process.pid)
            stored_alerts, occurrences = server.stored(f"bench-{per_request}")
            report["stored"] = {
                "alerts": stored_alerts,
                "occurrences": occurrences,
                "expected_alerts": min(FINGERPRINTS, args.alerts),
                "expected_occurrences_at_least": args.alerts - report["non_2xx"] * per_request,
            }
            results[label] = report
        results["peak_rss_mib"] = server_peak_rss_mib(server.process.pid)
    return results


def run_alertmanager(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with Alertmanager(webhook_config(None)) as am:
        port = int(am.url.rsplit(":", 1)[1])
        drive(Load("127.0.0.1", port, "/api/v2/alerts", alertmanager_bodies(2_000, 1), 1))
        for per_request in (1, 100):
            loadavg = os.getloadavg()[0]
            load = Load(
                "127.0.0.1",
                port,
                "/api/v2/alerts",
                alertmanager_bodies(args.alerts, per_request),
                per_request,
            )
            report = drive(load)
            report["loadavg_1m_before"] = round(loadavg, 2)
            results[f"{per_request}_per_request"] = report
        results["peak_rss_mib"] = peak_rss_mib(am.pid)
    return results


def run_noop(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with noop_server() as port:
        for per_request in (1, 100):
            bodies = webhook_bodies(args.alerts, per_request)
            results[f"{per_request}_per_request"] = drive(
                Load("127.0.0.1", port, "/noop", bodies, per_request)
            )
        if args.httpx_probe:
            results["httpx_client_1_per_request"] = _httpx_probe(port, min(2_000, args.alerts))
    return results


def _httpx_probe(port: int, requests: int) -> dict[str, Any]:
    """The same no-op load with httpx's AsyncClient (64 connections), for comparison."""
    bodies = webhook_bodies(requests, 1)
    latencies: list[float] = []

    async def main() -> float:
        limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            queue = iter(bodies)

            async def worker() -> None:
                for body in queue:
                    started = time.perf_counter()
                    await client.post(
                        f"http://127.0.0.1:{port}/noop",
                        content=body,
                        headers={"content-type": "application/json"},
                    )
                    latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
            return time.perf_counter() - started

    elapsed = asyncio.run(main())
    return {"requests": requests, "requests_per_s": round(requests / elapsed, 1)}


def _decided_ratios(postgresql: dict[str, Any], sqlite: dict[str, Any]) -> dict[str, float]:
    """PostgreSQL's rate of decided alerts over SQLite's, per request size."""
    return {
        label: round(
            postgresql[label]["decided_alerts_per_s"] / sqlite[label]["decided_alerts_per_s"], 3
        )
        for label in ("1_per_request", "100_per_request")
        if label in postgresql and label in sqlite
    }


def _ratios(tocsin: dict[str, Any], am: dict[str, Any]) -> dict[str, float]:
    return {
        label: round(tocsin[label]["alerts_per_s"] / am[label]["alerts_per_s"], 3)
        for label in ("1_per_request", "100_per_request")
        if label in tocsin and label in am
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=50_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--no-alertmanager", action="store_true")
    parser.add_argument(
        "--httpx-probe", action="store_true", help="Also drive the no-op with httpx."
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="`tocsin serve --workers`: HTTP server processes (default 2, one per core here).",
    )
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        help="Pass to `tocsin serve` (repeatable), e.g. --serve-arg=--no-worker.",
    )
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    out: dict[str, Any] = {
        "alerts": args.alerts,
        "fingerprints": min(FINGERPRINTS, args.alerts),
        "connections": CONNECTIONS,
        "tocsin_workers": args.workers,
        "tocsin_serve_args": args.serve_arg,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
        },
    }
    out["noop_endpoint"] = run_noop(args)
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-") as tmp:
        workdir = Path(tmp)
        if "sqlite" in backends:
            out["sqlite"] = run_tocsin_backend("sqlite", None, workdir, args)
        if "postgresql" in backends:
            if find_pg_bin() is None:
                out["postgresql"] = {"skipped": "PostgreSQL server binaries not found"}
            else:
                with PostgresCluster() as cluster:
                    cluster.create_database("bench")
                    out["postgresql"] = run_tocsin_backend(
                        "postgresql", cluster.url("bench"), workdir, args
                    )
    if not args.no_alertmanager:
        if find_alertmanager() is None:
            out["alertmanager"] = {"skipped": "prometheus-alertmanager not installed"}
        else:
            out["alertmanager"] = run_alertmanager(args)
            out["ratios_tocsin_to_alertmanager"] = {
                backend: _ratios(out[backend], out["alertmanager"])
                for backend in ("sqlite", "postgresql")
                if backend in out and "skipped" not in out[backend]
            }
    sqlite = out.get("sqlite", {})
    if "1_per_request" in sqlite and "1_per_request" in out.get("postgresql", {}):
        out["postgresql_to_sqlite_decided"] = _decided_ratios(out["postgresql"], sqlite)
    if "1_per_request" in sqlite:
        one, hundred = sqlite["1_per_request"], sqlite["100_per_request"]
        out["targets_sqlite"] = {
            "1_per_request_alerts_per_s": _target(TARGETS["1"], one["alerts_per_s"], True),
            "100_per_request_alerts_per_s": _target(TARGETS["100"], hundred["alerts_per_s"], True),
            "1_per_request_p99_ms": _target(P99_TARGET_MS, one["p99_ms"], False),
        }
    out["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=2))


def _target(target: float, reached: float, higher_is_better: bool) -> dict[str, Any]:
    met = reached >= target if higher_is_better else reached < target
    return {"target": target, "reached": reached, "met": met}


if __name__ == "__main__":
    main()
