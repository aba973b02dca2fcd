"""Running one rendered step: a subprocess, an HTTP request, a PromQL query or a
read-only SQL query. Nothing here touches Tocsin's database; the caller stores the
:class:`StepOutcome` (after masking secrets in it).

Every kind is bounded: a command is killed (its whole process group) at its timeout and
keeps at most ``cap`` bytes of output; a request, a query and a SQL statement carry the
same timeout (SQL as the server's ``statement_timeout``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tocsin.runbooks.rules import RenderedStep

__all__ = [
    "StepOutcome",
    "promql_holds",
    "run_command",
    "run_http",
    "run_promql",
    "run_sql",
]

#: Always passed to a command, so that ``kubectl`` is found; nothing else is unless listed.
_ALWAYS_ENV = ("PATH",)


@dataclass
class StepOutcome:
    state: str  # ok | failed | timeout | error
    output: str = ""
    exit_status: int | None = None
    duration_ms: int = 0
    truncated: bool = False
    data: dict[str, Any] = field(default_factory=dict)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def run_command(
    step: RenderedStep,
    *,
    timeout: float,
    cap: int,
    env_names: Sequence[str] = (),
    cwd: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> StepOutcome:
    """Run the argv (no shell unless the step is a shell line), stdout and stderr
    together, at most ``cap`` bytes kept; killed at ``timeout`` seconds."""
    source = os.environ if environ is None else environ
    env = {name: source[name] for name in (*_ALWAYS_ENV, *env_names) if name in source}
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            list(step.argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,  # its own process group: a timeout kills its children too
        )
    except OSError as exc:
        return StepOutcome("error", output=f"cannot start {step.argv[0]!r}: {exc.strerror or exc}")
    kept = bytearray()
    total = 0

    def drain() -> None:
        nonlocal total
        assert process.stdout is not None
        while chunk := os.read(process.stdout.fileno(), 65_536):
            total += len(chunk)
            room = cap - len(kept)
            if room > 0:
                kept.extend(chunk[:room])

    reader = threading.Thread(target=drain, name="tocsin-step-output", daemon=True)
    reader.start()
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    reader.join(timeout=2)
    if process.stdout is not None:
        process.stdout.close()
    output = kept.decode("utf-8", errors="replace")
    truncated = total > cap
    if truncated:
        output += f"\n[output cut at {cap} bytes of {total}]"
    duration = _elapsed_ms(started)
    if timed_out:
        output += f"\n[killed after the {timeout:g} s timeout]"
        return StepOutcome("timeout", output, None, duration, truncated)
    status = process.returncode
    return StepOutcome("ok" if status == 0 else "failed", output, status, duration, truncated)


class _Timings:
    """httpcore's trace events, turned into the phases curl's ``-w`` reports."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.marks: dict[str, float] = {}

    def __call__(self, name: str, _info: Mapping[str, Any]) -> None:
        self.marks.setdefault(name, time.monotonic() - self.start)

    def phases(self, total: float) -> dict[str, float]:
        def at(name: str) -> float | None:
            return self.marks.get(name)

        found = {
            "connect": at("connection.connect_tcp.complete"),
            "tls": at("connection.start_tls.complete"),
            "first_byte": at("http11.receive_response_headers.complete")
            or at("http2.receive_response_headers.complete"),
            "total": total,
        }
        return {k: round(v * 1000, 1) for k, v in found.items() if v is not None}


def run_http(step: RenderedStep, *, timeout: float, cap: int, verify: bool = True) -> StepOutcome:
    """The request, with its status, timing phases (ms) and a body excerpt."""
    timings = _Timings()
    started = time.monotonic()
    try:
        with (
            httpx.Client(timeout=timeout, verify=verify, follow_redirects=False) as client,
            client.stream(
                step.method,
                step.url,
                headers=dict(step.headers),
                json=step.json_body,
                extensions={"trace": timings},
            ) as response,
        ):
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk[: max(0, cap - len(body))])
                if len(body) >= cap:
                    break
            status = response.status_code
    except httpx.TimeoutException:
        return StepOutcome(
            "timeout", f"no answer within {timeout:g} s", duration_ms=_elapsed_ms(started)
        )
    except httpx.HTTPError as exc:
        return StepOutcome(
            "error", f"{type(exc).__name__}: {exc}", duration_ms=_elapsed_ms(started)
        )
    total = time.monotonic() - started
    phases = timings.phases(total)
    excerpt = body.decode("utf-8", errors="replace")
    summary = f"HTTP {status}  " + "  ".join(f"{k} {v:g} ms" for k, v in phases.items())
    return StepOutcome(
        "ok" if status < 400 else "failed",
        f"{summary}\n\n{excerpt}",
        exit_status=status,
        duration_ms=int(total * 1000),
        truncated=len(body) >= cap,
        data={"status": status, "timing_ms": phases},
    )


def _series_name(metric: Mapping[str, str]) -> str:
    name = metric.get("__name__", "")
    labels = ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{labels}}}" if labels or not name else name


