"""Local admin commands: init, migrate, serve, token create/list/revoke."""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from tocsin.auth.rules import Role
from tocsin.cli.local import (
    PolicyOption,
    check_person,
    cli_url,
    err,
    listen,
    open_database,
    out,
    read_credentials,
    record_server_url,
    require_database,
    require_policy,
    settings_for,
    write_credentials,
)
from tocsin.cli.output import NONE, data_table, format_time, get_console
from tocsin.cli.policy import print_policy_warnings
from tocsin.clock import SystemClock
from tocsin.db.wakeups import listen as listen_for_wakeups
from tocsin.web.timeouts import BODY_TIMEOUT_SECONDS, HEADER_TIMEOUT_SECONDS, REQUEST_THREADS

if TYPE_CHECKING:
    from tocsin.web.context import AppContext

token_app = typer.Typer(help="API tokens (stored hashed; shown once).", no_args_is_help=True)


def init(
    directory: Path = typer.Option(Path("."), "--dir", help="Where to create tocsin.yaml."),
    url: str = typer.Option(
        "http://127.0.0.1:8080",
        help="URL the CLI should talk to (`tocsin serve` replaces it with the address it "
        "listens on when it starts).",
    ),
) -> None:
    """Write an example tocsin.yaml and .tocsin/, create the database and an admin token."""
    from tocsin.auth import create_token
    from tocsin.db import session_scope
    from tocsin.policy import example_policy_text

    directory.mkdir(parents=True, exist_ok=True)
    policy_path = directory / "tocsin.yaml"
    if policy_path.exists():
        out.print(f"{policy_path} exists; kept as it is.")
    else:
        policy_path.write_text(example_policy_text(), encoding="utf-8")
        out.print(f"Wrote the example policy to {policy_path}")
    settings = settings_for(policy_path)
    sessions = open_database(settings, create=True)
    out.print("Database ready (migrations applied).")
    existing = read_credentials(settings.state_dir)
    if existing and existing.get("token"):
        out.print(f"Admin credentials already in {settings.state_dir}/credentials.json")
        out.print(existing["token"])
        return
    with session_scope(sessions) as session:
        name = _free_token_name(session, "admin")
        token = create_token(
            session=session, name=name, role=Role.admin, person=None, now=SystemClock().now()
        )
    write_credentials(settings.state_dir, url=url, token=token)
    out.print(f"Created admin token {name!r}; the CLI in this directory uses it.")
    out.print("Admin token (shown once, also saved in .tocsin/credentials.json):")
    out.print(token)


