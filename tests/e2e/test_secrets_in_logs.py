"""No secret reaches a log: a real `tocsin serve --access-log` (one process, and the
`--workers 2` pool) takes every inbound path, good and bad, each carrying its secret
where a client would put it (or where a careless one would), and everything the server
printed is searched for every secret.

The secrets: three integration keys (and one pasted without its prefix), two API
tokens (one in query strings where it does not belong), a calendar subscription token,
status-page confirmation and unsubscribe tokens, the Slack signing secret, the Twilio
auth token, the dashboard's signing key, a user's password, their session cookie and
CSRF token. The access log must still show each request, masked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from tests.support.dashboard_session import csrf_of
from tests.support.servers import (
    TOCSIN,
    clean_env,
    free_port,
    run_tocsin,
    start_server,
    stop_server,
)
from twilio.request_validator import RequestValidator

FIXTURES = Path(__file__).parent.parent / "fixtures" / "alertmanager"


class Run:
    """`tocsin` commands in one directory, as the admin `init` made."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory, self.env = directory, env

    def last_line(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [TOCSIN, *args],
            cwd=self.directory,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"tocsin {' '.join(args)}:\n{result.stderr}"
        return result.stdout.strip().splitlines()[-1]


def _slack_headers(body: bytes, secret: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }


@pytest.mark.parametrize("workers", [1, 2])
def test_no_secret_reaches_the_logs(tmp_path: Path, workers: int) -> None:
    slack_secret, twilio_token = secrets.token_hex(16), secrets.token_hex(16)
    signing_key = secrets.token_urlsafe(40)
    env = clean_env(
        {
            "TOCSIN_SLACK_SIGNING_SECRET": slack_secret,
            "TWILIO_AUTH_TOKEN": twilio_token,
            "TOCSIN_SECRET_KEY": signing_key,
        }
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    assert run_tocsin("init", "--url", base, cwd=tmp_path, env=env).returncode == 0
    admin = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
    server = start_server(
        tmp_path, port, env, "--access-log", "--no-worker", "--workers", str(workers), timeout=90
    )
    output = ""
    try:
        run = Run(tmp_path, env)
        key = run.last_line("integration", "create", "checkout-api", "--kind", "alertmanager")
        pd_key = run.last_line("integration", "create", "checkout-api", "--kind", "pagerduty")
        hb_key = run.last_line(
            "integration", "create", "checkout-api", "--kind", "heartbeat",
            "--heartbeat-interval", "1h",
        )  # fmt: skip
        ops = run.last_line("token", "create", "ops", "--role", "responder")
        feed_url = run.last_line("schedule", "subscribe", "platform-primary")
        calendar = feed_url.rsplit("token=", 1)[1]
        password = secrets.token_urlsafe(18)
        run.last_line(
            "user", "create", "carol", "--role", "responder", "--password-stdin", stdin=password
        )
        mangled = key.removeprefix("tcsi_")
        confirm, unsubscribe = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        for value in (key, pd_key, hb_key, ops, calendar):
            assert value.startswith(("tcs_", "tcsi_", "tcsc_")), value

        firing = (FIXTURES / "alertmanager-webhook-firing.json").read_bytes()
        pd_event = {
            "routing_key": pd_key,
            "event_action": "trigger",
            "payload": {"summary": "disk full", "source": "db-1", "severity": "critical"},
        }
        with httpx.Client(base_url=base, timeout=15) as http:
            answers = {
                "alertmanager": http.post(
                    f"/api/v1/integrations/{key}/alertmanager",
                    content=firing,
                    headers={"Content-Type": "application/json"},
                ),
                "grafana, bad": http.post(f"/api/v1/integrations/{key}/grafana", json={"x": 1}),
                "events": http.post(
                    f"/api/v1/integrations/{key}/events",
                    params={"token": ops},
                    json={"title": "checkout slow", "severity": "warning", "dedup_key": "slow"},
                ),
                "no kind": http.post(f"/api/v1/integrations/{key}", json={}),
                "GET": http.get(f"/api/v1/integrations/{key}/alertmanager"),
                "bad kind": http.post(f"/api/v1/integrations/{key}/nagios", json={}),
                "mangled": http.post(
                    f"/api/v1/integrations/{mangled}/events",
                    json={"title": "x", "severity": "warning"},
                ),
                "pagerduty": http.post("/v2/enqueue", json=pd_event),
                "pd query": http.post("/v2/enqueue", params={"routing_key": pd_key}, json={}),
                "pd unknown": http.post("/v2/enqueue", json={**pd_event, "routing_key": mangled}),
                "pd text": http.post(
                    "/v2/enqueue",
                    content=json.dumps(pd_event),
                    headers={"Content-Type": "text/plain"},
                ),
                "change": http.post(
                    "/v2/change/enqueue", params={"routing_key": pd_key}, json=pd_event
                ),
                "heartbeat": http.post(f"/api/v1/heartbeats/{hb_key}"),
                "heartbeat, wrong key": http.post(f"/api/v1/heartbeats/{key}"),
                "heartbeat GET": http.get(f"/api/v1/heartbeats/{hb_key}"),
                "feed": http.get(feed_url),
                "feed, admin in URL": http.get(
                    "/api/v1/schedules/platform-primary.ics", params={"token": admin}
                ),
                "feed, admin header": http.get(
                    "/api/v1/schedules/platform-primary.ics",
                    headers={"Authorization": f"Bearer {admin}"},
                ),
                "api, token in URL": http.get("/api/v1/oncall", params={"token": admin}),
                "api": http.get("/api/v1/oncall", headers={"Authorization": f"Bearer {ops}"}),
                "api, calendar token": http.get(
                    "/api/v1/oncall", headers={"Authorization": f"Bearer {calendar}"}
                ),
                "status confirm": http.get("/status/subscribe/confirm", params={"token": confirm}),
                "status unsubscribe": http.get(
                    "/status/unsubscribe", params={"token": unsubscribe}
                ),
            }
            body = (
                b"command=%2Fincident&text=help&user_id=U0123ALICE"
                b"&response_url=http%3A%2F%2F127.0.0.1%3A9%2Fr"
            )
            answers["slack"] = http.post(
                "/api/v1/chatops/slack/commands",
                content=body,
                headers=_slack_headers(body, slack_secret),
            )
            answers["slack, forged"] = http.post(
                "/api/v1/chatops/slack/commands",
                content=body,
                headers=_slack_headers(body, "not-" + slack_secret),
            )
            sms = {"From": "+15555550101", "To": "+15555550100", "Body": "help"}
            sms_url = f"{base}/api/v1/chatops/twilio/sms"
            signature = RequestValidator(twilio_token).compute_signature(sms_url, sms)
            answers["twilio"] = http.post(
                sms_url, data=sms, headers={"X-Twilio-Signature": signature}
            )
            answers["twilio, forged"] = http.post(
                sms_url, data=sms, headers={"X-Twilio-Signature": "Zm9yZ2Vk"}
            )
        with httpx.Client(base_url=base, timeout=15, follow_redirects=False) as browser:
            csrf = csrf_of(browser.get("/login").text)
            signed_in = browser.post(
                "/login", data={"csrf_token": csrf, "username": "carol", "password": password}
            )
            assert signed_in.status_code == 303, signed_in.text
            cookie = browser.cookies["tocsin_session"]
            answers["dashboard"] = browser.get("/dashboard")
            answers["sign-in, wrong password"] = browser.post(
                "/login", data={"csrf_token": csrf, "username": "carol", "password": password + "x"}
            )

        expected = {
            "alertmanager": 202, "grafana, bad": 400, "events": 202, "no kind": 405,
            "GET": 405, "mangled": 404, "pagerduty": 202, "heartbeat": 202,
            "heartbeat, wrong key": 422, "feed": 200, "feed, admin in URL": 401,
            "feed, admin header": 401, "api, token in URL": 401, "api": 200,
            "api, calendar token": 401, "slack": 200, "slack, forged": 401, "twilio": 200,
            "twilio, forged": 403, "dashboard": 200,
        }  # fmt: skip
        for name, status in expected.items():
            assert answers[name].status_code == status, (name, answers[name].text)
        assert answers["change"].status_code == 202, answers["change"].text  # a change event
        for name in ("pd query", "pd unknown", "pd text", "bad kind"):
            assert 400 <= answers[name].status_code < 500, (name, answers[name].text)
        for name, answer in answers.items():
            assert answer.status_code < 500, (name, answer.text)
    finally:
        output = stop_server(server)

    found = {
        name: value
        for name, value in {
            "alertmanager key": key,
            "pagerduty key": pd_key,
            "heartbeat key": hb_key,
            "key without its prefix": mangled,
            "admin token": admin,
            "ops token": ops,
            "calendar token": calendar,
            "status confirmation token": confirm,
            "status unsubscribe token": unsubscribe,
            "Slack signing secret": slack_secret,
            "Twilio auth token": twilio_token,
            "dashboard signing key": signing_key,
            "password": password,
            "session cookie": cookie,
            "CSRF token": csrf,
        }.items()
        if value in output or value[-16:] in output
    }
    assert found == {}, f"secrets in the server's output: {sorted(found)}"
    # The access log was on, and shows the requests with their secrets masked.
    for line in (
        '"POST /api/v1/integrations/***/alertmanager HTTP/1.1" 202',
        '"POST /api/v1/integrations/*** HTTP/1.1" 405',
        '"POST /api/v1/integrations/***/events?token=*** HTTP/1.1" 202',
        '"POST /v2/enqueue?routing_key=*** HTTP/1.1"',
        '"POST /api/v1/heartbeats/*** HTTP/1.1" 202',
        '"GET /api/v1/schedules/platform-primary.ics?token=*** HTTP/1.1" 200',
        '"GET /api/v1/oncall?token=*** HTTP/1.1" 401',
        '"GET /status/unsubscribe?token=*** HTTP/1.1"',
        '"POST /api/v1/chatops/twilio/sms HTTP/1.1" 200',
    ):
        assert line in output, f"{line} not in the access log:\n{output[-3000:]}"
