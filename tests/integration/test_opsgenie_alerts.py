"""Opsgenie's Alert API on a running server, spoken by Opsgenie's own Python SDK
(``opsgenie-sdk``, its host pointed at the server) and by raw requests shaped like
Opsgenie's documented examples: creates deduplicated by alias, acknowledge and close
by alias and by id, request status, Opsgenie's refusals; a storm of a thousand
aliases from concurrent senders; 503 with Retry-After while the database refuses
writes. The example policy; the fake clock reads Monday 2026-03-02 09:00 UTC."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import opsgenie_sdk
import pytest
from sqlalchemy import event
from tests.conftest import LiveServer

ALERTS = "/v2/alerts"


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=live_server.url,
        timeout=30,
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
    ) as client:
        yield client


def integration(api: httpx.Client, name: str, kind: str = "opsgenie", **extra: Any) -> str:
    answer = api.post(
        "/api/v1/integrations",
        json={"name": name, "service": "checkout-api", "kind": kind, **extra},
    )
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["key"]
    return key


def sdk(live_server: LiveServer, key: str) -> opsgenie_sdk.AlertApi:
    configuration = opsgenie_sdk.Configuration()
    configuration.host = live_server.url
    configuration.api_key["Authorization"] = key
    configuration.retry_enabled = False
    return opsgenie_sdk.AlertApi(opsgenie_sdk.ApiClient(configuration))


def alerts_by_key(api: httpx.Client) -> dict[str, dict[str, Any]]:
    answer = api.get("/api/v1/alerts", params={"limit": 500})
    assert answer.status_code == 200, answer.text
    return {a["dedup_key"]: a for a in answer.json()["items"]}


def genie(key: str) -> dict[str, str]:
    return {"Authorization": f"GenieKey {key}", "Content-Type": "application/json"}


def test_the_opsgenie_sdk_creates_deduplicates_acknowledges_and_closes(
    live_server: LiveServer, api: httpx.Client
) -> None:
    key = integration(api, "og")
    client = sdk(live_server, key)
    payload = opsgenie_sdk.CreateAlertPayload(
        message="Checkout API 5xx above 5%",
        alias="checkout-5xx",
        description="Error rate 7.2% over 5 minutes",
        responders=[{"name": "payments", "type": "team"}],
        tags=["checkout", "prod"],
        details={"region": "eu-west-1"},
        entity="checkout-api",
        source="prometheus",
        priority="P1",
        user="monitoring",
        note="first sighting",
    )
    created = client.create_alert(create_alert_payload=payload)
    assert created.result == "Request will be processed"
    assert created.request_id and created.took >= 0

    status = client.get_request_status(request_id=created.request_id).data
    assert status.is_success and status.action == "Create" and status.alias == "checkout-5xx"
    alert_id = status.alert_id

    # The same alias again only counts: one alert, one incident.
    again = client.create_alert(create_alert_payload=payload)
    assert client.get_request_status(request_id=again.request_id).data.alert_id == alert_id
    stored = alerts_by_key(api)["checkout-5xx"]
    assert stored["occurrences"] == 2 and stored["source"] == "opsgenie"
    assert stored["severity"] == "SEV1"  # P1 is the highest priority
    assert stored["labels"] == {"priority": "P1", "entity": "checkout-api", "source": "prometheus"}
    assert stored["annotations"]["region"] == "eu-west-1"
    assert stored["annotations"]["responders"] == "team:payments"
    incidents = api.get("/api/v1/incidents").json()["items"]
    assert [i["id"] for i in incidents] == [stored["incident"]]

    acknowledged = client.acknowledge_alert(
        identifier="checkout-5xx",
        identifier_type="alias",
        acknowledge_alert_payload=opsgenie_sdk.AcknowledgeAlertPayload(user="alice", note="on it"),
    )
    ack_status = client.get_request_status(request_id=acknowledged.request_id).data
    assert ack_status.action == "Acknowledge" and ack_status.is_success
    assert alerts_by_key(api)["checkout-5xx"]["acknowledged_at"] is not None

    # Close by Opsgenie's default identifier type, the alert's id.
    closed = client.close_alert(
        identifier=alert_id, close_alert_payload=opsgenie_sdk.CloseAlertPayload(user="alice")
    )
    assert client.get_request_status(request_id=closed.request_id).data.status == "Closed alert"
    assert alerts_by_key(api)["checkout-5xx"]["status"] == "resolved"

    # A create after the close is a new alert, as at Opsgenie.
    client.create_alert(create_alert_payload=payload)
    reopened = alerts_by_key(api)["checkout-5xx"]
    assert reopened["status"] == "firing"


def test_raw_requests_as_documented(live_server: LiveServer, api: httpx.Client) -> None:
    key = integration(api, "og-raw")
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        # No alias: the message is the alias. P4 maps to the lowest severity.
        answer = http.post(
            ALERTS,
            headers=genie(key),
            json={"message": "Disk 85% on db-1", "priority": "P4", "tags": ["OverwriteQuietHours"]},
        )
        assert answer.status_code == 202, answer.text
        assert set(answer.json()) == {"result", "took", "requestId"}
        stored = alerts_by_key(api)["Disk 85% on db-1"]
        assert stored["severity"] == "SEV4"
        # Close with an empty body, by alias, with the query parameter as documented.
        answer = http.post(
            f"{ALERTS}/Disk 85% on db-1/close",
            params={"identifierType": "alias"},
            headers={"Authorization": f"GenieKey {key}"},
        )
        assert answer.status_code == 202, answer.text
        assert alerts_by_key(api)["Disk 85% on db-1"]["status"] == "resolved"
        # Closing an alert that does not exist is accepted; its status says so.
        answer = http.post(f"{ALERTS}/999999/close", headers=genie(key), json={})
        assert answer.status_code == 202
        request = http.get(
            f"{ALERTS}/requests/{answer.json()['requestId']}", headers=genie(key)
        ).json()
        assert request["data"]["isSuccess"] is False
        assert request["data"]["status"] == "Alert does not exist"


def test_refusals_have_opsgenies_shape(live_server: LiveServer, api: httpx.Client) -> None:
    key = integration(api, "og-refusals")
    beat = integration(api, "og-beat", "heartbeat", heartbeat_interval="5m")
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        cases: list[tuple[dict[str, str], Any, int, str]] = [
            ({}, {"message": "x"}, 401, "Could not authenticate"),
            ({"Authorization": "GenieKey tcsi_nope"}, {"message": "x"}, 401, "authenticate"),
            ({"Authorization": f"Bearer {key}"}, {"message": "x"}, 401, "authenticate"),
            (genie(beat), {"message": "x"}, 403, "heartbeat"),
            (genie(key), {"alias": "a"}, 422, "not processable"),
            (genie(key), {"message": "m" * 131}, 422, "not processable"),
            (genie(key), {"message": "x", "priority": "P0"}, 422, "not processable"),
            (genie(key), {"message": "x", "responders": [{"name": "t"}]}, 422, "not processable"),
        ]
        for headers, body, status, words in cases:
            answer = http.post(ALERTS, headers=headers, json=body)
            assert answer.status_code == status, (body, answer.text)
            refusal = answer.json()
            assert words in refusal["message"] and "requestId" in refusal and "took" in refusal
        too_long = http.post(ALERTS, headers=genie(key), json={"message": "m" * 131}).json()
        assert too_long["errors"] == {"message": "must be at most 130 characters"}
        bad_json = http.post(ALERTS, headers=genie(key), content=b"{not json")
        assert bad_json.status_code == 400 and "JSON" in bad_json.json()["message"]
        wrong_type = http.post(
            f"{ALERTS}/a/close", params={"identifierType": "name"}, headers=genie(key), json={}
        )
        assert wrong_type.status_code == 422
        assert wrong_type.json()["errors"] == {
            "identifierType": "must be one of id, alias, tiny, not 'name'"
        }
        closed_by_beat = http.post(f"{ALERTS}/7/close", headers=genie(beat), json={})
        assert closed_by_beat.status_code == 403, closed_by_beat.text
        unknown = http.get(f"{ALERTS}/requests/not-a-request", headers=genie(key))
        assert unknown.status_code == 404 and "not be processed" in unknown.json()["message"]
    assert alerts_by_key(api) == {}


def test_a_thousand_aliases_from_concurrent_senders_are_stored_once_each(
    live_server: LiveServer, api: httpx.Client
) -> None:
    key = integration(api, "og-storm")
    aliases = [f"node-{n:04d}-down" for n in range(1000)]

    senders = threading.local()

    def send(alias: str) -> int:
        http = getattr(senders, "http", None)
        if http is None:
            http = senders.http = httpx.Client(base_url=live_server.url, timeout=60)
            opened.append(http)
        body = {"message": f"{alias} is not answering", "alias": alias, "priority": "P2"}
        return http.post(ALERTS, headers=genie(key), json=body).status_code

    # Every alias twice, from 16 senders at once: the repeats only count.
    opened: list[httpx.Client] = []
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(send, aliases + aliases))
    finally:
        for http in opened:
            http.close()
    assert statuses == [202] * 2000
    stored = alerts_by_key_all(api)
    assert sorted(stored) == aliases
    assert {a["occurrences"] for a in stored.values()} == {2}


def alerts_by_key_all(api: httpx.Client) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        page = api.get("/api/v1/alerts", params={"limit": 500, "offset": offset}).json()
        for alert in page["items"]:
            assert alert["dedup_key"] not in found
            found[alert["dedup_key"]] = alert
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return found


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_database_that_refuses_writes_answers_503_with_retry_after(
    live_server: LiveServer, api: httpx.Client
) -> None:
    key = integration(api, "og-fault")
    engine = live_server.context.sessions.engine
    read_only = {"on": True}

    def apply(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.execute(f"PRAGMA query_only = {'ON' if read_only['on'] else 'OFF'}")

    event.listen(engine, "checkout", apply)
    try:
        with httpx.Client(base_url=live_server.url, timeout=30) as http:
            body = {"message": "Queue depth above 10k", "alias": "queue-depth"}
            refused = http.post(ALERTS, headers=genie(key), json=body)
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["retry-after"]) > 0
            assert "Database unavailable" in refused.json()["message"]
            assert alerts_by_key(api) == {}
            read_only["on"] = False
            accepted = http.post(ALERTS, headers=genie(key), json=body)
            assert accepted.status_code == 202, accepted.text
    finally:
        event.remove(engine, "checkout", apply)
    assert alerts_by_key(api)["queue-depth"]["occurrences"] == 1
