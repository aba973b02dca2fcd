"""`tocsin import` against local Opsgenie and PagerDuty APIs serving a 36-person org.

The equivalence check: after the import, for 50 instants over the next 8 weeks (either
side of every clock change among them), who Tocsin says is on call in each of the 11
schedules is who the product's own "on call at T" endpoint answers; that endpoint
answers from the fixture's explicit shift lists. From the first anchor the 8 weeks hold
both clock changes of Africa/Casablanca (it leaves summer time for Ramadan and returns)
and the spring changes of New York and Berlin; from the second, the autumn ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.grafana_oncall_rest import GrafanaOnCallRest
from tests.support.oncall_org import Org, build_org, clock_changes
from tests.support.opsgenie_rest import OpsgenieRest
from tests.support.pagerduty_rest import PagerDutyRest
from tests.support.receivers import free_port
from tests.support.source_api import SourceApiServer

from tocsin.importers import grafana_oncall, opsgenie, pagerduty
from tocsin.importers.draft import Draft
from tocsin.importers.http import ImportFailed, SourceApi
from tocsin.importers.policyfile import plan_change
from tocsin.oncall.rules import on_call
from tocsin.policy import Policy, parse_policy

#: The 8 weeks from here hold both clock changes of Casablanca (around Ramadan) and the
#: spring ones of New York and Berlin; from AUTUMN, the autumn ones of Berlin and New York.
SPRING = datetime(2027, 2, 1, tzinfo=UTC)
AUTUMN = datetime(2027, 10, 4, tzinfo=UTC)
WEEKS = 8


@dataclass
class Product:
    name: str
    server: Callable[[Org], SourceApiServer]
    header: Callable[[str], str]
    accept: str
    run: Callable[[SourceApi, datetime, datetime], Draft]
    #: Who the product's own endpoint says is on call in a schedule at an instant.
    ask: Callable[[httpx.Client, str, datetime], set[str]]
    users_path: str
    #: The service the checkout API's alerts come in by.
    checkout: str = "checkout-api"
    services: int = 8
    #: Repeats as the product can say them.
    repeats: Callable[[int], int] = lambda n: n
    #: What a 429 asks to wait (seconds).
    wait: float = 1.0
    #: The API gives people's phone numbers.
    phones: bool = True


def _ask_opsgenie(client: httpx.Client, schedule: str, at: datetime) -> set[str]:
    answer = client.get(
        f"/v2/schedules/{schedule}/on-calls", params={"date": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    )
    answer.raise_for_status()
    return {p["name"] for p in answer.json()["data"]["onCallParticipants"]}


def _ask_pagerduty(client: httpx.Client, schedule: str, at: datetime) -> set[str]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    answer = client.get(
        "/oncalls", params={"schedule_ids[]": schedule, "since": stamp, "until": stamp}
    )
    answer.raise_for_status()
    return {entry["user"]["id"] for entry in answer.json()["oncalls"]}


def _ask_grafana(client: httpx.Client, schedule: str, at: datetime) -> set[str]:
    day = at.date().isoformat()
    answer = client.get(
        f"/api/v1/schedules/{schedule}/final_shifts", params={"start_date": day, "end_date": day}
    )
    answer.raise_for_status()
    found: set[str] = set()
    for shift in answer.json()["results"]:
        start = datetime.fromisoformat(shift["shift_start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(shift["shift_end"].replace("Z", "+00:00"))
        if start <= at < end:
            found.add(shift["user_pk"])
    return found


PRODUCTS = {
    "opsgenie": Product(
        "opsgenie",
        lambda org: OpsgenieRest(org=org, page_size=10),
        opsgenie.auth_header,
        "application/json",
        opsgenie.import_opsgenie,
        _ask_opsgenie,
        "/v2/users",
    ),
    "pagerduty": Product(
        "pagerduty",
        lambda org: PagerDutyRest(org=org, max_limit=10),
        pagerduty.auth_header,
        pagerduty.ACCEPT,
        pagerduty.import_pagerduty,
        _ask_pagerduty,
        "/users",
        wait=2.0,
    ),
    "grafana-oncall": Product(
        "grafana-oncall",
        lambda org: GrafanaOnCallRest(org=org, page_size=10),
        grafana_oncall.auth_header,
        "application/json",
        grafana_oncall.import_grafana_oncall,
        _ask_grafana,
        "/api/v1/users/",
        checkout="checkout-api-prometheus",
        services=12,
        phones=False,
        repeats=lambda n: 5 if n else 0,
        wait=2.0,
    ),
}


def _key(server: SourceApiServer) -> str:
    return str(server.key)  # type: ignore[attr-defined]


@contextmanager
def serving(product: Product, org: Org) -> Iterator[SourceApiServer]:
    server = product.server(org)
    with server.running():
        yield server


def _import(
    product: Product, server: SourceApiServer, anchor: datetime, **kwargs: Any
) -> tuple[Draft, SourceApi]:
    api = SourceApi(
        product.name, server.url, product.header(_key(server)), accept=product.accept, **kwargs
    )
    with api:
        return product.run(api, anchor, anchor + timedelta(weeks=12)), api


def _instants(org: Org) -> list[datetime]:
    """50 instants in the 8 weeks: either side of every clock change of Berlin and New
    York, either side of handoffs, and the rest spread evenly at odd minutes."""
    found: list[datetime] = []
    for zone in ("Europe/Berlin", "America/New_York", "Africa/Casablanca"):
        for change in clock_changes(zone, org.anchor, org.end):
            found += [
                change - timedelta(minutes=1),
                change + timedelta(minutes=1),
                change + timedelta(hours=7, minutes=30),
            ]
    for schedule in (org.schedules[0], org.schedules[3], org.schedules[8], org.schedules[1]):
        boundaries = sorted({b for r in schedule.rotations for _, b, _ in r.shifts})
        inside = [b for b in boundaries if org.anchor < b < org.end]
        for b in inside[3 :: max(1, len(inside) // 3)][:3]:
            found += [b - timedelta(minutes=1), b + timedelta(minutes=1)]
    rest = 50 - len(found)
    step = (org.end - org.anchor) / rest
    found += [org.anchor + step * i + timedelta(minutes=17 + i) for i in range(rest)]
    assert len(found) == 50 and all(org.anchor <= t < org.end for t in found)
    return sorted(found)


def _person_names(policy: Policy, org: Org, product: str) -> dict[str, str]:
    """Whatever the product's on-call answer names a user by -> the imported person."""
    by_email = {p.email: p.name for p in policy.people}
    if product == "opsgenie":
        return {u.email: by_email[u.email] for u in org.users}
    return {u.id: by_email[u.email] for u in org.users}


