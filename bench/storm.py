"""The worst day: an alert storm on one service, and whether everything else still works.

Each scenario runs against a fresh ``tocsin serve`` (one process unless ``--workers``;
SQLite, or a database of a throwaway PostgreSQL cluster) in a temporary directory. The
policy is the example ``tocsin init`` writes, plus what the bench needs to see pages
arrive: a person ``bench-pager`` whose notification rule sends everything to a webhook
channel pointing at a receiver in this process (127.0.0.1), an escalation policy paging
them, a service ``probe-api`` (owned by a team ``bench``, depending on nothing, so that
cascade detection never ties it to the storm) using that policy, and a route sending
``service="probe-api"`` alerts there. The storm itself hits the example's
``checkout-api`` (its pages go to the example's SMS, voice and Slack channels, which
fail at once without credentials: real work for the delivery worker, no network).

Scenario ``storm`` (A): ``--alerts`` (10,000) distinct firing alerts, ``severity:
critical``, for ``checkout-api``, each with its own ``alertname`` and ``instance`` (so
each is a new alert group), sent as Alertmanager webhooks of ``--per-request`` (100)
alerts over ``--senders`` (4) concurrent keep-alive connections. Meanwhile, every
``--interval`` (0.25 s), a SEV1 incident on ``probe-api`` is declared through ``POST
/api/v1/incidents`` (the admin token ``tocsin init`` wrote) and, on its own schedule, a
new probe alert for ``probe-api`` is posted to an Alertmanager integration of that
service (each opens its own incident). Measured: the storm's wall time (first request
sent to last alert decided: a body the server queued is answered first) and new
alerts/s; the incidents whose services include ``checkout-api`` (read from the
database); whether every storm alert is stored exactly once (rows, distinct dedup keys
and occurrences in the database); the request latency of the declares and of the probe
alerts, separately; declare -> first delivery attempt and probe alert -> first delivery
attempt (from just before the request was written to the moment the receiver read the
page whose body names the incident id the request's answer gave); non-2xx answers; the
peak RSS of the server's process tree (``VmHWM`` of every process in it, from /proc,
added up; plus the largest sum of ``VmRSS`` sampled every 0.25 s); the server's own
count of write transactions by kind of writer, their mean wait for the writer lock and
how many waited past 250 ms (``tocsin_writer_wait_seconds`` on ``/metrics``, before and
after: every wait, on both databases); and the write wait seen from outside:
on PostgreSQL, the age of the oldest ungranted lock (``pg_locks.waitstart``) sampled
every 0.1 s; on SQLite, only with ``--write-wait-probe``, how long a separate process
queued for the server's writer lock file (``tocsin.db.writer-lock``, ``flock``) taking
and releasing it every 0.1 s. That probe is off by default: it is one more writer in the
queue it measures, and the server's writer threads starve past a threshold (writers then
give up after waiting 30 s; presumably those queued behind a long transaction fill the
thread pool that must end it), so one more writer can change the outcome. Either way
``server_log`` counts, in ``serve.log``, the writers that gave up after 30 s and went
ahead, unhandled errors and "database unavailable" lines.

Scenario ``nocollapse`` (B): the same storm with ``--nocollapse-alerts`` (2,000) alerts
and the storm rule switched off (``alerting.storm.enabled: false``) when the example
policy has an ``alerting.storm`` section; otherwise the policy is left as it is and the
result says ``"storm_setting_present": false``. Reported: incidents opened per second
of storm wall time, with the same probes.

Scenario ``big`` (C): one Alertmanager request carrying ``--big-alerts`` (9,000)
distinct critical alerts (short labels; the body is checked to stay under the server's
1 MiB limit) while the declare probe runs. Reported: the request's answer time, the
time until all its alerts are stored (the database is polled every 0.5 s), the declare
latency and declare -> first delivery attempt during it, the write wait and peak RSS.

Every wait is bounded: a storm or a big request still unfinished after ``--max-wait``
(600 s) is abandoned and reported as timed out; pages still missing ``--page-wait``
(120 s) after the load ended are reported as not paged. The JSON on stdout carries each
figure next to its target (``checks``) and, with ``--database both``, PostgreSQL's
figures as a ratio of SQLite's. Progress goes to stderr.

    .venv/bin/python bench/storm.py [--quick] [--scenario storm|nocollapse|big|all] \\
        [--database sqlite|postgres|both] [--alerts 10000] [--per-request 100] \\
        [--senders 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import Load, _connection, _event_loop_runner, peak_rss_mib
from bench.page_latency import _ms
from tests.support.pgcluster import PostgresCluster, find_pg_bin
from tests.support.receivers import ReceivedRequest, WebhookReceiver
from tests.support.servers import clean_env, free_port, run_tocsin, start_server, stop_server

STORM_SERVICE = "checkout-api"
PROBE_SERVICE = "probe-api"
PAGER = "bench-pager"
PAGER_CHANNEL = "bench-pager-hook"
STARTS_AT = "2026-03-02T08:00:00Z"
#: The server's request body limit (``Settings.max_body_bytes``).
MAX_BODY_BYTES = 1024 * 1024
#: One probe request's timeout; probes in flight at once (beyond it, a tick is skipped).
REQUEST_TIMEOUT = 60.0
MAX_PROBES_IN_FLIGHT = 64
SAMPLE_EVERY = 0.1
RSS_EVERY = 0.25
#: Environment variables that would let the example's channels reach the internet, or
#: send the server's webhooks through a proxy: left out of the server's environment.
OUTSIDE = frozenset(
    {"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"}
    | {f"{name}_PROXY" for name in ("HTTP", "HTTPS", "ALL")}
    | {f"{name}_proxy" for name in ("http", "https", "all")}
)

TARGETS: dict[str, str] = {
    "storm_new_alerts_per_s": ">= 2000 (collapsing)",
    "nocollapse_incidents_per_s": ">= 300 (storm rule off)",
    "storm_incidents_opened": "<= 5",
    "probe_request_p99_ms": "< 250 (declares and probe alerts, each)",
    "probe_to_first_delivery_p99_ms": "< 1000 (every probe paged)",
    "peak_rss_mib": "< 300",
    "writes_waiting_over_250ms": "0 (foreground and background writers, from the server's "
    "tocsin_writer_wait_seconds)",
    "postgres_vs_sqlite": "PostgreSQL within 2x of SQLite",
}


def log(message: str) -> None:
    print(f"[storm {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _check(reached: float | int | bool | None, target: float, op: str) -> dict[str, Any]:
    """``reached`` next to ``target``; ``met`` is None when nothing was measured."""
    met: bool | None
    if reached is None:
        met = None
    elif op == ">=":
        met = reached >= target
    elif op == "<=":
        met = reached <= target
    else:
        met = reached < target
    return {"target": f"{op} {target:g}", "reached": reached, "met": met}


# -- the policy --------------------------------------------------------------------------


def bench_policy(example: str, pager_url: str, storm_off: bool) -> tuple[str, bool]:
    """The example policy plus the bench's pager, service, route and webhook channel;
    with ``storm_off``, ``alerting.storm.enabled: false`` when the policy has that
    section. Returns the text and whether ``alerting.storm`` exists."""
    yaml = YAML()
    yaml.width = 4096
    doc: Any = yaml.load(example)
    doc["people"].append({"name": PAGER, "email": f"{PAGER}@example.com"})
    doc["teams"].append({"name": "bench", "members": [PAGER]})
    doc["escalation_policies"].append(
        {"name": PAGER, "tiers": [{"timeout": "5m", "targets": [{"person": PAGER}]}]}
    )
    doc["services"].append(
        {
            "name": PROBE_SERVICE,
            "description": "The bench's probes: depends on nothing, pages bench-pager",
            "team": "bench",
            "escalation_policy": PAGER,
        }
    )
    probe_route: dict[str, Any] = {
        "name": "bench-probes",
        "match": [f'service="{PROBE_SERVICE}"'],
        "service": PROBE_SERVICE,
    }
    if "storm" in (doc.get("alerting") or {}):
        # Four new probe alerts a second would themselves be a storm on probe-api; each
        # must page on its own, as the unrelated incident it stands for would.
        probe_route["storm"] = {"enabled": False}
    doc["routes"].setdefault("routes", []).insert(0, probe_route)
    doc.setdefault("channels", {})[PAGER_CHANNEL] = {
        "type": "webhook",
        "url": pager_url,
        "timeout": "5s",
        "concurrency": 8,
    }
    doc.setdefault("notification_rules", {})[PAGER] = [{"notify": [{"channel": PAGER_CHANNEL}]}]
    alerting = doc.get("alerting")
    present = isinstance(alerting, dict) and "storm" in alerting
    if present and storm_off:
        if isinstance(alerting["storm"], dict):
            alerting["storm"]["enabled"] = False
        else:
            alerting["storm"] = {"enabled": False}
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue(), present


# -- the server --------------------------------------------------------------------------


@dataclass
class Server:
    workdir: Path
    port: int
    token: str
    process: subprocess.Popen[str]
    database_url: str
    storm_setting_present: bool

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self) -> httpx.Client:
        """A client of the server's API with the admin token."""
        return httpx.Client(
            base_url=self.url,
            timeout=60,
            headers={"Authorization": f"Bearer {self.token}"},
            trust_env=False,
        )

    def integration(self, name: str, service: str) -> str:
        with self.api() as api:
            answer = api.post(
                "/api/v1/integrations",
                json={"name": name, "service": service, "kind": "alertmanager"},
            )
            answer.raise_for_status()
            key: str = answer.json()["key"]
            return key

    def writer_waits(self) -> dict[str, dict[str, float]]:
        """The server's ``tocsin_writer_wait_seconds`` so far, by writer: how many write
        transactions waited, for how long in all, and how many waited past 250 ms."""
        with self.api() as api:
            answer = api.get("/metrics")
            answer.raise_for_status()
        found: dict[str, dict[str, float]] = {}
        for family in text_string_to_metric_families(answer.text):
            if family.name != WRITER_WAIT:
                continue
            for sample in family.samples:
                waits = found.setdefault(sample.labels["writer"], {})
                if sample.name.endswith("_count"):
                    waits["count"] = sample.value
                elif sample.name.endswith("_sum"):
                    waits["sum_s"] = sample.value
                elif sample.labels.get("le") == "0.25":
                    waits["within_250ms"] = sample.value
        return found