def _table_text(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(c) for c in columns]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


_prometheus_client: httpx.Client | None = None
_prometheus_client_lock = threading.Lock()


def _prometheus_http() -> httpx.Client:
    """One client for every query, shared by the runner's threads: a client of its own
    per query cost more than the query (a TLS context each), and the shared one keeps
    its connections to Prometheus open between queries."""
    global _prometheus_client
    with _prometheus_client_lock:
        if _prometheus_client is None:
            _prometheus_client = httpx.Client(follow_redirects=False)
        return _prometheus_client


def _prometheus(base: str, path: str, params: Mapping[str, str], timeout: float) -> Any:
    answer = _prometheus_http().get(f"{base.rstrip('/')}{path}", params=params, timeout=timeout)
    body = answer.json()
    if body.get("status") != "success":
        raise ValueError(f"Prometheus answered {answer.status_code}: {body.get('error', body)}")
    return body["data"]


def run_promql(
    step: RenderedStep,
    *,
    base_url: str,
    timeout: float,
    now: float,
    range_seconds: float | None = None,
    step_seconds: float = 60,
) -> StepOutcome:
    """An instant (or range) query, as a table: one row per series."""
    started = time.monotonic()
    try:
        if range_seconds is None:
            data = _prometheus(
                base_url, "/api/v1/query", {"query": step.query, "time": f"{now:.3f}"}, timeout
            )
        else:
            data = _prometheus(
                base_url,
                "/api/v1/query_range",
                {
                    "query": step.query,
                    "start": f"{now - range_seconds:.3f}",
                    "end": f"{now:.3f}",
                    "step": f"{step_seconds:g}",
                },
                timeout,
            )
    except httpx.TimeoutException:
        return StepOutcome(
            "timeout", f"no answer within {timeout:g} s", duration_ms=_elapsed_ms(started)
        )
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return StepOutcome("error", str(exc), duration_ms=_elapsed_ms(started))
    rows: list[list[str]] = []
    if range_seconds is None:
        columns = ["series", "value"]
        result = data.get("result", [])
        if data.get("resultType") == "scalar":
            rows.append(["scalar", str(result[1])])
        else:
            rows = [[_series_name(s["metric"]), str(s["value"][1])] for s in result]
    else:
        columns = ["series", "first", "last", "min", "max", "samples"]
        for series in data.get("result", []):
            values = [float(v) for _, v in series["values"]]
            rows.append(
                [
                    _series_name(series["metric"]),
                    f"{values[0]:g}",
                    f"{values[-1]:g}",
                    f"{min(values):g}",
                    f"{max(values):g}",
                    str(len(values)),
                ]
            )
    text_table = _table_text(columns, rows) if rows else "(no series)"
    return StepOutcome(
        "ok", text_table, duration_ms=_elapsed_ms(started), data={"columns": columns, "rows": rows}
    )


def promql_holds(*, base_url: str, query: str, timeout: float) -> bool:
    """True when the instant query returns at least one series (or a non-zero scalar)."""
    data = _prometheus(base_url, "/api/v1/query", {"query": query}, timeout)
    if data.get("resultType") == "scalar":
        return float(data["result"][1]) != 0
    return bool(data.get("result"))


def run_sql(
    step: RenderedStep, *, dsn: str, timeout: float, max_rows: int, cap: int
) -> StepOutcome:
    """The query in a read-only transaction with a statement timeout, as a table."""
    started = time.monotonic()
    if dsn.startswith("postgresql://") or dsn.startswith("postgres://"):
        dsn = "postgresql+psycopg://" + dsn.split("://", 1)[1]
    try:
        engine = create_engine(dsn, poolclass=NullPool)
    except Exception as exc:  # a malformed DSN: its text may hold a password, so not shown
        return StepOutcome("error", f"the database DSN cannot be used ({type(exc).__name__})")
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
                connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
            elif engine.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA query_only = ON")
            result = connection.execute(text(step.query), dict(step.params))
            columns = list(result.keys())
            rows = [
                ["" if v is None else str(v) for v in row] for row in result.fetchmany(max_rows + 1)
            ]
            connection.rollback()
    except Exception as exc:
        message = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        state = "timeout" if "statement timeout" in " ".join(message) else "failed"
        return StepOutcome(state, "\n".join(message[:5]), duration_ms=_elapsed_ms(started))
    finally:
        engine.dispose()
    more = len(rows) > max_rows
    rows = rows[:max_rows]
    table = _table_text(columns, rows) if columns else "(no result)"
    if more:
        table += f"\n[first {max_rows} rows shown]"
    truncated = len(table.encode()) > cap
    if truncated:
        table = table.encode()[:cap].decode("utf-8", errors="ignore") + "\n[output cut]"
    return StepOutcome(
        "ok",
        table,
        duration_ms=_elapsed_ms(started),
        truncated=truncated or more,
        data={"columns": columns, "rows": rows},
    )
