"""`tocsin serve` delivers pages by itself: email through a real SMTP server and a
signed webhook, in real time, with the secrets taken from the environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from tests.support.receivers import SmtpReceiver, WebhookReceiver
from tests.support.servers import clean_env, free_port, run_tocsin, start_server, stop_server
from tests.support.waiting import wait_for

POLICY = """
severities:
  - {name: SEV1, respond_within: 5m, escalate_after: 15m, update_every: 15m,
     resolve_target: 30m}
people:
  - {name: alice, full_name: Alice Anders, email: alice@example.com}
escalation_policies:
  - name: main
    tiers:
      - {timeout: 1h, targets: [{person: alice}]}
services:
  - {name: api, escalation_policy: main}
channels:
  email:
    type: email
    host: 127.0.0.1
    port: SMTP_PORT
    security: none
    username: tocsin
    password_env: TOCSIN_SMTP_PASSWORD
    from: "Tocsin <tocsin@example.com>"
  ops: {type: webhook, url: "HOOK_URL", secret_env: TOCSIN_WEBHOOK_SECRET}
notification_rules:
  alice:
    - notify: [{channel: ops}, {channel: email}]
broadcasts:
  - name: incidents
    to: [{channel: ops, target: "#incidents"}]
"""


def _sent_page(api: httpx.Client, ref: str) -> dict[str, Any]:
    """The incident's page once its outcome is recorded as sent, else nothing (empty)."""
    items: list[dict[str, Any]] = api.get(f"/api/v1/incidents/{ref}/notifications").json()["items"]
    page = next(p for p in items if p["kind"] == "page")
    return page if page["state"] == "sent" else {}


def test_serve_delivers_a_page_by_email_and_webhook(tmp_path: Path) -> None:
    hook = WebhookReceiver(secret="whsec-e2e").start()
    try:
        with SmtpReceiver(users={"tocsin": "smtp-e2e"}) as smtp:
            policy = POLICY.replace("SMTP_PORT", str(smtp.port)).replace("HOOK_URL", hook.url)
            (tmp_path / "tocsin.yaml").write_text(policy, encoding="utf-8")
            env = clean_env(
                {"TOCSIN_SMTP_PASSWORD": "smtp-e2e", "TOCSIN_WEBHOOK_SECRET": "whsec-e2e"}
            )
            port = free_port()
            init = run_tocsin("init", "--url", f"http://127.0.0.1:{port}", cwd=tmp_path, env=env)
            assert init.returncode == 0, init.stdout + init.stderr
            token = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
            server = start_server(tmp_path, port, env)
            try:
                with httpx.Client(
                    base_url=f"http://127.0.0.1:{port}",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=5,
                ) as api:
                    declared = api.post(
                        "/api/v1/incidents",
                        json={"title": "API down", "severity": "SEV1", "services": ["api"]},
                    )
                    assert declared.status_code == 201, declared.text
                    ref = declared.json()["id"]
                    wait_for(
                        lambda: len(smtp.messages) == 1 and len(hook.processed) == 2,
                        3.0,
                        "the page by email and webhook, and the broadcast, delivered",
                    )
                    # The receivers have it before the server has written down that it
                    # went: wait, bounded, for the outcome to be recorded.
                    page = wait_for(
                        lambda: _sent_page(api, ref), 3.0, "the page's outcome recorded as sent"
                    )
                    assert sorted(d["channel"] for d in page["deliveries"]) == ["email", "ops"]
            finally:
                output = stop_server(server)
            assert "smtp-e2e" not in output and "whsec-e2e" not in output
        assert all(r.signature_ok for r in hook.requests)
        kinds = sorted(p["kind"] for p in hook.processed)
        assert kinds == ["broadcast", "page"]
        assert smtp.messages[0].message["Subject"] == f"[SEV1] {ref}: API down"
    finally:
        hook.stop()
