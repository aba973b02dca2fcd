"""Root-cause hints end to end on a real `tocsin serve` over HTTPS (the example policy:
checkout-api depends on payments-db), with the real outside clients:

- a CI pipeline records the database deploy with the installed CLI from a shell script
  (``tocsin change record``, its token the key of a ``changes`` integration);
- PagerDuty's official client (``send_change_event``) and ``pdpyras`` report changes
  on a PagerDuty integration;
- alerts for payments-db, then checkout-api; the checkout incident is downstream of
  the database incident and its top hint is the CI deploy, with the build link;
- a responder reads it with ``tocsin incident show`` and confirms it with ``tocsin
  incident hint confirm``; the post-mortem drafted at resolution names it, and ``tocsin
  metrics`` counts the top hint as confirmed.
"""

from __future__ import annotations

import subprocess
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pagerduty
from tests.support.servers import TOCSIN
from tests.support.tls_serve import TlsTocsin

from tocsin.policy import example_policy_text

with warnings.catch_warnings():  # pdpyras announces on import that it is deprecated
    warnings.simplefilter("ignore", UserWarning)
    import pdpyras

BUILD = "https://ci.example.com/builds/4471"

#: What a CI job runs after deploying: set -e, the installed CLI, a key from a secret.
CI_SCRIPT = """
set -euo pipefail
export PATH="$TOCSIN_BIN:$PATH"
tocsin change record payments-db "Deploy payments-db schema 2026.03.1" \\
    --link "$BUILD_URL" --source ci --at "$DEPLOYED_AT"
"""


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def cli(tocsin: TlsTocsin, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**tocsin.env, "SSL_CERT_FILE": str(tocsin.tls.ca)}
    return subprocess.run(
        [TOCSIN, *args], cwd=tocsin.directory, env=env, capture_output=True, text=True, timeout=60
    )


def fire(tocsin: TlsTocsin, key: str, title: str, service: str) -> str:
    assert tocsin.api is not None
    body = {"title": title, "severity": "critical", "labels": {"service": service}}
    answer = tocsin.api.post(f"/api/v1/integrations/{key}/events", json=body)
    assert answer.status_code == 202, answer.text
    incident: str = answer.json()["alerts"][0]["incident"]
    return incident


def test_a_deploy_recorded_by_ci_is_the_confirmed_cause(tmp_path: Path) -> None:
    with TlsTocsin(tmp_path, example_policy_text(), "--no-worker") as tocsin:
        now = datetime.now(UTC)
        ci_key = tocsin.integration("db-ci", "changes", service="payments-db")
        ci_env = {
            **tocsin.env,
            "SSL_CERT_FILE": str(tocsin.tls.ca),
            "TOCSIN_URL": tocsin.base,
            "TOCSIN_TOKEN": ci_key,
            "TOCSIN_BIN": str(Path(TOCSIN).parent),
            "BUILD_URL": BUILD,
            "DEPLOYED_AT": (now - timedelta(minutes=4)).isoformat(),
        }
        job = bash(CI_SCRIPT, tmp_path, ci_env)
        assert job.returncode == 0, job.stdout + job.stderr
        assert ci_key not in job.stdout + job.stderr
        (deploy,) = tocsin.get("/api/v1/changes")["items"]
        assert deploy["service"] == "payments-db" and deploy["integration"] == "db-ci"
        assert job.stdout.strip() == (
            f"Recorded change {deploy['id']} to payments-db: Deploy payments-db schema 2026.03.1"
        )
        assert deploy["links"] == [{"href": BUILD, "text": ""}] and deploy["source"] == "ci"

        pd_key = tocsin.integration("db-pd", "pagerduty", service="payments-db")
        official = pagerduty.EventsApiV2Client(pd_key, base_url=tocsin.base, verify=tocsin.trust())
        with official:
            official.send_change_event(
                payload={
                    "summary": "Raised max_connections to 400",
                    "source": "terraform",
                    "timestamp": (now - timedelta(minutes=50)).isoformat(),
                },
                links=[{"href": "https://tf.example.com/runs/77", "text": "Run 77"}],
            )

        alerts_key = tocsin.integration("monitoring", "generic")
        db = fire(tocsin, alerts_key, "payments-db replication lag", "payments-db")
        checkout = fire(tocsin, alerts_key, "Checkout 5xx above 5%", "checkout-api")

        late = pdpyras.ChangeEventsAPISession(pd_key)
        late.url, late.verify, late.trust_env = tocsin.base, str(tocsin.tls.ca), False
        with late:  # reported after the incident opened, about an earlier change
            late.submit(
                "Failover drill on payments-db replica",
                "ops",
                timestamp=(now - timedelta(minutes=30)).isoformat(),
            )

        overview: dict[str, Any] = tocsin.get(f"/api/v1/incidents/{checkout}/hints")
        assert [u["incident"] for u in overview["downstream_of"]] == [db]
        ranked = [h for h in overview["hints"] if h["kind"] == "change"]
        assert [h["explanation"].split(" on payments-db")[0] for h in ranked] == [
            "Deploy payments-db schema 2026.03.1",  # 4 minutes before impact
            "Failover drill",  # 30 minutes before
            "Raised max_connections to 400",  # 50 minutes before
        ]
        top = overview["hints"][0]
        assert top["kind"] == "change" and top["evidence"][0]["href"] == BUILD
        summaries = {c["summary"] for c in overview["recent_changes"]}
        assert summaries == {
            "Deploy payments-db schema 2026.03.1",
            "Raised max_connections to 400",
            "Failover drill on payments-db replica",
        }

        shown = cli(tocsin, "incident", "show", checkout)
        assert shown.returncode == 0, shown.stderr
        assert f"Downstream of {db}" in shown.stdout
        assert "Deploy payments-db schema 2026.03.1" in shown.stdout and BUILD in shown.stdout
        assert "Recent changes" in shown.stdout
        upstream_view = cli(tocsin, "incident", "show", db)
        assert f"Upstream of {checkout}" in upstream_view.stdout

        confirmed = cli(tocsin, "incident", "hint", "confirm", checkout, str(top["id"]))
        assert confirmed.returncode == 0, confirmed.stderr
        assert "confirmed as the cause" in confirmed.stdout
        refused = cli(tocsin, "incident", "hint", "confirm", checkout, "999999")
        assert refused.returncode != 0 and "hint 999999" in refused.stderr

        assert cli(tocsin, "incident", "resolve", checkout).returncode == 0
        pm = tocsin.get(f"/api/v1/incidents/{checkout}/postmortem")
        assert pm["root_cause_category"] == "technical"
        assert (
            "**Confirmed cause**: Deploy payments-db schema 2026.03.1"
            in pm["sections"]["contributing_factors"]
        )
        metrics = cli(tocsin, "metrics")
        assert metrics.returncode == 0, metrics.stderr
        line = next(x for x in metrics.stdout.splitlines() if "Top hint" in x)
        assert line.split()[-3:] == ["100.0", "%", "(1/1)"]
