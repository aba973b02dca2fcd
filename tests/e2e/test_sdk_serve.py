"""The Python SDK (``tocsin.client``) against a real `tocsin serve`: an incident's whole
life through the synchronous client, the API's refusals as the SDK's exceptions,
pagination across pages, every resource group answering, and the asynchronous client
doing the same work concurrently. One served site (``tocsin init`` with the example
policy) for the module."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from tests.support.servers import clean_env, free_port, run_tocsin, start_server, stop_server

from tocsin.client import (
    AsyncTocsin,
    ConflictError,
    NotFoundError,
    Tocsin,
    Unauthorized,
    ValidationFailed,
)


class Site:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp("sdk")
    env = clean_env()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    made = run_tocsin("init", "--url", url, cwd=directory, env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    token = json.loads((directory / ".tocsin" / "credentials.json").read_text())["token"]
    server = start_server(directory, port, env, "--no-worker")
    try:
        yield Site(url, token)
    finally:
        stop_server(server)


@pytest.fixture
def tocsin(site: Site) -> Iterator[Tocsin]:
    with Tocsin(site.url, token=site.token) as client:
        yield client


def test_an_incidents_life_through_the_sdk(tocsin: Tocsin) -> None:
    assert tocsin.me()["role"] == "admin"
    declared = tocsin.incidents.declare(
        "Checkout 5xx", "sev2", services=["checkout-api"], description="Errors above 5%"
    )
    ref = declared["id"]
    assert declared["status"] == "triggered" and declared["services"] == ["checkout-api"]
    assert tocsin.incidents.acknowledge(ref)["status"] == "acknowledged"
    tocsin.incidents.post_update(ref, "Rolling back 4711", status="identified")
    roles = tocsin.incidents.assign_role(ref, "commander", "alice")["roles"]
    assert roles["commander"] == ["alice"]
    detected = datetime.fromisoformat(tocsin.incidents.get(ref)["detected_at"])
    started = tocsin.incidents.correct(
        ref, reason="errors began before the alert", started_at=detected - timedelta(minutes=7)
    )["started_at"]
    assert datetime.fromisoformat(started) == detected - timedelta(minutes=7)
    assert tocsin.incidents.resolve(ref, message="Rolled back")["status"] == "resolved"
    kinds = [e["kind"] for e in tocsin.incidents.timeline(ref)["items"]]
    assert {"declared", "acknowledged", "times_corrected", "role_assigned"} <= set(kinds)
    updates = tocsin.incidents.updates(ref)["items"]
    assert [u["message"] for u in updates][:1] == ["Rolling back 4711"]

    postmortem = tocsin.postmortems.for_incident(ref)  # SEV2 drafts one on resolve
    item = tocsin.action_items.add(
        postmortem["id"], "Canary the checkout deploys", owner="alice", priority="p2"
    )
    assert tocsin.action_items.edit(item["id"], status="in_progress")["status"] == "in_progress"
    assert item["id"] in {i["id"] for i in tocsin.action_items.iterate(page_size=1)}
    assert "Canary the checkout deploys" in tocsin.postmortems.get(postmortem["id"])["markdown"]


def test_refusals_are_exceptions_of_their_status(tocsin: Tocsin, site: Site) -> None:
    with pytest.raises(NotFoundError):
        tocsin.incidents.get("INC-999999")
    with pytest.raises(ValidationFailed) as invalid:
        tocsin.incidents.declare("Bad", "sev9")
    assert "severity" in invalid.value.field_errors()
    ref = tocsin.incidents.declare("Queue lag", "sev3")["id"]
    tocsin.incidents.acknowledge(ref)
    with pytest.raises(ConflictError, match="already acknowledged"):
        tocsin.incidents.acknowledge(ref)
    with Tocsin(site.url, token="tcs_not-a-token") as stranger, pytest.raises(Unauthorized):
        stranger.incidents.list()


def test_iterate_walks_every_page_once(tocsin: Tocsin) -> None:
    made = {tocsin.incidents.declare(f"Disk full on db-{n}", "sev4")["id"] for n in range(7)}
    page = tocsin.incidents.list(severity="SEV4", limit=3)
    assert len(page["items"]) == 3 and page["total"] >= 7
    seen = [i["id"] for i in tocsin.incidents.iterate(severity="SEV4", page_size=3)]
    assert len(seen) == len(set(seen)) and made <= set(seen)


def test_every_resource_group_answers(tocsin: Tocsin, site: Site) -> None:
    key = tocsin.integrations.create("sdk-og", "checkout-api", "opsgenie")["key"]
    sent = httpx.post(
        f"{site.url}/v2/alerts",
        headers={"Authorization": f"GenieKey {key}"},
        json={"message": "Latency above 2 s", "alias": "sdk-latency"},
    )
    assert sent.status_code == 202, sent.text
    firing = list(tocsin.alerts.iterate(status="firing", page_size=1))
    alert = next(a for a in firing if a["dedup_key"] == "sdk-latency")
    assert tocsin.alerts.get(alert["id"])["raw"]["alias"] == "sdk-latency"

    silence = tocsin.silences.create(
        ['service="checkout-api"'], datetime.now(UTC) + timedelta(hours=1), comment="deploy"
    )
    assert silence["id"] in {s["id"] for s in tocsin.silences.list()["items"]}
    tocsin.silences.expire(silence["id"])
    assert silence["id"] not in {s["id"] for s in tocsin.silences.list()["items"]}

    assert tocsin.oncall.who()["items"]
    schedules = [s["name"] for s in tocsin.oncall.schedules()["items"]]
    assert "platform-primary" in schedules
    start = datetime.now(UTC) + timedelta(days=1)
    override = tocsin.oncall.add_override(
        "platform-primary", "dana", start, start + timedelta(hours=2)
    )
    assert override["id"] in {o["id"] for o in tocsin.oncall.overrides("platform-primary")["items"]}
    tocsin.oncall.remove_override("platform-primary", override["id"])

    assert tocsin.changes.list()["items"] == list(tocsin.changes.iterate())
    assert "mttr" in tocsin.metrics.summary(window="7d")
    assert {s["service"] for s in tocsin.metrics.slos()["items"]}
    assert "items" in tocsin.status_page.incidents()
    assert "status" in tocsin.status_page.public_summary()


def test_the_async_client_does_the_same_work_concurrently(site: Site) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        async with AsyncTocsin(site.url, token=site.token) as tocsin:
            assert (await tocsin.me())["role"] == "admin"
            declared = await asyncio.gather(
                *(tocsin.incidents.declare(f"Async {n}", "sev4") for n in range(5))
            )
            refs = [d["id"] for d in declared]
            await asyncio.gather(*(tocsin.incidents.resolve(ref) for ref in refs))
            with pytest.raises(NotFoundError):
                await tocsin.incidents.get("INC-999999")
            resolved = [
                i["id"] async for i in tocsin.incidents.iterate(status=["resolved"], page_size=2)
            ]
            return refs, resolved

    refs, resolved = asyncio.run(scenario())
    assert set(refs) <= set(resolved) and len(resolved) == len(set(resolved))


def test_credentials_come_from_tocsin_init(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".tocsin").mkdir()
    (tmp_path / ".tocsin" / "credentials.json").write_text(
        json.dumps({"url": site.url, "token": site.token}), encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOCSIN_URL", raising=False)
    monkeypatch.delenv("TOCSIN_TOKEN", raising=False)
    with Tocsin() as tocsin:
        assert tocsin.me()["role"] == "admin"


def readme_examples(section: str) -> list[str]:
    """The Python code blocks of one README section, as a reader copies them."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```python\n(.*?)^```", body, flags=re.MULTILINE | re.DOTALL)


def test_the_readmes_examples_run(
    site: Site, tocsin: Tocsin, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sync, asynchronous = readme_examples("Python SDK (`tocsin.client`)")
    address = '"http://127.0.0.1:8080", token="tcs_..."'
    assert address in sync
    exec(sync.replace(address, f"{site.url!r}, token={site.token!r}"), {})
    printed = capsys.readouterr().out
    assert "Rolled back" not in printed and printed.strip()  # a close of a resolved incident
    for _ in range(2):
        tocsin.incidents.declare("Example", "sev4")
    monkeypatch.setenv("TOCSIN_URL", site.url)
    monkeypatch.setenv("TOCSIN_TOKEN", site.token)
    exec(asynchronous, {})
    assert "triggered" in capsys.readouterr().out
