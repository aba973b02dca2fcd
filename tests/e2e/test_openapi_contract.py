"""The OpenAPI document is a contract a client can be generated from.

A real `tocsin serve` (on 127.0.0.1, with a token) serves ``/openapi.json``; the
document validates as OpenAPI, and schemathesis holds the server to it with every
check over every operation: each answer's status and body are declared, valid
requests are taken, invalid ones refused, wrong methods answered 405 with ``Allow``.
The run is bounded (a few examples per operation, a fixed seed that ``$CONTRACT_SEED``
can change) and must find nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from datamodel_code_generator import DataModelType, InputFileType, generate
from datamodel_code_generator.format import Formatter
from openapi_spec_validator import validate
from tests.support.servers import clean_env, free_port, run_tocsin, start_server, stop_server

from tocsin.policy import PolicyStore

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "alertmanager"
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
#: The error statuses of an authenticated write with a JSON body and an id in its path.
WRITE_STATUSES = {"400", "401", "403", "404", "408", "409", "413", "415", "422", "503"}


@dataclass(frozen=True)
class Contract:
    url: str
    token: str
    data: dict[str, Any]

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Contract]:
    """A served example site with an incident and two integrations to point at."""
    directory = tmp_path_factory.mktemp("contract")
    port = free_port()
    env = clean_env()
    url = f"http://127.0.0.1:{port}"
    assert run_tocsin("init", "--url", url, cwd=directory, env=env).returncode == 0
    token = json.loads((directory / ".tocsin" / "credentials.json").read_text())["token"]
    policy = PolicyStore(directory / "tocsin.yaml").current
    server = start_server(directory, port, env, "--no-worker", log=directory / "serve.log")
    try:
        contract = Contract(url, token, {})
        with contract.api() as api:
            contract.data.update(_site(api, policy))
        yield contract
    finally:
        stop_server(server)
    log = (directory / "serve.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, log[-4000:]


def _site(api: httpx.Client, policy: Any) -> dict[str, Any]:
    service = policy.services[0].name

    def key(name: str, kind: str, **extra: str) -> str:
        body = {"name": name, "service": service, "kind": kind, **extra}
        created = api.post("/api/v1/integrations", json=body)
        assert created.status_code == 201, created.text
        return str(created.json()["key"])

    incident = api.post(
        "/api/v1/incidents",
        json={"title": "Checkout errors", "severity": policy.severities[0].name},
    )
    assert incident.status_code == 201, incident.text
    templates = api.get("/api/v1/templates").json()["items"]
    return {
        "alert_key": key("contract-alerts", "alertmanager"),
        "heartbeat_key": key("contract-beat", "heartbeat", heartbeat_interval="5m"),
        "pagerduty_key": key("contract-pagerduty", "pagerduty"),
        "opsgenie_key": key("contract-opsgenie", "opsgenie"),
        "incident": incident.json()["id"],
        "service": service,
        "severity": policy.severities[-1].name,
        "person": policy.people[0].name,
        "schedule": policy.schedules[0].name,
        "template": templates[0]["name"],
        "collector": sorted(policy.diagnostics.collectors)[0],
        "playbook": sorted(policy.playbooks)[0],
    }


def test_the_document_is_valid_openapi(contract: Contract) -> None:
    document = httpx.get(f"{contract.url}/openapi.json", timeout=10).json()
    validate(document)  # raises, naming the first problem
    assert document["openapi"].startswith("3.1")


def test_a_generated_client_reads_the_real_answers(contract: Contract, tmp_path: Path) -> None:
    """Models generated from the document (datamodel-code-generator, as client
    generators do) take what the server answers and what Alertmanager sends."""
    document = httpx.get(f"{contract.url}/openapi.json", timeout=10).json()
    models = tmp_path / "tocsin_client.py"
    generate(
        json.dumps(document),
        input_file_type=InputFileType.OpenAPI,
        output=models,
        output_model_type=DataModelType.PydanticV2BaseModel,
        formatters=[Formatter.BUILTIN],
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import tocsin_client as client  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    with contract.api() as api:
        client.IncidentList.model_validate(api.get("/api/v1/incidents").json())
        client.OnCallList.model_validate(api.get("/api/v1/oncall").json())
        refused = api.post("/api/v1/incidents", json={"title": ""})
        error = client.ErrorBody.model_validate(refused.json())
    assert {e.field for e in error.errors or []} == {"title", "severity"}
    for name in ("alertmanager-webhook-firing", "alertmanager-webhook-prometheus-resolved"):
        body = json.loads((FIXTURES / f"{name}.json").read_text())
        client.AlertmanagerWebhook.model_validate(body)
        client.GrafanaWebhook.model_validate(body)


def test_every_refusal_is_declared_with_the_one_error_body(contract: Contract) -> None:
    document = httpx.get(f"{contract.url}/openapi.json", timeout=10).json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status[0] in "45" and not path.startswith("/v2/"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == error, (method, path, status)
    update = document["paths"]["/api/v1/incidents/{incident_id}"]["patch"]
    assert set(update["responses"]) >= WRITE_STATUSES
    assert update["responses"]["503"]["headers"]["Retry-After"]["required"] is True
    assert update["security"] == [{"HTTPBearer": []}]


def test_a_refusal_names_each_field_in_a_list(contract: Contract) -> None:
    incident = contract.data["incident"]
    with contract.api() as api:
        for tier in (True, "2", 2.5):
            answer = api.post(f"/api/v1/incidents/{incident}/escalate", json={"tier": tier})
            assert answer.status_code == 422, (tier, answer.text)
            body = answer.json()
            assert isinstance(body["detail"], str) and "tier" in body["detail"]
            assert [e["field"] for e in body["errors"]] == ["tier"]
        answer = api.post(
            f"/api/v1/incidents/{incident}/updates",
            json={"message": "Rolled back", "public": 1},
        )
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "public"
        answer = api.post(
            "/api/v1/incidents",
            json={"title": "x", "severity": "SEV1", "started_at": 1767225600},
        )
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "started_at"
        assert api.post(f"/api/v1/incidents/{incident}/escalate", json={"tier": 1}).is_success


def test_options_and_wrong_methods_name_every_method_of_the_path(contract: Contract) -> None:
    path = f"/api/v1/incidents/{contract.data['incident']}"
    with contract.api() as api:
        options = api.options(path)
        assert options.status_code == 204
        assert options.headers["allow"] == "GET, OPTIONS, PATCH"
        wrong = api.put(path, json={})
        assert wrong.status_code == 405
        assert wrong.headers["allow"] == options.headers["allow"]
        assert "PATCH" in wrong.json()["detail"]
        inbound = api.get(f"/api/v1/integrations/{contract.data['alert_key']}/alertmanager")
        assert (inbound.status_code, inbound.headers["allow"]) == (405, "OPTIONS, POST")


def test_schemathesis_finds_nothing_wrong(contract: Contract, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "SCHEMATHESIS_HOOKS": "tests.e2e.contract_hooks",
        "CONTRACT_DATA": json.dumps(contract.data),
    }
    seed = os.environ.get("CONTRACT_SEED", "20260105")
    command = [
        SCHEMATHESIS,
        "run",
        f"{contract.url}/openapi.json",
        "--checks=all",
        f"--header=Authorization: Bearer {contract.token}",
        "--max-examples=5",
        "--workers=2",
        f"--seed={seed}",
        "--request-timeout=10",
        "--no-color",
        f"--report-dir={tmp_path}",
    ]
    run = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-20_000:]
    document = httpx.get(f"{contract.url}/openapi.json", timeout=10).json()
    operations = sum(len(methods) for methods in document["paths"].values())
    assert f"Tested: {operations}" in output, output[-3000:]  # every one of them
