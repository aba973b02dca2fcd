"""`tocsin serve --tls-cert/--tls-key` in a subprocess, as PagerDuty's clients need
(they send to ``https://`` only), with a throwaway CA (trustme) that the test's
clients trust.

    with TlsTocsin(tmp_path, policy_text) as tocsin:
        key = tocsin.integration("pd", "pagerduty")
        ... pagerduty.EventsApiV2Client(key, base_url=tocsin.base, verify=tocsin.trust())
    tocsin.output   # what the server printed (its access log with --access-log)
"""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from tests.support.servers import (
    TlsFiles,
    clean_env,
    free_port,
    run_tocsin,
    start_server,
    stop_server,
    write_tls_files,
)

__all__ = ["TlsTocsin"]


class TlsTocsin:
    def __init__(self, directory: Path, policy: str, *serve_args: str) -> None:
        self.directory = directory
        self.policy = policy
        self.serve_args = serve_args
        self.port = free_port()
        self.base = f"https://127.0.0.1:{self.port}"
        self.env = clean_env()
        self.tls: TlsFiles = write_tls_files(directory / "tls")
        self.token = ""
        self.output = ""
        self.api: httpx.Client | None = None
        self._process: subprocess.Popen[str] | None = None

    def trust(self) -> ssl.SSLContext:
        """An SSL context that trusts the server's throwaway CA only."""
        return self.tls.client_context()

    def start(self) -> TlsTocsin:
        (self.directory / "tocsin.yaml").write_text(self.policy, encoding="utf-8")
        init = run_tocsin("init", "--url", self.base, cwd=self.directory, env=self.env)
        assert init.returncode == 0, init.stdout + init.stderr
        credentials = self.directory / ".tocsin" / "credentials.json"
        self.token = json.loads(credentials.read_text())["token"]
        self._process = start_server(
            self.directory, self.port, self.env, *self.serve_args, tls=self.tls
        )
        self.api = httpx.Client(
            base_url=self.base,
            verify=self.trust(),
            timeout=30,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        return self

    def stop(self) -> str:
        if self.api is not None:
            self.api.close()
            self.api = None
        if self._process is not None:
            self.output = stop_server(self._process)
            self._process = None
        return self.output

    def get(self, path: str, **params: Any) -> Any:
        assert self.api is not None
        answer = self.api.get(path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def integration(self, name: str, kind: str, service: str = "checkout-api") -> str:
        assert self.api is not None
        created = self.api.post(
            "/api/v1/integrations", json={"name": name, "service": service, "kind": kind}
        )
        assert created.status_code == 201, created.text
        key: str = created.json()["key"]
        return key

    def incidents(self) -> list[dict[str, Any]]:
        """Every incident, oldest first."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.get("/api/v1/incidents", limit=200, offset=len(found))
            found += page["items"]
            if not page["items"] or len(found) >= page["total"]:
                break
        return sorted(found, key=lambda i: int(i["number"]))

    def __enter__(self) -> TlsTocsin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