def _mismatches(product: Product, org: Org, policy: Policy, client: httpx.Client) -> list[str]:
    names = _person_names(policy, org, product.name)
    assert len(policy.schedules) == len(org.schedules)
    wrong: list[str] = []
    for t in _instants(org):
        for source, imported in zip(org.schedules, policy.schedules, strict=True):
            expected = {names[p] for p in product.ask(client, source.id, t)}
            actual = set(on_call(imported, t))
            if expected != actual:
                wrong.append(f"{imported.name} at {t.isoformat()}: {expected} != {actual}")
    return wrong


@pytest.mark.parametrize("anchor", [SPRING, AUTUMN], ids=["spring", "autumn"])
@pytest.mark.parametrize("name", list(PRODUCTS))
def test_who_is_on_call_matches_the_source_at_50_instants(
    name: str, anchor: datetime, tmp_path: Path
) -> None:
    product, org = PRODUCTS[name], build_org(anchor, WEEKS)
    assert len(org.users) >= 30 and len(org.schedules) >= 10
    assert len({s.tz for s in org.schedules}) >= 3
    assert len(clock_changes("Europe/Berlin", org.anchor, org.end)) == 1
    if anchor == SPRING:
        assert len(clock_changes("Africa/Casablanca", org.anchor, org.end)) == 2
    with serving(product, org) as server:
        draft, _ = _import(product, server, anchor)
        change = plan_change(draft, tmp_path / "tocsin.yaml", merge=False)
        policy = parse_policy(change.after)
        headers = {"Authorization": product.header(_key(server))}
        with httpx.Client(base_url=server.url, headers=headers) as client:
            assert _mismatches(product, org, policy, client) == []
            # The check can fail: the same comparison against a schedule whose turns
            # are one person off finds the difference.
            shifted = _with_participants_rotated(policy, "platform-primary")
            assert _mismatches(product, org, shifted, client) != []


def _with_participants_rotated(policy: Policy, schedule: str) -> Policy:
    data = policy.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    for entry in data["schedules"]:
        if entry["name"] == schedule:
            people = entry["layers"][0]["participants"]
            entry["layers"][0]["participants"] = people[1:] + people[:1]
    return Policy.model_validate(data)


