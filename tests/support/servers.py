"""Running the real `tocsin` entry point as separate processes, as users do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
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


def start_server(
    cwd: Path, port: int, env: dict[str, str], *extra: str, timeout: float = 30
) -> subprocess.Popen[str]:
    """`tocsin serve` on 127.0.0.1:port, returned once /readyz answers 200."""
    process = subprocess.Popen(
        [TOCSIN, "serve", "--port", str(port), *extra],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"tocsin serve exited early:\n{output}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"tocsin serve did not become ready within {timeout} s")


def stop_server(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.terminate()
    output, _ = process.communicate(timeout=15)
    return output
