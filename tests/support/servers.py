"""Running the real `tocsin` entry point as separate processes, as users do."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

TOCSIN = str(Path(sys.executable).parent / "tocsin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without TOCSIN_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update({"COLUMNS": "200", "NO_COLOR": "1", **(extra or {})})
    return env


def run_tocsin(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TOCSIN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and a certificate it issued for 127.0.0.1 and localhost."""

    cert: Path
    key: Path
    ca: Path

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts only the throwaway CA."""
        return ssl.create_default_context(cafile=str(self.ca))

    def serve_args(self) -> tuple[str, ...]:
        return ("--tls-cert", str(self.cert), "--tls-key", str(self.key))


def write_tls_files(directory: Path) -> TlsFiles:
    """Certificate, key and CA files made with trustme, for `tocsin serve --tls-*`."""
    import trustme

    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "cert.pem", directory / "key.pem", directory / "ca.pem")
    files.cert.write_bytes(b"".join(pem.bytes() for pem in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(str(files.key))
    ca.cert_pem.write_to_path(str(files.ca))
    return files


def start_server(
    cwd: Path,
    port: int,
    env: dict[str, str],
    *extra: str,
    timeout: float = 30,
    tls: TlsFiles | None = None,
    log: Path | None = None,
) -> subprocess.Popen[str]:
    """`tocsin serve` on 127.0.0.1:port, returned once /readyz answers 200 (over HTTPS,
    trusting only its CA, when ``tls`` is given). Its output is piped (read it with
    :func:`stop_server`) or, for a long run that would fill the pipe, written to ``log``."""
    if tls is not None:
        extra = (*extra, *tls.serve_args())
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/readyz"
    verify: ssl.SSLContext | bool = tls.client_context() if tls else True
    sink = log.open("w") if log is not None else None
    try:
        process = subprocess.Popen(
            [TOCSIN, "serve", "--port", str(port), *extra],
            cwd=cwd,
            env=env,
            stdout=sink or subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    finally:
        if sink is not None:
            sink.close()  # the server has its own copy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else log.read_text() if log else ""
            raise RuntimeError(f"tocsin serve exited early:\n{output}")
        try:
            if httpx.get(url, timeout=1, verify=verify).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    process.kill()
    process.communicate()  # reaped, its pipe closed: nothing outlives the test
    raise RuntimeError(f"tocsin serve did not become ready within {timeout} s")


def stop_server(process: subprocess.Popen[str]) -> str:
    """Stop with SIGTERM, as a service manager would. A server that has not stopped
    within 15 s is a failure; it is killed first so that no process or pipe outlives
    the test."""
    if process.poll() is None:
        process.terminate()
    try:
        output, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(
            f"tocsin serve did not stop within 15 s of SIGTERM:\n{output}"
        ) from None
    return output or ""


def server_processes(pid: int) -> list[int]:
    """The HTTP server processes of `tocsin serve --workers N` running as ``pid``
    (its children started by multiprocessing, not the resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return sorted(found)