@pytest.mark.parametrize("name", list(PRODUCTS))
def test_the_imported_policy_carries_the_organisation(name: str, tmp_path: Path) -> None:
    product, org = PRODUCTS[name], build_org(SPRING, WEEKS)
    with serving(product, org) as server:
        draft, _ = _import(product, server, SPRING)
    policy = parse_policy(plan_change(draft, tmp_path / "p.yaml", merge=False).after)
    assert len(policy.people) == 36 and len(policy.teams) == 6
    assert len(policy.services) == product.services
    by_email = {p.email: p for p in policy.people}
    ada = by_email["ada.adler@example.com"]
    assert (ada.full_name, ada.timezone) == ("Ada Adler", "Europe/Berlin")
    assert ada.phone == ("+15555550100" if product.phones else None)
    platform = policy.team("platform")
    assert platform is not None and platform.timezone == "Europe/Berlin"
    assert len(platform.members) == 6
    # Escalation: tiers, timeouts, targets and repeats as the source has them.
    assert len(policy.escalation_policies) == 6
    for source, imported in zip(org.escalations, policy.escalation_policies, strict=True):
        assert imported.repeat == product.repeats(source.repeats)
        assert [int(t.timeout.total_seconds() // 60) for t in imported.tiers] == [
            timeout for timeout, _ in source.tiers
        ]
        assert [len(t.targets) for t in imported.tiers] == [len(ts) for _, ts in source.tiers]
    assert policy.escalation_policies[0].tiers[0].targets[0].schedule == "platform-primary"
    checkout = policy.service(product.checkout)
    assert checkout is not None and checkout.escalation_policy == "platform-escalation"
    # Restrictions: weekday office hours, and a time-of-day window across midnight.
    office = policy.schedule("platform-business-hours")
    assert office is not None
    assert [(r.days, r.from_.hour, r.to.hour) for r in office.layers[0].restrictions] == [
        (("mon", "tue", "wed", "thu", "fri"), 9, 17)
    ]
    night = policy.schedule("payments-follow-the-clock")
    assert night is not None
    assert {(r.from_.hour, r.to.hour) for r in night.layers[1].restrictions} == {(20, 8)}
    # Overrides, handoff times and zones.
    primary = policy.schedule("platform-primary")
    assert primary is not None and primary.timezone == "Europe/Berlin"
    assert len(primary.overrides) == len(org.schedules[0].overrides)
    assert primary.layers[0].rotation == "weekly" and primary.layers[0].start.hour == 9
    halves = policy.schedule("data-twelve-hours")
    assert halves is not None and halves.layers[0].length == timedelta(hours=12)
    assert policy.schedule("sre-primary").layers[0].length == timedelta(days=2)  # type: ignore[union-attr]
    # Maintenance windows and notification rules.
    windows = policy.alerting.maintenance_windows
    covered = {w.service.removesuffix("-prometheus") for w in windows}
    assert covered >= {"payments-db", "edge-proxy"}
    rules = policy.notification_rules["bram.berg"][0]
    assert [(s.channel, s.after) for s in rules.notify] == [
        ("email", timedelta(0)),
        ("sms", timedelta(minutes=1)),
        ("voice", timedelta(minutes=5)),
    ]
    # What could not be carried over is in the report, with the reason.
    assert any(
        u.name.startswith("ada.adler") and "no such channel" in u.reason for u in draft.unmapped
    )
    assert any("alertmanager" in step for step in draft.next_steps)


@pytest.mark.parametrize("name", list(PRODUCTS))
def test_429_is_retried_after_the_wait_the_source_asks_for(name: str) -> None:
    product, org = PRODUCTS[name], build_org(SPRING, WEEKS)
    waited: list[float] = []
    with serving(product, org) as server:
        server.throttle = 3
        draft, _ = _import(product, server, SPRING, sleep=waited.append)
    # X-RateLimit-Period-In-Sec, ratelimit-reset, Retry-After
    assert waited == [product.wait] * 3
    assert len(draft.people) == 36
    first_path = server.requests[0].path
    assert [r.path for r in server.requests[:4]] == [first_path] * 4


@pytest.mark.parametrize("name", list(PRODUCTS))
def test_a_source_that_keeps_throttling_fails_clearly(name: str) -> None:
    product, org = PRODUCTS[name], build_org(SPRING, WEEKS)
    with serving(product, org) as server:
        server.throttle = 100
        with pytest.raises(ImportFailed, match="kept answering 429"):
            _import(product, server, SPRING, sleep=lambda _: None)
        assert len(server.requests) == 7  # the first try and six retries


@pytest.mark.parametrize("name", list(PRODUCTS))
def test_bad_credentials_are_a_clear_error_without_the_token(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    product, org = PRODUCTS[name], build_org(SPRING, WEEKS)
    wrong = "wrong-secret-4711"
    caplog.set_level(logging.DEBUG)
    with serving(product, org) as server:
        api = SourceApi(product.name, server.url, product.header(wrong), accept=product.accept)
        with api, pytest.raises(ImportFailed) as failure:
            product.run(api, SPRING, SPRING + timedelta(weeks=12))
    message = str(failure.value)
    assert "refused the API token (401" in message
    assert wrong not in message and wrong not in caplog.text


@pytest.mark.parametrize("name", list(PRODUCTS))
def test_every_page_is_read(name: str) -> None:
    product, org = PRODUCTS[name], build_org(SPRING, WEEKS)
    with serving(product, org) as server:
        draft, _ = _import(product, server, SPRING)
    pages = [r for r in server.requests if r.path == product.users_path]
    assert len(pages) == 4  # 36 users, 10 a page
    if name == "grafana-oncall":  # by page number, following `next`
        assert [r.query.get("page", ["1"])[0] for r in pages] == ["1", "2", "3", "4"]
    else:
        assert [r.query.get("offset", ["0"])[0] for r in pages] == ["0", "10", "20", "30"]
    assert len(draft.people) == 36 and len({p["email"] for p in draft.people}) == 36


def test_what_opsgenie_has_and_tocsin_cannot_say_is_reported(tmp_path: Path) -> None:
    """A rotation with a team and a `none` turn that ends, an override of one rotation
    of two, an escalation rule on "not closed": each is in the report with its reason,
    and the policy does not pretend otherwise."""
    org = build_org(SPRING, WEEKS)

    def edit(path: str, body: Any) -> Any:
        if path == "/v2/schedules":
            rotation = body["data"][3]["rotations"][1]
            rotation["participants"] += [
                {"type": "team", "id": "T1", "name": "payments"},
                {"type": "none"},
            ]
            rotation["endDate"] = "2027-06-01T00:00:00Z"
        if path == "/v2/schedules/S02/overrides":
            body["data"][0]["rotations"] = body["data"][0]["rotations"][:1]
        if path == "/v2/escalations":
            body["data"][0]["rules"][0]["condition"] = "if-not-closed"
        return body

    server = OpsgenieRest(org=org, edit=edit)
    with server.running():
        draft, _ = _import(PRODUCTS["opsgenie"], server, SPRING)
    reasons = {(u.kind, u.name): u.reason for u in draft.unmapped}
    night = "payments-follow-the-clock: night"
    assert (
        "a turn in Tocsin belongs to one person"
        in reasons[("rotation participant", f"{night} team payments")]
    )
    assert ("rotation participant", f"{night} none") in reasons
    assert "Tocsin layers do not end" in reasons[("rotation end", night)]
    override = next(k for k in reasons if k[0] == "override")
    assert "covers only some rotations" in reasons[override]
    office = next(s for s in draft.schedules if s["name"] == "platform-business-hours")
    assert len(office["overrides"]) == len(org.schedules[1].overrides) - 1
    assert any(k[0] == "escalation rule" for k in reasons)
    policy = parse_policy(plan_change(draft, tmp_path / "p.yaml", merge=False).after)
    assert policy.schedule("payments-follow-the-clock") is not None


def test_an_unreachable_source_is_a_clear_error() -> None:
    api = SourceApi("Opsgenie", f"http://127.0.0.1:{free_port()}", "GenieKey k")
    with api, pytest.raises(ImportFailed, match=r"cannot reach Opsgenie at http://127\.0\.0\.1"):
        opsgenie.import_opsgenie(api, SPRING, SPRING + timedelta(weeks=1))


@pytest.mark.parametrize("name", list(PRODUCTS))
def test_a_large_account_is_read_page_by_page(name: str, tmp_path: Path) -> None:
    """336 people at 10 a page: every one imported, each page asked for once."""
    product, org = PRODUCTS[name], build_org(SPRING, WEEKS, responders=300)
    with serving(product, org) as server:
        draft, _ = _import(product, server, SPRING)
    assert len(draft.people) == 336
    assert len({p["email"] for p in draft.people}) == 336
    pages = [r for r in server.requests if r.path == product.users_path]
    assert len(pages) == 34
    policy = parse_policy(plan_change(draft, tmp_path / "p.yaml", merge=False).after)
    assert policy.person("responder299") is not None
