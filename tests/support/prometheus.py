"""Prometheus for tests: reading an exposition, and a real Prometheus server (Debian's
``prometheus``) on 127.0.0.1 that scrapes a target with a bearer token.

The server keeps its data in a temporary directory and is stopped (the directory
removed) on exit; ``query`` asks its HTTP API for an instant vector.
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
from prometheus_client.parser import text_string_to_metric_families
from tests.support.servers import free_port

HOW_TO_GET = "apt-get install prometheus (or make system-deps)"

#: A sample: (name, sorted label pairs).
SampleKey = tuple[str, tuple[tuple[str, str], ...]]


def samples(text: str) -> dict[SampleKey, float]:
    """Every sample of an exposition by name and labels."""
    found: dict[SampleKey, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[SampleKey, float], name: str, **labels: str) -> float:
    """One sample's value; a missing sample fails the test with the names there are."""
    key = (name, tuple(sorted(labels.items())))
    if key not in found:
        near = sorted({k for k in found if k[0] == name})[:20]
        raise AssertionError(f"no sample {key}; samples of {name}: {near}")
    return found[key]


def family_types(text: str) -> dict[str, str]:
    """Family name -> type ("counter", "histogram", "gauge", ...) of an exposition."""
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def find_prometheus() -> str | None:
    return shutil.which("prometheus")


def find_promtool() -> str | None:
    return shutil.which("promtool")


def scrape_config(target: str, token: str, *, interval: str = "200ms") -> str:
    """One job scraping ``target`` (host:port) every ``interval`` with ``token``."""
    config = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval},
        "scrape_configs": [
            {
                "job_name": "tocsin",
                "authorization": {"credentials": token},
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    return json.dumps(config, indent=2)  # JSON is YAML


class Prometheus:
    """``with Prometheus(config_text) as prom: prom.query("up")``"""

    def __init__(self, config: str) -> None:
        binary = find_prometheus()
        if binary is None:
            raise RuntimeError(f"Prometheus not found: {HOW_TO_GET}")
        self.binary = binary
        self.config = config
        self.url = ""
        self.process: subprocess.Popen[str] | None = None
        self._dir: Path | None = None

    def start(self, timeout: float = 30) -> Prometheus:
        self._dir = Path(tempfile.mkdtemp(prefix="tocsin-prometheus-"))
        (self._dir / "prometheus.yml").write_text(self.config, encoding="utf-8")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self._dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self._dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
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
                raise RuntimeError(f"Prometheus exited early:\n{output}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Prometheus did not become ready within {timeout} s")

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector ``expr`` evaluates to now."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = answer.json()
        assert body.get("status") == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def targets(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/api/v1/targets", timeout=10).json()
        found: list[dict[str, Any]] = answer["data"]["activeTargets"]
        return found

    def stop(self) -> str:
        output = ""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
            try:
                output, _ = self.process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                output, _ = self.process.communicate(timeout=10)
            self.process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        return output or ""

    def __enter__(self) -> Prometheus:
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.stop()
