"""`tocsin serve --header-timeout 1 --body-timeout 1`: idle or trickling clients cannot
hold connections open. Raw sockets stand in for slow clients; every wait has a deadline
and checks what the server did (closed the connection, answered 408), not how long it
took."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from tests.support.servers import clean_env, free_port, run_tocsin, start_server, stop_server

#: Far beyond the 1 s timeouts: only a server that never closes misses it.
DEADLINE = 15.0


@dataclass
class Served:
    port: int
    token: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)


@pytest.fixture(scope="module", params=["1", "2"], ids=["one-process", "two-processes"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One server per module and process count (the tests leave nothing open behind)."""
    tmp_path = tmp_path_factory.mktemp("serve-timeouts")
    env = clean_env()
    port = free_port()
    init = run_tocsin("init", "--url", f"http://127.0.0.1:{port}", cwd=tmp_path, env=env)
    assert init.returncode == 0, init.stderr
    token = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
    process = start_server(
        tmp_path,
        port,
        env,
        "--header-timeout",
        "1",
        "--body-timeout",
        "1",
        "--workers",
        request.param,
        log=tmp_path / "serve.log",
    )
    try:
        yield Served(port, token)
    finally:
        stop_server(process)


def read_until_closed(sock: socket.socket, deadline: float) -> tuple[bool, bytes]:
    """Everything the server sends until it closes the connection: ``(closed, data)``;
    ``closed`` is False if it was still open at ``deadline`` (a monotonic instant)."""
    data = b""
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([sock], [], [], left)
        if not readable:
            continue
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return True, data
        if not chunk:
            return True, data
        data += chunk
    return False, data


def test_half_a_request_line_is_closed(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(b"GET /readyz HT")
        closed, data = read_until_closed(sock, time.monotonic() + DEADLINE)
    assert closed
    assert data == b""  # nothing was asked, nothing is answered


def test_trickling_the_headers_does_not_move_the_deadline(served: Served) -> None:
    request = b"GET /readyz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 400
    deadline = time.monotonic() + DEADLINE
    closed = False
    with served.connect() as sock:
        for byte in request:  # a byte every 50 ms: 20 s for the lot
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            closed, _ = read_until_closed(sock, min(deadline, time.monotonic() + 0.05))
            if closed or time.monotonic() > deadline:
                break
    assert closed


def test_a_body_that_never_comes_gets_408(served: Served) -> None:
    head = (
        "POST /api/v1/incidents HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{served.port}\r\n"
        f"Authorization: Bearer {served.token}\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    with served.connect() as sock:
        sock.sendall(head.encode() + b'{"title": "slo')
        closed, data = read_until_closed(sock, time.monotonic() + DEADLINE)
    assert closed
    status, _, rest = data.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout"
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"connection: close" in headers.lower()
    assert json.loads(body) == {"detail": "the request body did not arrive within 1 s"}
    with httpx.Client(base_url=served.url, timeout=5) as client:
        listed = client.get(
            "/api/v1/incidents", headers={"Authorization": f"Bearer {served.token}"}
        )
    assert "slo" not in {i["title"] for i in listed.json()["items"]}  # nothing was stored


def test_idle_connections_do_not_block_requests_and_are_all_closed(served: Served) -> None:
    idle = [served.connect() for _ in range(200)]
    try:
        for sock in idle[::2]:
            sock.sendall(b"POST /v2/enq")  # half of them say a little first
        with httpx.Client(base_url=served.url, timeout=5) as client:
            assert client.get("/readyz").status_code == 200
        deadline = time.monotonic() + DEADLINE
        still_open = [sock for sock in idle if not read_until_closed(sock, deadline)[0]]
        assert still_open == []
    finally:
        for sock in idle:
            sock.close()


def test_normal_requests_still_work(served: Served) -> None:
    auth = {"Authorization": f"Bearer {served.token}"}
    with httpx.Client(base_url=served.url, timeout=5, headers=auth) as client:
        created = client.post(
            "/api/v1/incidents", json={"title": "Checkout API 5xx", "severity": "SEV2"}
        )
        assert created.status_code == 201, created.text
        time.sleep(0.5)  # within the keep-alive: the same connection serves the next one
        listed = client.get("/api/v1/incidents")
        assert "Checkout API 5xx" in [i["title"] for i in listed.json()["items"]]