def migrate(policy: Path | None = PolicyOption) -> None:
    """Apply pending database migrations."""
    from tocsin.db.migrate import current_revision, head_revision

    settings = settings_for(policy)
    # Creating the database is this command's job, next to a policy or where
    # TOCSIN_DATABASE_URL points; anywhere else it would be a stray empty one.
    create = settings.policy.is_file() or settings.database_url is not None
    sessions = open_database(settings, migrate=False, create=create)
    before = current_revision(sessions.engine)
    open_database(settings)
    out.print(f"Database at revision {head_revision()} (was {before or 'empty'}).")


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(
        8080, min=0, max=65535, help="Port to bind (0: any free port, printed at start)."
    ),
    policy: Path | None = PolicyOption,
    migrate_db: bool = typer.Option(
        True, "--migrate/--no-migrate", help="Apply pending migrations at start."
    ),
    run_worker: bool = typer.Option(
        True,
        "--worker/--no-worker",
        help="Run the engine and delivery workers in this process.",
    ),
    tls_cert: Path | None = typer.Option(None, help="PEM certificate: serve HTTPS."),
    tls_key: Path | None = typer.Option(None, help="PEM private key for --tls-cert."),
    access_log: bool = typer.Option(
        False,
        "--access-log/--no-access-log",
        help="Log every HTTP request (costs about a third of the alert intake rate).",
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=64,
        help="HTTP server processes sharing the port (one per core takes the most alerts); "
        "the engine and delivery workers run once, in the main process.",
    ),
    header_timeout: float = typer.Option(
        HEADER_TIMEOUT_SECONDS,
        "--header-timeout",
        min=0.1,
        help="Seconds a client has to send a request's headers (from connecting, or from "
        "the previous response) before the connection is closed.",
    ),
    body_timeout: float = typer.Option(
        BODY_TIMEOUT_SECONDS,
        "--body-timeout",
        min=0.1,
        help="Seconds to wait for each chunk of a request body before answering 408.",
    ),
    threads: int = typer.Option(
        REQUEST_THREADS,
        "--threads",
        min=1,
        max=256,
        help="Requests each server process works on at once; more wait for a thread "
        "(Python runs one thread at a time: more threads only take turns).",
    ),
) -> None:
    """Run the API server and the engine worker. SIGHUP reloads the policy (a bad file is
    refused). The address it listens on is written to .tocsin/credentials.json, for the
    CLI in this directory."""
    import uvicorn

    from tocsin.engine.worker import Worker
    from tocsin.policy import PolicyError
    from tocsin.web.app import create_app, set_request_threads
    from tocsin.web.context import AppContext
    from tocsin.web.dashboard.secret import signing_key
    from tocsin.web.limits import set_body_timeout
    from tocsin.web.timeouts import (
        KEEP_ALIVE_SECONDS,
        SHUTDOWN_GRACE_SECONDS,
        header_timeout_protocol,
    )
    from tocsin.wiring import wire

    wire()  # the engine worker of this process runs the incident hooks too
    settings = settings_for(policy).model_copy(update={"host": host, "port": port})
    require_policy(settings)
    try:
        context = AppContext.from_settings(settings)
    except PolicyError as exc:
        err.print(f"[red]The policy {settings.policy} is invalid:[/red]\n{exc}")
        raise typer.Exit(1) from None
    print_policy_warnings(context.policy.current, context.clock.now())
    try:
        signing_key(settings)  # a dashboard that could not sign sessions: refuse to start
    except RuntimeError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if (tls_cert is None) != (tls_key is None):
        err.print("[red]--tls-cert and --tls-key go together[/red]")
        raise typer.Exit(2)
    if migrate_db:
        open_database(settings, create=True)
    try:
        listener = listen(host, port)
    except OSError as exc:
        err.print(Text(f"Cannot listen on {host}:{port}: {exc.strerror or exc}", style="red"))
        raise typer.Exit(1) from None
    port = int(listener.getsockname()[1])
    settings = settings.model_copy(update={"port": port})
    url = cli_url(host, port, tls=tls_cert is not None)
    creds = read_credentials(settings.state_dir)
    scheme = "https" if tls_cert else "http"
    out.print(f"Tocsin on {scheme}://{host}:{port}  (policy {settings.policy})")
    if record_server_url(settings.state_dir, url):
        out.print(f"The CLI in this directory now talks to {url}")
    if creds and creds.get("token"):
        # Only to a person at a terminal: a service manager's log must not keep the secret.
        if sys.stdout.isatty():
            out.print(f"Admin token (from {settings.state_dir}/credentials.json):")
            out.print(creds["token"])
        else:
            out.print(f"Admin token: see {settings.state_dir}/credentials.json")

    signal.signal(signal.SIGHUP, lambda _s, _f: _reload(context))
    listen_for_wakeups(context.sessions.engine)  # PostgreSQL: wake-ups from other hosts
    stop = threading.Event()
    worker_thread = None
    delivery_thread = None
    if run_worker:
        engine_worker = Worker(
            sessions=context.sessions, policy=context.policy, clock=context.clock
        )
        worker_thread = threading.Thread(
            target=engine_worker.run_forever, args=(stop,), name="tocsin-worker", daemon=True
        )
        worker_thread.start()
        delivery_thread = _start_delivery(context, stop)
        _start_runs(context, stop)
    threading.Thread(
        target=_warm_metrics, args=(context,), name="tocsin-metrics-warmup", daemon=True
    ).start()
    if workers > 1:
        from tocsin.web.processes import HttpOptions, serve_processes

        out.print(f"{workers} server processes")
        try:
            serve_processes(
                settings=settings,
                count=workers,
                options=HttpOptions(
                    access_log=access_log,
                    tls_cert=tls_cert,
                    tls_key=tls_key,
                    header_timeout=header_timeout,
                    body_timeout=body_timeout,
                    threads=threads,
                ),
                reload_policy=lambda: _reload(context),
                listener=listener,
            )
        finally:
            _stop_workers(stop, worker_thread, delivery_thread)
        return
    app = create_app(context)
    set_body_timeout(app, body_timeout)
    set_request_threads(app, threads)
    # What start-up loaded lives as long as the process: keep it out of the collector's
    # full passes, which otherwise stall every request in flight while they walk it.
    gc.freeze()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="info",
            access_log=access_log,
            ssl_certfile=str(tls_cert) if tls_cert else None,
            ssl_keyfile=str(tls_key) if tls_key else None,
            http=header_timeout_protocol(header_timeout),
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        )
    )
    try:
        server.run(sockets=[listener])
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()
        _stop_workers(stop, worker_thread, delivery_thread)
    if not server.started:
        raise typer.Exit(1)


def _stop_workers(
    stop: threading.Event,
    worker_thread: threading.Thread | None,
    delivery_thread: threading.Thread | None,
) -> None:
    stop.set()
    if worker_thread is not None:
        worker_thread.join(timeout=10)
    if delivery_thread is not None:
        delivery_thread.join(timeout=15)


def _warm_metrics(context: AppContext) -> None:
    """Fill the metrics summary's in-memory table in the background (a failure only
    means the first summary reads the database itself)."""
    from tocsin.metrics.service import warm_cache

    try:
        warm_cache(context.metrics_cache, context.sessions, context.clock.now())
    except Exception:
        logging.getLogger("tocsin.metrics").exception("warming the metrics table failed")


