"""The installed `tocsin import` in a subprocess, against the local Opsgenie and
PagerDuty APIs: a new file, a dry run, a merge that keeps what the file has, refusing
to overwrite, bad credentials, and the token never in any output."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.support.grafana_oncall_rest import GrafanaOnCallRest
from tests.support.oncall_org import Org, build_org
from tests.support.opsgenie_rest import OpsgenieRest
from tests.support.pagerduty_rest import PagerDutyRest
from tests.support.servers import clean_env, run_tocsin

from tocsin.cli.importers import opsgenie_url
from tocsin.importers import opsgenie
from tocsin.policy import Policy, example_policy_text, load_policy, parse_policy

ANCHOR = datetime(2027, 3, 1, tzinfo=UTC)
SINCE = ("--since", "2027-03-01T00:00:00Z")


@pytest.fixture(scope="module")
def org() -> Org:
    return build_org(ANCHOR)


@pytest.fixture
def opsgenie_api(org: Org) -> Iterator[OpsgenieRest]:
    server = OpsgenieRest(org=org, page_size=25)
    with server.running():
        yield server


@pytest.fixture
def pagerduty_api(org: Org) -> Iterator[PagerDutyRest]:
    server = PagerDutyRest(org=org, reset_seconds=1)
    with server.running():
        yield server


def _opsgenie(
    api: OpsgenieRest, tmp_path: Path, *args: str, key: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = clean_env({"OPSGENIE_API_KEY": key or api.key})
    return run_tocsin("import", "opsgenie", "--api-url", api.url, *SINCE, *args,
                      cwd=tmp_path, env=env)  # fmt: skip


def test_import_writes_a_valid_policy_and_a_report(
    opsgenie_api: OpsgenieRest, tmp_path: Path
) -> None:
    opsgenie_api.throttle = 1  # one 429 on the way: waited out, then carried on
    done = _opsgenie(opsgenie_api, tmp_path, "--report", "import-report.txt")
    assert done.returncode == 0, done.stderr
    assert "wrote tocsin.yaml" in done.stdout
    assert "36 people" in done.stdout and "11 schedules" in done.stdout
    assert "contact method ada.adler mobile: Tocsin has no such channel" in done.stdout
    assert "tocsin integration create checkout-api --kind alertmanager" in done.stdout
    report = (tmp_path / "import-report.txt").read_text()
    assert "Not imported as it is" in report
    assert "add them under `channels` (see the example policy): email, sms, voice" in report
    policy = load_policy(tmp_path / "tocsin.yaml")
    assert len(policy.people) == 36 and len(policy.schedules) == 11
    checked = run_tocsin("policy", "validate", "tocsin.yaml", cwd=tmp_path, env=clean_env())
    assert checked.returncode == 0, checked.stderr
    assert "OK" in checked.stdout
    written = (tmp_path / "tocsin.yaml").read_text()
    for text in (done.stdout, done.stderr, report, written):
        assert opsgenie_api.key not in text
    assert [r.headers["Authorization"] for r in opsgenie_api.requests[:2]] == [
        f"GenieKey {opsgenie_api.key}"
    ] * 2


def test_an_existing_file_is_never_overwritten(opsgenie_api: OpsgenieRest, tmp_path: Path) -> None:
    policy = tmp_path / "tocsin.yaml"
    policy.write_text(example_policy_text())
    done = _opsgenie(opsgenie_api, tmp_path)
    assert done.returncode == 1
    assert "tocsin.yaml already exists; add --merge" in done.stderr
    assert policy.read_text() == example_policy_text()


def test_dry_run_prints_the_diff_and_writes_nothing(
    opsgenie_api: OpsgenieRest, tmp_path: Path
) -> None:
    done = _opsgenie(opsgenie_api, tmp_path, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "tocsin.yaml").exists()
    lines = done.stdout.splitlines()
    assert "+++ tocsin.yaml (imported)" in lines
    assert "+  - name: ada.adler" in lines
    assert "+  - name: platform-primary" in lines


def test_merge_keeps_everything_the_file_has(opsgenie_api: OpsgenieRest, tmp_path: Path) -> None:
    policy = tmp_path / "tocsin.yaml"
    policy.write_text(example_policy_text())
    preview = _opsgenie(opsgenie_api, tmp_path, "--merge", "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert policy.read_text() == example_policy_text()
    changed = [line for line in preview.stdout.splitlines() if line[:1] in "+-"]
    removed = [line for line in changed if line.startswith("-") and not line.startswith("---")]
    assert removed == [] and len(changed) > 500

    done = _opsgenie(opsgenie_api, tmp_path, "--merge")
    assert done.returncode == 0, done.stderr
    assert "under `channels`" not in done.stdout  # the example policy defines them
    merged = load_policy(policy)
    before = load_policy_text(example_policy_text())
    assert merged.people[: len(before.people)] == before.people
    assert merged.schedules[: len(before.schedules)] == before.schedules
    assert merged.escalation_policies[: len(before.escalation_policies)] == (
        before.escalation_policies
    )
    assert len(merged.people) == len(before.people) + 36
    # The file's own comments are still there.
    assert "# --- On-call schedules" in policy.read_text()

    # A second import of the same people: each one already there is kept and reported.
    again = _opsgenie(opsgenie_api, tmp_path, "--merge")
    assert again.returncode == 0, again.stderr
    assert "person ada.adler: the policy already has one by this name; kept the existing one" in (
        again.stdout
    )
    assert load_policy(policy) == merged


def test_pagerduty_with_a_token_file(pagerduty_api: PagerDutyRest, tmp_path: Path) -> None:
    token = tmp_path / "pd-token"
    token.write_text(pagerduty_api.key + "\n")
    pagerduty_api.throttle = 1
    done = run_tocsin(
        "import", "pagerduty", "--api-url", pagerduty_api.url, "--token-file", str(token),
        *SINCE, "-o", "pd.yaml", cwd=tmp_path, env=clean_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Imported from PagerDuty" in done.stdout
    assert "low urgency" in done.stdout
    assert "checkout-api auto_resolve_timeout: Tocsin resolves incidents when" in done.stdout
    assert len(load_policy(tmp_path / "pd.yaml").schedules) == 11
    assert pagerduty_api.requests[0].headers["Accept"] == "application/vnd.pagerduty+json;version=2"
    assert pagerduty_api.key not in done.stdout + done.stderr


def test_grafana_oncall_import(org: Org, tmp_path: Path) -> None:
    server = GrafanaOnCallRest(org=org, page_size=20, retry_after=1)
    server.throttle = 1
    with server.running():
        done = run_tocsin(
            "import", "grafana-oncall", "--api-url", server.url, *SINCE, "--dry-run",
            cwd=tmp_path, env=clean_env({"GRAFANA_ONCALL_TOKEN": server.key}),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "tocsin.yaml").exists()
    assert "+  - name: platform-business-hours" in done.stdout.splitlines()
    assert "Grafana OnCall repeats the chain up to 5 times" in done.stdout
    assert server.requests[0].headers["Authorization"] == server.key
    assert server.key not in done.stdout + done.stderr


def test_bad_credentials_fail_clearly_and_never_echo_the_token(
    pagerduty_api: PagerDutyRest, opsgenie_api: OpsgenieRest, tmp_path: Path
) -> None:
    wrong = "not-the-key-8f3a"
    done = run_tocsin(
        "import", "pagerduty", "--api-url", pagerduty_api.url, *SINCE,
        cwd=tmp_path, env=clean_env({"PAGERDUTY_API_TOKEN": wrong}),
    )  # fmt: skip
    assert done.returncode == 1
    assert "PagerDuty refused the API token (401 on /users: Unauthorized)" in done.stderr
    assert wrong not in done.stdout + done.stderr
    assert not (tmp_path / "tocsin.yaml").exists()

    missing = run_tocsin("import", "opsgenie", "--api-url", opsgenie_api.url, cwd=tmp_path,
                         env=clean_env())  # fmt: skip
    assert missing.returncode == 1
    assert "OPSGENIE_API_KEY holding the Opsgenie API token is not set" in missing.stderr

    refused = _opsgenie(opsgenie_api, tmp_path, key=wrong)
    assert refused.returncode == 1
    assert "Opsgenie refused the API token (401 on /v2/users: Could not authenticate)" in (
        refused.stderr
    )
    assert wrong not in refused.stdout + refused.stderr


def test_opsgenie_eu_accounts_have_their_own_host() -> None:
    assert opsgenie_url(None, eu=True) == opsgenie.EU_API_URL == "https://api.eu.opsgenie.com"
    assert opsgenie_url(None, eu=False) == "https://api.opsgenie.com"
    assert opsgenie_url("http://127.0.0.1:9", eu=True) == "http://127.0.0.1:9"


def load_policy_text(text: str) -> Policy:
    return parse_policy(text)
