"""Correcting an incident's times over the API and with the installed CLI: the
change and its reason are on the timeline, the metrics follow, and a bad correction
is refused naming the field. The fake clock reads Monday 2026-03-02 09:00 UTC."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import LiveServer
from tests.support.servers import clean_env, run_tocsin

INCIDENTS = "/api/v1/incidents"


@pytest.fixture
def responder(live_server: LiveServer) -> Iterator[httpx.Client]:
    token = live_server.make_token("responder", "alice")
    with httpx.Client(
        base_url=live_server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


def declare_and_resolve(api: httpx.Client, live_server: LiveServer) -> str:
    declared = api.post(INCIDENTS, json={"title": "Checkout 5xx", "severity": "sev2"})
    assert declared.status_code == 201, declared.text
    ref: str = declared.json()["id"]
    live_server.clock.advance(timedelta(minutes=10))
    assert api.post(f"{INCIDENTS}/{ref}/acknowledge").status_code == 200
    live_server.clock.advance(timedelta(minutes=50))
    assert api.post(f"{INCIDENTS}/{ref}/resolve", json={}).status_code == 200
    return ref


def mttr(api: httpx.Client) -> Any:
    summary = api.get("/api/v1/metrics/summary", params={"window": "7d"})
    assert summary.status_code == 200, summary.text
    return summary.json()["mttr"]["overall"]["mean"]


def test_a_correction_is_audited_and_the_metrics_follow(
    live_server: LiveServer, responder: httpx.Client
) -> None:
    ref = declare_and_resolve(responder, live_server)
    assert mttr(responder) == 3600
    incident = responder.get(f"{INCIDENTS}/{ref}").json()
    detected = incident["detected_at"]
    resolved_really = "2026-03-02T09:30:00Z"
    answer = responder.patch(
        f"{INCIDENTS}/{ref}",
        json={
            "mitigated_at": resolved_really,
            "resolved_at": resolved_really,
            "reason": "fixed at 09:30; resolved late",
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["resolved_at"].startswith("2026-03-02T09:30:00")
    assert answer.json()["detected_at"] == detected
    assert mttr(responder) == 1800
    timeline = responder.get(f"{INCIDENTS}/{ref}/timeline").json()["items"]
    [entry] = [e for e in timeline if e["kind"] == "times_corrected"]
    assert entry["actor"] == "alice"
    assert entry["data"]["reason"] == "fixed at 09:30; resolved late"
    assert entry["data"]["changes"]["resolved_at"]["from"].startswith("2026-03-02T10:00:00")
    assert "resolved_at" in entry["summary"]


def test_bad_corrections_are_refused_naming_the_field(
    live_server: LiveServer, responder: httpx.Client
) -> None:
    declared = responder.post(INCIDENTS, json={"title": "Queue lag", "severity": "sev3"})
    ref = declared.json()["id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"started_at": "2026-03-02T08:00:00Z"}, "reason"),
        ({"reason": "typo"}, "reason"),
        ({"resolved_at": "2026-03-02T09:00:00Z", "reason": "x"}, "resolved_at"),
        ({"detected_at": "2026-03-03T09:00:00Z", "reason": "x"}, "detected_at"),
        ({"started_at": "2026-03-02T09:30:00Z", "reason": "x"}, "started_at"),
        ({"started_at": "yesterday", "reason": "x"}, "started_at"),
    ]
    for body, field in cases:
        answer = responder.patch(f"{INCIDENTS}/{ref}", json=body)
        assert answer.status_code in (400, 422), (body, answer.text)
        assert field in answer.text, (body, answer.text)
    timeline = responder.get(f"{INCIDENTS}/{ref}/timeline").json()["items"]
    assert not [e for e in timeline if e["kind"] == "times_corrected"]


def test_the_installed_cli_corrects_a_start_time(
    live_server: LiveServer, responder: httpx.Client, tmp_path: Path
) -> None:
    declared = responder.post(INCIDENTS, json={"title": "Login slow", "severity": "sev3"})
    ref = declared.json()["id"]
    env = clean_env(
        {
            "TOCSIN_URL": live_server.url,
            "TOCSIN_TOKEN": live_server.make_token("responder", "alice"),
            "TZ": "UTC",
        }
    )
    done = run_tocsin(
        "incident",
        "correct",
        ref,
        "--started-at",
        "2026-03-02 08:40",
        "--reason",
        "the graphs show errors from 08:40",
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert ref in done.stdout and "corrected (started_at)" in done.stdout
    shown = run_tocsin("incident", "show", ref, "--json", cwd=tmp_path, env=env)
    assert json.loads(shown.stdout)["started_at"].startswith("2026-03-02T08:40:00")
    refused = run_tocsin(
        "incident", "correct", ref, "--reason", "nothing named", cwd=tmp_path, env=env
    )
    assert refused.returncode != 0 and "at least one time" in refused.stderr