def worker(policy: Path | None = PolicyOption) -> None:
    """Run only the engine worker (timers, escalations); several may share PostgreSQL."""
    from tocsin.engine.worker import Worker
    from tocsin.policy import PolicyError
    from tocsin.web.context import AppContext
    from tocsin.wiring import wire

    wire()
    settings = settings_for(policy)
    require_policy(settings)
    try:
        context = AppContext.from_settings(settings)
    except PolicyError as exc:
        err.print(f"[red]The policy {settings.policy} is invalid:[/red]\n{exc}")
        raise typer.Exit(1) from None
    print_policy_warnings(context.policy.current, context.clock.now())
    open_database(settings, create=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _s, _f: stop.set())
    signal.signal(signal.SIGINT, lambda _s, _f: stop.set())
    signal.signal(signal.SIGHUP, lambda _s, _f: _reload(context))
    out.print(f"Tocsin worker (policy {settings.policy})")
    listen_for_wakeups(context.sessions.engine)
    delivery_thread = _start_delivery(context, stop)
    _start_runs(context, stop)
    Worker(sessions=context.sessions, policy=context.policy, clock=context.clock).run_forever(stop)
    delivery_thread.join(timeout=15)


def _start_delivery(context: AppContext, stop: threading.Event) -> threading.Thread:
    """The delivery worker (outbox -> email, webhooks, ...) beside the job worker."""
    from tocsin.engine.delivery import DeliveryWorker

    delivery = DeliveryWorker(sessions=context.sessions, policy=context.policy, clock=context.clock)
    thread = threading.Thread(
        target=delivery.run_forever, args=(stop,), name="tocsin-delivery", daemon=True
    )
    thread.start()
    return thread


def _start_runs(context: AppContext, stop: threading.Event) -> threading.Thread:
    """The executor of diagnostics and approved playbooks beside the job worker."""
    from tocsin.engine.runbook_runner import RunbookRunner

    runner = RunbookRunner(sessions=context.sessions, policy=context.policy, clock=context.clock)
    thread = threading.Thread(
        target=runner.run_forever, args=(stop,), name="tocsin-runs", daemon=True
    )
    thread.start()
    return thread


def _reload(context: AppContext) -> None:
    from tocsin.policy import PolicyError

    try:
        policy = context.policy.reload()
        err.print("Policy reloaded.")
        print_policy_warnings(policy, context.clock.now())
    except PolicyError as exc:
        err.print(f"[red]Policy refused; the running policy is unchanged:[/red]\n{exc}")


@token_app.command("create")
def token_create(
    name: str = typer.Argument(..., help="A name for the token (shown on timelines)."),
    role: Role = typer.Option(Role.responder, "--role", "-r", help="viewer, responder or admin"),
    person: str | None = typer.Option(None, help="The policy person this token acts for."),
    policy: Path | None = PolicyOption,
) -> None:
    """Create a token; it is printed once, on the last line."""
    from tocsin.auth import TokenExists, create_token
    from tocsin.db import session_scope

    settings = settings_for(policy)
    require_database(settings)
    check_person(settings, person)
    sessions = open_database(settings)
    try:
        with session_scope(sessions) as session:
            token = create_token(
                session=session, name=name, role=role, person=person, now=SystemClock().now()
            )
    except TokenExists as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    out.print(f"Created {role} token {name!r}. Store it now; it is not shown again:")
    out.print(token)


@token_app.command("list")
def token_list(policy: Path | None = PolicyOption) -> None:
    """List tokens (never their secret)."""
    from tocsin.auth import list_tokens
    from tocsin.db import session_scope

    sessions = open_database(settings_for(policy))
    with session_scope(sessions, write=False) as session:
        rows = list_tokens(session=session)
    if not rows:
        get_console().print("No tokens yet: tocsin token create NAME --role ROLE")
        return
    table = data_table("NAME", "ROLE", "PERSON", "CREATED (UTC)", "REVOKED (UTC)")
    for row in rows:
        table.add_row(
            Text(row.name),
            Text(row.role),
            Text(row.person or NONE),
            Text(format_time(row.created_at.isoformat())),
            Text(format_time(row.revoked_at.isoformat()) if row.revoked_at else ""),
        )
    get_console().print(table)


@token_app.command("revoke")
def token_revoke(name: str, policy: Path | None = PolicyOption) -> None:
    """Revoke a token by name; it stops working at once."""
    from tocsin.auth import revoke_token
    from tocsin.db import session_scope

    sessions = open_database(settings_for(policy))
    with session_scope(sessions) as session:
        done = revoke_token(session=session, name=name, now=SystemClock().now())
    if not done:
        err.print(f"[red]no active token named {name!r}[/red]")
        raise typer.Exit(1)
    out.print(f"Revoked {name!r}.")


def _free_token_name(session: object, base: str) -> str:
    from sqlalchemy.orm import Session

    from tocsin.auth import list_tokens

    assert isinstance(session, Session)
    taken = {t.name for t in list_tokens(session=session)}
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"
