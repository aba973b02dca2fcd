"""A real Prometheus Alertmanager (Debian's ``prometheus-alertmanager``) on 127.0.0.1,
for tests and benchmarks.

Clustering is off (``--cluster.listen-address=``), state lives in a temporary
directory, and the process is stopped (and its directory removed) on exit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from tests.support.servers import free_port

BINARY = "/usr/bin/prometheus-alertmanager"
HOW_TO_GET = "apt-get install prometheus-alertmanager (or make system-deps)"


def firing_body(prefix: str, count: int, service: str = "checkout-api") -> dict[str, Any]:
    """A webhook body as Alertmanager sends it, with ``count`` firing alerts of
    ``service`` named ``{prefix}{n}`` (fingerprints ``{prefix}-{n}``)."""
    return {
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": f"{prefix}{n}", "service": service},
                "startsAt": "2026-03-02T08:00:00Z",
                "fingerprint": f"{prefix}-{n}",
            }
            for n in range(count)
        ],
    }


def find_alertmanager() -> str | None:
    """The Alertmanager binary: Debian's path, else ``alertmanager`` on PATH."""
    if Path(BINARY).is_file():
        return BINARY
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def webhook_config(url: str | None, *, group_by: list[str] | None = None) -> str:
    """A configuration with one route: a webhook receiver at ``url`` (None: a receiver
    that sends nothing, for benchmarks), 1 s group wait and interval."""
    receiver: dict[str, Any] = {"name": "tocsin"}
    if url is not None:
        receiver["webhook_configs"] = [{"url": url, "send_resolved": True}]
    config = {
        "route": {
            "receiver": "tocsin",
            "group_by": group_by or ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "24h",
        },
        "receivers": [receiver],
    }
    return json.dumps(config, indent=2)  # JSON is YAML


class Alertmanager:
    """``with Alertmanager(config_text) as am: httpx.post(f"{am.url}/api/v2/alerts", ...)``"""

    def __init__(self, config: str, *, binary: str | None = None) -> None:
        found = binary or find_alertmanager()
        if found is None:
            raise RuntimeError(f"Alertmanager not found: {HOW_TO_GET}")
        self.binary = found
        self.config = config
        self.url = ""
        self.process: subprocess.Popen[str] | None = None
        self._dir: Path | None = None

    def start(self, timeout: float = 20) -> Alertmanager:
        self._dir = Path(tempfile.mkdtemp(prefix="tocsin-am-"))
        (self._dir / "alertmanager.yml").write_text(self.config, encoding="utf-8")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self._dir / 'alertmanager.yml'}",
                f"--storage.path={self._dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read() if self.process.stdout else ""
                self.stop()
                raise RuntimeError(f"Alertmanager exited early:\n{output}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Alertmanager did not become ready within {timeout} s")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> str:
        """Stop it; returns what it printed."""
        output = ""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
            try:
                output, _ = self.process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                output, _ = self.process.communicate(timeout=10)
            self.process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        return output or ""

    def __enter__(self) -> Alertmanager:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
