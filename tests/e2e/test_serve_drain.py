"""SIGTERM to `tocsin serve` while a request is in flight: the server stops taking
connections, but the request it was reading is finished, answered 2xx and stored, and
the server then exits."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from tests.e2e.test_crash_recovery import POLICY
from tests.support.servers import clean_env, free_port, run_tocsin, start_server
from tests.support.sockets import accepted_by
from tests.support.waiting import wait_for

pytestmark = pytest.mark.alone


def _webhook() -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": "DiskFull", "instance": "host-1", "severity": "critical"},
        "annotations": {"summary": "Disk full on host-1"},
        "startsAt": "2026-11-23T08:00:00Z",
    }
    body = {"version": "4", "status": "firing", "receiver": "tocsin", "alerts": [alert]}
    return json.dumps(body).encode()


def test_a_request_in_flight_when_sigterm_comes_is_answered_and_stored(tmp_path: Path) -> None:
    (tmp_path / "tocsin.yaml").write_text(POLICY, encoding="utf-8")
    env = clean_env()
    port = free_port()
    init = run_tocsin("init", "--url", f"http://127.0.0.1:{port}", cwd=tmp_path, env=env)
    assert init.returncode == 0, init.stderr
    token = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
    log = tmp_path / "serve.log"
    server = start_server(tmp_path, port, env, log=log, timeout=90)
    try:
        created = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/integrations",
            json={"name": "am", "service": "api", "kind": "alertmanager"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        key = created.json()["key"]
        body = _webhook()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(
                f"POST /api/v1/integrations/{key}/alertmanager HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body[:20]
            )
            # Until the server accepts it, the connection waits in the kernel's queue,
            # and a stopping server resets what it never accepted.
            wait_for(lambda: accepted_by(server.pid, conn), 10, "the server accepting")
            server.terminate()
            wait_for(lambda: "Shutting down" in log.read_text(), 10, "the server stopping")
            conn.sendall(body[20:])
            answer = conn.recv(4096).decode()
        assert answer.startswith("HTTP/1.1 202"), answer
        # Stopped by the signal, as told (uvicorn exits by the signal it handled).
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    engine = create_engine(f"sqlite:///{tmp_path / '.tocsin' / 'tocsin.db'}")
    try:
        with engine.connect() as db:
            assert db.execute(text("SELECT count(*) FROM alerts")).scalar() == 1
    finally:
        engine.dispose()