WRITER_WAIT = "tocsin_writer_wait_seconds"


def writer_waits_between(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """What the writers waited while the scenario ran, from the server's histogram (each
    write transaction's wait for its turn; bulk is the ingestion itself)."""
    out: dict[str, Any] = {}
    for writer, now in sorted(after.items()):
        was = before.get(writer, {})
        count = now.get("count", 0.0) - was.get("count", 0.0)
        within = now.get("within_250ms", 0.0) - was.get("within_250ms", 0.0)
        total = now.get("sum_s", 0.0) - was.get("sum_s", 0.0)
        out[writer] = {
            "transactions": int(count),
            "mean_wait_ms": round(total * 1000 / count, 1) if count else None,
            "waited_over_250ms": int(count - within),
        }
    return out


@contextlib.contextmanager
def tocsin_server(
    workdir: Path,
    database_url: str | None,
    pager_url: str,
    *,
    storm_off: bool,
    workers: int,
) -> Iterator[Server]:
    """``tocsin init`` in ``workdir`` (the example policy), the bench's additions to the
    policy, then ``tocsin serve`` (output in ``serve.log``)."""
    workdir.mkdir(parents=True)
    extra = {"TOCSIN_DATABASE_URL": database_url} if database_url else None
    env = {k: v for k, v in clean_env(extra).items() if k not in OUTSIDE}
    port = free_port()
    init = run_tocsin("init", "--url", f"http://127.0.0.1:{port}", cwd=workdir, env=env)
    if init.returncode != 0:
        raise RuntimeError(f"tocsin init failed:\n{init.stdout}{init.stderr}")
    policy_path = workdir / "tocsin.yaml"
    policy, present = bench_policy(
        policy_path.read_text(encoding="utf-8"), pager_url, storm_off=storm_off
    )
    policy_path.write_text(policy, encoding="utf-8")
    token = json.loads((workdir / ".tocsin" / "credentials.json").read_text())["token"]
    process = start_server(
        workdir, port, env, "--workers", str(workers), timeout=60, log=workdir / "serve.log"
    )
    url = database_url or f"sqlite:///{workdir / '.tocsin' / 'tocsin.db'}"
    try:
        yield Server(workdir, port, token, process, url, present)
    finally:
        tree = process_tree(process.pid)
        try:
            stop_server(process)
        except subprocess.TimeoutExpired:
            log("tocsin serve did not stop within 15 s of SIGTERM; killing it")
            for pid in reversed(tree):  # the server's own processes, children first
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.wait(timeout=15)


def server_log(workdir: Path) -> dict[str, int]:
    """Lines of ``serve.log`` that tell of trouble: writers that gave up waiting for
    another writer thread (SQLite, after 30 s) and went ahead, unhandled errors, the
    database reported unavailable."""
    try:
        lines = (workdir / "serve.log").read_text(errors="replace").splitlines()
    except OSError:
        return {}
    return {
        "writers_gave_up_waiting_30s": sum("for another writer thread" in line for line in lines),
        "unhandled_errors": sum(line.startswith("ERROR:") for line in lines),
        "database_unavailable": sum("database unavailable" in line for line in lines),
    }


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process descended from it (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def tree_peak_rss_mib(pid: int) -> float | None:
    """The peak resident sets (``VmHWM``) of the server's process tree, added up."""
    sizes = [peak_rss_mib(p) for p in process_tree(pid)]
    known = [s for s in sizes if s is not None]
    return round(sum(known), 1) if known else None


# -- samplers (threads) ------------------------------------------------------------------

#: Takes and releases the writer lock file every argv[2] seconds, saying when it queued
#: (time.monotonic(), the same clock as this process's) and how long it waited.
FLOCK_PROBE = r"""
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
while True:
    time.sleep(float(sys.argv[2]))
    started = time.monotonic()
    print("queued", started, flush=True)
    fcntl.flock(fd, fcntl.LOCK_EX)
    fcntl.flock(fd, fcntl.LOCK_UN)
    print("waited", time.monotonic() - started, flush=True)
"""


class Sampler:
    """While running: the server tree's summed RSS every 0.25 s, and the write wait every
    0.1 s (SQLite: queueing for the writer lock file; PostgreSQL: the oldest ungranted
    lock in ``pg_locks``)."""

    def __init__(self, server: Server, sqlite_probe: bool = False) -> None:
        self.server = server
        self.postgres = server.database_url.startswith("postgresql")
        self.write_wait = self.postgres or sqlite_probe
        self.stop_event = threading.Event()
        self.max_rss = 0.0
        self.waits: list[float] = []
        self.wait_errors = 0
        #: SQLite: when the probe queued for the lock it has not been granted yet.
        self.queued_since: float | None = None
        self.stopped_at: float | None = None
        self._child: subprocess.Popen[str] | None = None
        self.method = (
            "postgres: max(now() - waitstart) over ungranted pg_locks, sampled every 0.1 s"
            if server.database_url.startswith("postgresql")
            else "sqlite: time queued for flock on tocsin.db.writer-lock, tried every 0.1 s"
        )
        self._threads = [
            threading.Thread(target=self._rss, daemon=True),
            threading.Thread(target=self._writes, daemon=True),
        ]

    def __enter__(self) -> Sampler:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop_event.set()
        self.stopped_at = time.monotonic()
        if self._child is not None:
            self._child.terminate()  # also when it is queued for the lock
        for thread in self._threads:
            thread.join(timeout=5)
        if self._child is not None and self._child.poll() is None:
            self._child.kill()
            self._child.wait(timeout=5)

    def _rss(self) -> None:
        while not self.stop_event.wait(RSS_EVERY):
            sizes = [_rss_mib(p) for p in process_tree(self.server.process.pid)]
            self.max_rss = max(self.max_rss, sum(s for s in sizes if s is not None))

    def _writes(self) -> None:
        if not self.write_wait:
            self.method = (
                "sqlite: not probed (--write-wait-probe); see server_log for writers that "
                "waited 30 s"
            )
        elif self.postgres:
            self._postgres_waits()
        else:
            self._sqlite_waits()

    def _sqlite_waits(self) -> None:
        """The lock is taken by a single-threaded child process, so it is released the
        moment it is granted (a thread here would first wait for this process's GIL)."""
        path = self.server.workdir / ".tocsin" / "tocsin.db.writer-lock"
        child = subprocess.Popen(
            [sys.executable, "-c", FLOCK_PROBE, str(path), str(SAMPLE_EVERY)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self._child = child
        assert child.stdout is not None
        for line in child.stdout:
            kind, _, value = line.partition(" ")
            if kind == "queued":
                self.queued_since = float(value)
            elif kind == "waited":
                self.queued_since = None
                self.waits.append(float(value))
        if child.wait() not in (0, -15):
            self.wait_errors += 1

    def _postgres_waits(self) -> None:
        engine = create_engine(self.server.database_url)
        query = text(
            "SELECT COALESCE(MAX(EXTRACT(EPOCH FROM clock_timestamp() - waitstart)), 0) "
            "FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()"
        )
        try:
            with engine.connect() as conn:
                while not self.stop_event.wait(SAMPLE_EVERY):
                    try:
                        self.waits.append(float(conn.execute(query).scalar_one()))
                        conn.rollback()
                    except Exception:
                        self.wait_errors += 1
                        conn.rollback()
        except Exception:
            self.wait_errors += 1
        finally:
            engine.dispose()

    def report(self) -> dict[str, Any]:
        waits = list(self.waits)
        unfinished = None
        if self.queued_since is not None and self.stopped_at is not None:
            # still queued when the run ended: counted as waiting until then
            unfinished = round((self.stopped_at - self.queued_since) * 1000, 1)
            waits.append(self.stopped_at - self.queued_since)
        ms = _ms(waits)
        return {
            "method": self.method,
            "samples": len(waits),
            "p50_ms": ms["p50"],
            "p99_ms": ms["p99"],
            "max_ms": ms["max"],
            "still_queued_at_end_ms": unfinished,
            "sampler_errors": self.wait_errors,
        }


# -- the pager's receiver ----------------------------------------------------------------


@dataclass
class Pages:
    """When the first page for each incident id reached the receiver (perf_counter)."""

    first: dict[str, float] = field(default_factory=dict)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_request(self, request: ReceivedRequest) -> None:
        arrived = time.perf_counter()
        try:
            body = request.json()
        except ValueError:
            return
        incident = body.get("incident", {}).get("id") if isinstance(body, dict) else None
        with self.lock:
            self.requests += 1
            if body.get("kind") == "page" and isinstance(incident, str):
                self.first.setdefault(incident, arrived)

    def wait_for(self, incidents: Sequence[str], seconds: float) -> float:
        """Wait until every one of ``incidents`` was paged, at most ``seconds``;
        returns the seconds waited."""
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            with self.lock:
                if all(i in self.first for i in incidents):
                    break
            time.sleep(0.05)
        return round(time.perf_counter() - started, 2)


# -- probes (asyncio) --------------------------------------------------------------------


@dataclass
class Probe:
    """Requests sent on a fixed schedule: their latencies, statuses and the incident
    each opened (with the moment its request was sent)."""

    name: str
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    sent_at: dict[str, float] = field(default_factory=dict)
    sent: int = 0
    skipped: int = 0

    def count(self, status: str) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def report(self, pages: Pages) -> dict[str, Any]:
        with pages.lock:
            delivered = {i: pages.first[i] - t for i, t in self.sent_at.items() if i in pages.first}
        non_2xx = sum(n for s, n in self.statuses.items() if not s.startswith("2"))
        return {
            "sent": self.sent,
            "skipped_too_many_in_flight": self.skipped,
            "statuses": dict(sorted(self.statuses.items())),
            "non_2xx": non_2xx,
            "request_ms": _ms(self.latencies),
            "incidents": len(self.sent_at),
            "paged": len(delivered),
            "not_paged": len(self.sent_at) - len(delivered),
            "to_first_delivery_ms": _ms(list(delivered.values())),
        }


async def _paced(
    interval: float,
    stop: asyncio.Event,
    probe: Probe,
    fire: Callable[[int], Coroutine[Any, Any, None]],
) -> None:
    """``fire(n)`` every ``interval`` seconds until ``stop``, without waiting for the
    previous one (at most MAX_PROBES_IN_FLIGHT at once; then the tick is skipped)."""
    tasks: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    n = 0
    while not stop.is_set():
        delay = started + n * interval - time.perf_counter()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                break
        if len(tasks) >= MAX_PROBES_IN_FLIGHT:
            probe.skipped += 1
        else:
            task = asyncio.create_task(fire(n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            probe.sent += 1
        n += 1
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


async def _timed_post(
    client: httpx.AsyncClient, probe: Probe, path: str, **kwargs: Any
) -> tuple[float, httpx.Response | None]:
    """POST; the time until the answer, or until the request was given up (a timeout
    or a transport error), goes into ``probe.latencies``."""
    started = time.perf_counter()
    try:
        answer = await client.post(path, **kwargs)
    except httpx.HTTPError as exc:
        probe.latencies.append(time.perf_counter() - started)
        probe.count("timeout" if isinstance(exc, httpx.TimeoutException) else type(exc).__name__)
        return started, None
    probe.latencies.append(time.perf_counter() - started)
    probe.count(str(answer.status_code))
    return started, answer


def declare_loop(
    client: httpx.AsyncClient, token: str, interval: float, stop: asyncio.Event, probe: Probe
) -> Coroutine[Any, Any, None]:
    headers = {"Authorization": f"Bearer {token}"}

    async def fire(n: int) -> None:
        body = {
            "title": f"Unrelated outage {n}",
            "severity": "SEV1",
            "services": [PROBE_SERVICE],
        }
        started, answer = await _timed_post(
            client, probe, "/api/v1/incidents", json=body, headers=headers
        )
        if answer is not None and answer.is_success:
            probe.sent_at[str(answer.json()["id"])] = started

    return _paced(interval, stop, probe, fire)


def probe_alert_body(n: int) -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": f"Probe{n}", "service": PROBE_SERVICE, "severity": "critical"},
        "annotations": {"summary": f"probe {n}"},
        "startsAt": STARTS_AT,
    }
    return _webhook_body([alert])


def alert_loop(
    client: httpx.AsyncClient, key: str, interval: float, stop: asyncio.Event, probe: Probe
) -> Coroutine[Any, Any, None]:
    path = f"/api/v1/integrations/{key}/alertmanager"
    headers = {"Content-Type": "application/json"}

    async def fire(n: int) -> None:
        started, answer = await _timed_post(
            client, probe, path, content=probe_alert_body(n), headers=headers
        )
        if answer is not None and answer.is_success:
            incident = answer.json()["alerts"][0].get("incident")
            if incident:
                probe.sent_at[str(incident)] = started

    return _paced(interval, stop, probe, fire)


def _client(server: Server) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=MAX_PROBES_IN_FLIGHT * 2, max_keepalive_connections=MAX_PROBES_IN_FLIGHT
    )
    return httpx.AsyncClient(
        base_url=server.url, timeout=REQUEST_TIMEOUT, limits=limits, trust_env=False
    )


# -- bodies ------------------------------------------------------------------------------


def _webhook_body(alerts: list[dict[str, Any]]) -> bytes:
    """Alertmanager's webhook (version 4), compact."""
    body = {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "tocsin",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid",
        "alerts": alerts,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def storm_bodies(alerts: int, per_request: int) -> list[bytes]:
    """Distinct critical alerts for the storm's service, ``per_request`` a body."""
    bodies = []
    for start in range(0, alerts, per_request):
        batch = [
            {
                "status": "firing",
                "labels": {
                    "alertname": f"Storm{n}",
                    "instance": f"host-{n}:9100",
                    "service": STORM_SERVICE,
                    "severity": "critical",
                },
                "annotations": {"summary": f"storm alert {n}"},
                "startsAt": STARTS_AT,
                # What Alertmanager always sends with each alert (see shared samples).
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": f"http://prometheus.example:9090/graph?g0.expr=storm{n}",
                "fingerprint": f"{n:016x}",
            }
            for n in range(start, min(start + per_request, alerts))
        ]
        bodies.append(_webhook_body(batch))
    return bodies


def big_body(alerts: int) -> bytes:
    """``alerts`` distinct critical alerts in one body, labels kept short (the service
    comes from the integration); refuses a body over the server's limit."""
    body = _webhook_body(
        [
            {"status": "firing", "labels": {"alertname": f"B{n}", "severity": "critical"}}
            for n in range(alerts)
        ]
    )
    if len(body) >= MAX_BODY_BYTES:
        raise SystemExit(
            f"{alerts} alerts make a {len(body)}-byte body, over the server's "
            f"{MAX_BODY_BYTES}-byte limit: use fewer --big-alerts"
        )
    return body


# -- the database ------------------------------------------------------------------------

STORED_SQL = text(
    "SELECT COUNT(*), COUNT(DISTINCT a.dedup_key), COALESCE(SUM(a.occurrences), 0), "
    "COUNT(a.incident_id) FROM alerts a JOIN integrations i ON i.id = a.integration_id "
    "WHERE i.name = :name"
)
INCIDENTS_SQL = text(
    "SELECT COUNT(DISTINCT incident_id) FROM incident_services WHERE service = :service"
)
NOTIFICATIONS_SQL = text("SELECT state, COUNT(*) FROM notifications GROUP BY state")
#: What the wait for the last decision polls: the rows alone, read from the unique
#: index on (integration, dedup key). The full check above reads every row (16 ms at
#: 10,000 alerts on PostgreSQL) and, polled every 0.05 s, took a quarter of a core from
#: the server it was waiting for.
COUNT_SQL = text(
    "SELECT COUNT(*) FROM alerts WHERE integration_id = "
    "(SELECT id FROM integrations WHERE name = :name)"
)


def stored(engine: Engine, integration: str, expected: int) -> dict[str, Any]:
    with engine.connect() as conn:
        rows, distinct, occurrences, linked = conn.execute(STORED_SQL, {"name": integration}).one()
    return {
        "rows": rows,
        "distinct_dedup_keys": distinct,
        "occurrences": int(occurrences),
        "with_incident": linked,
        "expected": expected,
        "exactly_once": rows == distinct == expected and int(occurrences) == expected,
    }


def incidents_on(engine: Engine, service: str) -> int:
    with engine.connect() as conn:
        count: int = conn.execute(INCIDENTS_SQL, {"service": service}).scalar_one()
        return count


def notifications(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {str(state): int(n) for state, n in conn.execute(NOTIFICATIONS_SQL).all()}


def stored_count(engine: Engine, integration: str) -> int:
    with engine.connect() as conn:
        count: int = conn.execute(COUNT_SQL, {"name": integration}).scalar_one()
        return count


# -- scenarios A and B: the storm --------------------------------------------------------


@dataclass
class StormLoad:
    load: Load
    alerts: int
    timed_out: bool = False
    #: Seconds until the last request was answered (``load.elapsed``: until the last
    #: alert was decided, which is later when the server queued bodies).
    answered_after: float = 0.0
    errors: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        load = self.load
        answered = len(load.latencies)
        ok = sum(n for s, n in load.statuses.items() if 200 <= s < 300)
        ok_alerts = self._ok_alerts()
        seconds = load.elapsed
        return {
            "requests": len(load.bodies),
            "answered": answered,
            "non_2xx": len(load.bodies) - ok,
            "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
            "connection_errors": self.errors,
            "timed_out": self.timed_out,
            "wall_s": round(seconds, 3),
            "last_answer_s": round(self.answered_after, 3),
            "new_alerts_accepted": ok_alerts,
            "new_alerts_per_s": round(ok_alerts / seconds, 1) if seconds > 0 else None,
            "request_ms": _ms(load.latencies),
        }

    def _ok_alerts(self) -> int:
        """Alerts in 2xx-answered requests: exact when every request succeeded (the
        loader does not say which body an answer was for; all but the last are full)."""
        ok = sum(n for s, n in self.load.statuses.items() if 200 <= s < 300)
        return min(ok * self.load.alerts_per_request, self.alerts)


async def _until_decided(engine: Engine, integration: str, alerts: int, deadline: float) -> bool:
    """Wait (polling the database every 0.05 s) until ``alerts`` alerts of the
    integration are stored: a body the server queued is answered before its alerts are
    decided, so the storm has passed only when the last of them is. False on timeout."""
    while time.perf_counter() < deadline:
        if await asyncio.to_thread(stored_count, engine, integration) >= alerts:
            return True
        await asyncio.sleep(0.05)
    return False


async def _storm(
    server: Server, args: argparse.Namespace, alerts: int, pages: Pages, engine: Engine
) -> tuple[StormLoad, Probe, Probe]:
    storm_key = server.integration("storm", STORM_SERVICE)
    probe_key = server.integration("probes", PROBE_SERVICE)
    path = f"/api/v1/integrations/{storm_key}/alertmanager"
    bodies = storm_bodies(alerts, args.per_request)
    storm = StormLoad(
        Load("127.0.0.1", server.port, path, bodies, args.per_request, connections=args.senders),
        alerts,
    )
    declares, probes = Probe("declare"), Probe("probe_alert")
    stop = asyncio.Event()
    async with _client(server) as client:
        loops = [
            asyncio.create_task(declare_loop(client, server.token, args.interval, stop, declares)),
            asyncio.create_task(alert_loop(client, probe_key, args.interval, stop, probes)),
        ]
        queue = iter(range(len(bodies)))
        storm.load.started = time.perf_counter()
        senders = asyncio.gather(
            *(_connection(storm.load, queue) for _ in range(args.senders)),
            return_exceptions=True,
        )
        try:
            results = await asyncio.wait_for(senders, args.max_wait)
            storm.errors = [repr(r) for r in results if isinstance(r, BaseException)]
        except TimeoutError:
            storm.timed_out = True
        storm.answered_after = (
            max(storm.load.completed) if storm.load.completed else time.perf_counter()
        ) - storm.load.started
        if not storm.timed_out:
            decided = await _until_decided(
                engine, "storm", storm._ok_alerts(), storm.load.started + args.max_wait
            )
            storm.timed_out = not decided
        storm.load.elapsed = time.perf_counter() - storm.load.started
        stop.set()
        await asyncio.gather(*loops)
    return storm, declares, probes


def run_storm(
    name: str, database_url: str | None, workdir: Path, args: argparse.Namespace, alerts: int
) -> dict[str, Any]:
    """Scenario A (``storm``) or B (``nocollapse``: the storm rule off)."""
    pages = Pages()
    receiver = WebhookReceiver(on_request=pages.on_request).start()
    try:
        with tocsin_server(
            workdir,
            database_url,
            receiver.url,
            storm_off=name == "nocollapse",
            workers=args.workers,
        ) as server:
            engine = create_engine(server.database_url)
            try:
                loadavg = os.getloadavg()[0]
                log(f"{name}: {alerts} alerts, {args.per_request}/request, {args.senders} senders")
                waits_before = server.writer_waits()
                with Sampler(server, args.write_wait_probe) as sampler:
                    runner = _event_loop_runner()
                    with runner:
                        storm, declares, probes = runner.run(
                            _storm(server, args, alerts, pages, engine)
                        )
                    log(
                        f"{name}: storm took {storm.load.elapsed:.1f} s"
                        + (" (timed out)" if storm.timed_out else "")
                        + "; waiting for the probes' pages"
                    )
                    waited = pages.wait_for([*declares.sent_at, *probes.sent_at], args.page_wait)
                waits = writer_waits_between(waits_before, server.writer_waits())
                peak = tree_peak_rss_mib(server.process.pid)
                opened = incidents_on(engine, STORM_SERVICE)
                storm_report = storm.report()
                ok_alerts = storm_report["new_alerts_accepted"]
                result: dict[str, Any] = {
                    "alerts": alerts,
                    "per_request": args.per_request,
                    "senders": args.senders,
                    "storm_setting_present": server.storm_setting_present,
                    "storm_rule": (
                        ("off" if name == "nocollapse" else "as in the example policy")
                        if server.storm_setting_present
                        else "no alerting.storm section in the example policy"
                    ),
                    "loadavg_1m_before": round(loadavg, 2),
                    "storm": storm_report,
                    "incidents_opened_on_storm_service": opened,
                    "incidents_per_s": (
                        round(opened / storm.load.elapsed, 1) if storm.load.elapsed > 0 else None
                    ),
                    "stored": stored(engine, "storm", ok_alerts),
                    "declare": declares.report(pages),
                    "probe_alert": probes.report(pages),
                    "waited_for_pages_s": waited,
                    "webhook_requests_received": pages.requests,
                    "notifications_by_state": notifications(engine),
                    "write_wait": sampler.report(),
                    "writer_waits": waits,
                    "peak_rss_mib": peak,
                    "max_sampled_rss_mib": round(sampler.max_rss, 1),
                }
            finally:
                engine.dispose()
    finally:
        receiver.stop()
    result["server_log"] = server_log(workdir)
    result["checks"] = storm_checks(name, result)
    return result


def _probe_checks(result: dict[str, Any], kinds: Sequence[str]) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    for kind in kinds:
        probe = result[kind]
        checks[f"{kind}_request_p99_ms"] = _check(probe["request_ms"]["p99"], 250, "<")
        delivery = _check(probe["to_first_delivery_ms"]["p99"], 1000, "<")
        if probe["not_paged"] or probe["non_2xx"]:
            delivery["met"] = False
            delivery["note"] = f"{probe['not_paged']} not paged, {probe['non_2xx']} non-2xx"
        checks[f"{kind}_to_first_delivery_p99_ms"] = delivery
    checks["peak_rss_mib"] = _check(result["peak_rss_mib"], 300, "<")
    waits = result["writer_waits"]
    # People's writes and the engine's wait for at most one bulk transaction.
    over = sum(waits.get(w, {}).get("waited_over_250ms", 0) for w in ("foreground", "background"))
    checks["writes_waiting_over_250ms"] = _check(over, 0, "<=")
    return checks


def storm_checks(name: str, result: dict[str, Any]) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    if name == "storm":
        checks["new_alerts_per_s"] = _check(result["storm"]["new_alerts_per_s"], 2000, ">=")
        checks["incidents_opened"] = _check(result["incidents_opened_on_storm_service"], 5, "<=")
    else:
        checks["incidents_per_s"] = _check(result["incidents_per_s"], 300, ">=")
    checks["stored_exactly_once"] = {
        "target": True,
        "reached": result["stored"]["exactly_once"],
        "met": result["stored"]["exactly_once"] and not result["storm"]["timed_out"],
    }
    checks.update(_probe_checks(result, ("declare", "probe_alert")))
    return checks


# -- scenario C: one big request ---------------------------------------------------------


async def _big(
    server: Server, args: argparse.Namespace, engine: Engine
) -> tuple[dict[str, Any], Probe]:
    key = server.integration("big", STORM_SERVICE)
    body = big_body(args.big_alerts)
    declares = Probe("declare")
    stop = asyncio.Event()
    outcome: dict[str, Any] = {"body_bytes": len(body), "alerts": args.big_alerts}
    async with _client(server) as client:
        loop = asyncio.create_task(
            declare_loop(client, server.token, args.interval, stop, declares)
        )
        started = time.perf_counter()
        deadline = started + args.max_wait

        async def send() -> None:
            try:
                answer = await client.post(
                    f"/api/v1/integrations/{key}/alertmanager",
                    content=body,
                    headers={"Content-Type": "application/json"},
                    timeout=args.max_wait,
                )
                outcome["status"] = answer.status_code
                if not answer.is_success:
                    outcome["answer"] = answer.text[:500]
            except httpx.HTTPError as exc:
                outcome["status"] = type(exc).__name__
            outcome["answer_s"] = round(time.perf_counter() - started, 3)

        request = asyncio.create_task(send())
        count = 0
        while time.perf_counter() < deadline:
            count = await asyncio.to_thread(stored_count, engine, "big")
            if count >= args.big_alerts and "processed_s" not in outcome:
                outcome["processed_s"] = round(time.perf_counter() - started, 3)
            if request.done() and ("processed_s" in outcome or outcome.get("status") != 202):
                break
            await asyncio.sleep(0.5)
        outcome["stored_when_polling_ended"] = count
        outcome.setdefault("processed_s", None)
        outcome["timed_out"] = not request.done() or outcome["processed_s"] is None
        if not request.done():
            request.cancel()
            outcome["status"] = "no answer"
            with contextlib.suppress(asyncio.CancelledError):
                await request
        stop.set()
        await loop
    return outcome, declares


def run_big(database_url: str | None, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Scenario C: one request with ``--big-alerts`` alerts while declares go on."""
    pages = Pages()
    receiver = WebhookReceiver(on_request=pages.on_request).start()
    try:
        with tocsin_server(
            workdir, database_url, receiver.url, storm_off=False, workers=args.workers
        ) as server:
            engine = create_engine(server.database_url)
            try:
                loadavg = os.getloadavg()[0]
                log(f"big: one request of {args.big_alerts} alerts")
                waits_before = server.writer_waits()
                with Sampler(server, args.write_wait_probe) as sampler:
                    runner = _event_loop_runner()
                    with runner:
                        outcome, declares = runner.run(_big(server, args, engine))
                    log(
                        f"big: {outcome.get('status')} after {outcome.get('answer_s')} s, "
                        f"{outcome['stored_when_polling_ended']} stored, all of them after "
                        f"{outcome['processed_s']} s; waiting for the probes' pages"
                    )
                    waited = pages.wait_for(list(declares.sent_at), args.page_wait)
                waits = writer_waits_between(waits_before, server.writer_waits())
                peak = tree_peak_rss_mib(server.process.pid)
                result: dict[str, Any] = {
                    "loadavg_1m_before": round(loadavg, 2),
                    "request": outcome,
                    "stored": stored(engine, "big", args.big_alerts),
                    "incidents_opened_on_storm_service": incidents_on(engine, STORM_SERVICE),
                    "declare": declares.report(pages),
                    "waited_for_pages_s": waited,
                    "notifications_by_state": notifications(engine),
                    "write_wait": sampler.report(),
                    "writer_waits": waits,
                    "peak_rss_mib": peak,
                    "max_sampled_rss_mib": round(sampler.max_rss, 1),
                }
            finally:
                engine.dispose()
    finally:
        receiver.stop()
    result["server_log"] = server_log(workdir)
    checks = _probe_checks(result, ("declare",))
    checks["all_stored_exactly_once"] = {
        "target": True,
        "reached": result["stored"]["exactly_once"],
        "met": result["stored"]["exactly_once"],
    }
    result["checks"] = checks
    return result


# -- main --------------------------------------------------------------------------------

SCENARIOS = ("storm", "nocollapse", "big")


def run_database(
    database: str, database_url: Callable[[str], str | None], root: Path, args: argparse.Namespace
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for scenario in args.scenarios:
        workdir = root / database / scenario
        url = database_url(scenario)
        try:
            if scenario == "storm":
                results[scenario] = run_storm(scenario, url, workdir, args, args.alerts)
            elif scenario == "nocollapse":
                results[scenario] = run_storm(scenario, url, workdir, args, args.nocollapse_alerts)
            else:
                results[scenario] = run_big(url, workdir, args)
        except (RuntimeError, OSError, httpx.HTTPError) as exc:
            log(f"{database} {scenario} failed: {exc}")
            results[scenario] = {"error": str(exc)[-2000:]}
    return results


def compare(sqlite: dict[str, Any], postgres: dict[str, Any]) -> dict[str, Any]:
    """PostgreSQL's headline figures against SQLite's (the target: within 2x)."""
    figures = {
        "storm_new_alerts_per_s": ("storm", ("storm", "new_alerts_per_s"), True),
        "nocollapse_incidents_per_s": ("nocollapse", ("incidents_per_s",), True),
        "big_processed_s": ("big", ("request", "processed_s"), False),
    }
    out: dict[str, Any] = {}
    for label, (scenario, keys, higher_is_better) in figures.items():
        values = []
        for side in (sqlite, postgres):
            value: Any = side.get(scenario, {})
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            values.append(value)
        s, p = values
        if not s or not p:
            continue
        ratio = p / s
        out[label] = {
            "sqlite": s,
            "postgres": p,
            "postgres_to_sqlite": round(ratio, 3),
            "target": ">= 0.5" if higher_is_better else "<= 2",
            "met": ratio >= 0.5 if higher_is_better else ratio <= 2,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--alerts", type=int, help="Storm alerts (default 10,000).")
    parser.add_argument(
        "--nocollapse-alerts", type=int, help="Alerts with the storm rule off (default 2,000)."
    )
    parser.add_argument(
        "--big-alerts", type=int, help="Alerts in the one big request (default 9,000)."
    )
    parser.add_argument("--per-request", type=int, default=100)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument(
        "--interval", type=float, default=0.25, help="Seconds between probes of each kind."
    )
    parser.add_argument("--workers", type=int, default=1, help="`tocsin serve --workers`.")
    parser.add_argument(
        "--max-wait", type=float, default=600.0, help="Longest a storm or big request may take."
    )
    parser.add_argument(
        "--page-wait", type=float, default=120.0, help="Longest wait for pages after the load."
    )
    parser.add_argument(
        "--quick", action="store_true", help="Small sizes for a smoke run (1,000 / 500 / 1,000)."
    )
    parser.add_argument(
        "--write-wait-probe",
        action="store_true",
        help="SQLite: measure the write wait by queueing for the server's writer lock file "
        "every 0.1 s (intrusive: off by default).",
    )
    parser.add_argument("--keep", type=Path, help="Run in this new directory and keep it.")
    args = parser.parse_args()
    small = args.quick
    args.alerts = args.alerts or (1_000 if small else 10_000)
    args.nocollapse_alerts = args.nocollapse_alerts or (500 if small else 2_000)
    args.big_alerts = args.big_alerts or (1_000 if small else 9_000)
    if args.per_request < 1 or args.senders < 1 or args.interval <= 0:
        parser.error("--per-request and --senders must be at least 1, --interval above 0")
    args.scenarios = SCENARIOS if args.scenario == "all" else (args.scenario,)
    if "big" in args.scenarios:
        big_body(args.big_alerts)  # refuses a body over the limit before anything starts

    out: dict[str, Any] = {
        "benchmark": "storm",
        "settings": {
            "scenarios": list(args.scenarios),
            "database": args.database,
            "storm_alerts": args.alerts,
            "nocollapse_alerts": args.nocollapse_alerts,
            "big_alerts": args.big_alerts,
            "per_request": args.per_request,
            "senders": args.senders,
            "probe_interval_s": args.interval,
            "tocsin_workers": args.workers,
            "max_wait_s": args.max_wait,
            "page_wait_s": args.page_wait,
            "storm_service": STORM_SERVICE,
            "probe_service": PROBE_SERVICE,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
        },
        "targets": TARGETS,
    }
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if args.keep:
            root = args.keep
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tocsin-storm-")))
        if args.database in ("sqlite", "both"):
            out["sqlite"] = run_database("sqlite", lambda _s: None, root, args)
        if args.database in ("postgres", "both"):
            if find_pg_bin() is None:
                out["postgres"] = {"skipped": "PostgreSQL server binaries not found"}
            else:
                log("starting a throwaway PostgreSQL cluster")
                cluster = stack.enter_context(PostgresCluster())

                def database_url(scenario: str) -> str:
                    cluster.create_database(f"storm_{scenario}")
                    return cluster.url(f"storm_{scenario}")

                out["postgres"] = run_database("postgres", database_url, root, args)
    if "sqlite" in out and "postgres" in out and "skipped" not in out["postgres"]:
        out["postgres_vs_sqlite"] = compare(out["sqlite"], out["postgres"])
    out["total_s"] = round(time.perf_counter() - started, 1)
    out["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
