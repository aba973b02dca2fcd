"""PagerDuty's JavaScript client, ``@pagerduty/pdjs``, run by node against a real
`tocsin serve --tls-cert` (pdjs sends to ``https://<server>/v2/...`` only; node trusts
the test's CA through ``NODE_EXTRA_CA_CERTS``).

pdjs is installed with npm into a cache directory once (bounded in time); without
node and npm the test skips, and fails in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.support.cachelock import installing
from tests.support.requirements import require
from tests.support.tls_serve import TlsTocsin

from tocsin.policy import example_policy_text

PDJS = "@pagerduty/pdjs@2.2"
HOW_TO_GET = "apt-get install nodejs npm (or make system-deps)"
INSTALL_SECONDS = 180

#: Every call's HTTP status and body, one JSON line each, in order.
SCRIPT = r"""
const pd = require('@pagerduty/pdjs');
const [server, key] = process.argv.slice(2);
const results = [];
async function call(name, fn, data) {
  const answer = await fn({server, data});
  results.push({name, status: answer.status, body: answer.data});
}
(async () => {
  const trigger = (dedup_key, summary, severity) => ({
    routing_key: key, dedup_key,
    payload: {summary, source: 'js-host', severity, component: 'node'},
  });
  await call('trigger-1', pd.trigger, trigger('js-1', 'Node worker crashed', 'critical'));
  await call('trigger-2', pd.trigger, trigger('js-2', 'Event loop lag', 'warning'));
  await call('acknowledge-1', pd.acknowledge, {routing_key: key, dedup_key: 'js-1'});
  await call('resolve-1', pd.resolve, {routing_key: key, dedup_key: 'js-1'});
  await call('change', pd.change, {
    routing_key: key,
    payload: {summary: 'Deployed worker 3.1.0', source: 'github-actions',
              timestamp: '2026-03-02T08:50:00Z', custom_details: {sha: 'abc123'}},
    links: [{href: 'https://ci.example.com/runs/77', text: 'Run 77'}],
  });
  await call('unknown-key', pd.trigger, {...trigger('x', 'x', 'info'), routing_key: 'nope'});
  await call('bad-severity', pd.trigger, trigger('y', 'y', 'fatal'));
  for (const line of results) console.log(JSON.stringify(line));
})().catch((error) => { console.error(error); process.exit(1); });
"""


def pdjs_dir() -> Path:
    """A cache directory with pdjs installed (installed on first use)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    target = cache / "tocsin-tests" / "pdjs-2.2"
    with installing(target):
        if (target / "node_modules" / "@pagerduty" / "pdjs" / "package.json").is_file():
            return target
        target.mkdir(parents=True, exist_ok=True)
        npm = shutil.which("npm")
        assert npm is not None
        try:
            installed = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(target), PDJS],
                capture_output=True,
                text=True,
                timeout=INSTALL_SECONDS,
            )
            ok = installed.returncode == 0
        except subprocess.TimeoutExpired:
            ok = False
    require(ok, f"{PDJS} from npm", f"npm install {PDJS} (within {INSTALL_SECONDS} s)")
    return target


def run_pdjs(tocsin: TlsTocsin, key: str) -> dict[str, dict[str, Any]]:
    node = shutil.which("node")
    assert node is not None
    modules = pdjs_dir()
    script = tocsin.directory / "pdjs-client.js"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {**tocsin.env, "NODE_EXTRA_CA_CERTS": str(tocsin.tls.ca)}
    env["NODE_PATH"] = str(modules / "node_modules")
    done = subprocess.run(
        [node, str(script), f"127.0.0.1:{tocsin.port}", key],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tocsin.directory,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {line["name"]: line for line in lines}


def test_pdjs_triggers_acknowledges_resolves_and_sends_a_change(tmp_path: Path) -> None:
    require(
        shutil.which("node") is not None and shutil.which("npm") is not None,
        "node and npm",
        HOW_TO_GET,
    )
    with TlsTocsin(tmp_path, example_policy_text(), "--no-worker") as tocsin:
        key = tocsin.integration("js", "pagerduty")
        calls = run_pdjs(tocsin, key)
        for name in ("trigger-1", "trigger-2", "acknowledge-1", "resolve-1"):
            assert calls[name]["status"] == 202, calls[name]
        assert calls["trigger-1"]["body"] == {
            "status": "success",
            "message": "Event processed",
            "dedup_key": "js-1",
        }
        assert calls["change"]["status"] == 202
        assert calls["change"]["body"]["message"] == "Change event processed"
        for name, error in (
            ("unknown-key", "routing_key: no enabled integration has this key"),
            ("bad-severity", "payload.severity: must be one of critical, error, warning, info"),
        ):
            assert calls[name]["status"] == 400
            assert calls[name]["body"]["status"] == "invalid event"
            assert calls[name]["body"]["errors"][0].startswith(error)

        crashed, lag = tocsin.incidents()
        assert (crashed["title"], crashed["severity"]) == ("Node worker crashed", "SEV1")
        assert (lag["title"], lag["severity"], lag["status"]) == (
            "Event loop lag",
            "SEV3",
            "triggered",
        )
        # The example policy moves an incident whose alerts all resolved to monitoring.
        assert tocsin.get(f"/api/v1/incidents/{crashed['id']}")["status"] == "monitoring"
        [change] = tocsin.get("/api/v1/changes")["items"]
        assert (change["summary"], change["source"]) == ("Deployed worker 3.1.0", "github-actions")
        assert change["links"] == [{"href": "https://ci.example.com/runs/77", "text": "Run 77"}]
        assert change["custom_details"] == {"sha": "abc123"}
