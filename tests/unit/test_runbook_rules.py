"""The pure rules of diagnostics and playbooks: values from alerts are quoted for where
they go and never become syntax, secrets are masked, collectors and playbooks fit the
incidents they name, and the policy refuses steps that are not what they claim."""

from __future__ import annotations

import json
import shlex
import subprocess
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.policy import PolicyError, example_policy_text, parse_policy
from tocsin.policy.diagnostics import DiagnosticStep
from tocsin.policy.playbooks import Playbook
from tocsin.runbooks.rules import (
    Redactor,
    RenderError,
    RunFacts,
    collectors_for,
    playbook_matches_alerts,
    render_step,
    template_context,
)


def _context(**labels: str) -> dict[str, Any]:
    facts = RunFacts(
        ref="INC-7",
        title="Checkout down",
        severity="SEV1",
        status="triggered",
        services=("checkout-api",),
        alerts=((labels, {"summary": "it broke"}),),
    )
    return template_context(facts)


def _step(**fields: Any) -> DiagnosticStep:
    return DiagnosticStep.model_validate({"name": "step", **fields})


HOSTILE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@settings(deadline=None)
@given(HOSTILE)
def test_an_argv_element_stays_one_argument_whatever_the_label(value: str) -> None:
    step = _step(command=["echo", "pod={{ labels.pod }}", "{{ incident.ref }}"])
    rendered = render_step(step, _context(pod=value))
    assert rendered.argv == ("echo", f"pod={value}", "INC-7")
    assert rendered.shell is False


@settings(deadline=None)
@given(HOSTILE)
def test_a_shell_line_gets_every_value_quoted(value: str) -> None:
    step = _step(command="printf '%s' {{ labels.pod }}", shell=True)
    rendered = render_step(step, _context(pod=value))
    assert rendered.argv[:2] == ("/bin/sh", "-c")
    # The shell splits the line back into exactly the words written, the value whole.
    assert shlex.split(rendered.argv[2]) == ["printf", "%s", value]


def test_a_shell_line_runs_the_value_as_data() -> None:
    value = "x; echo INJECTED $(echo INJECTED) `echo INJECTED`"
    rendered = render_step(_step(command="echo {{ labels.pod }}", shell=True), _context(pod=value))
    done = subprocess.run(list(rendered.argv), capture_output=True, text=True, timeout=10)
    assert done.stdout == value + "\n"


def test_urls_promql_and_sql_get_values_their_own_way() -> None:
    ctx = _context(pod='a/b?c=d&e "f"\\', instance="db-1")
    http = render_step(_step(http={"url": "http://h/pods/{{ labels.pod }}"}), ctx)
    assert http.url == "http://h/pods/a%2Fb%3Fc%3Dd%26e%20%22f%22%5C"
    promql = render_step(
        _step(promql={"prometheus": "main", "query": 'up{pod="{{ labels.pod }}"}'}), ctx
    )
    assert promql.query == 'up{pod="a/b?c=d&e \\"f\\"\\\\"}'
    sql = render_step(
        _step(
            sql={
                "database": "app",
                "query": "SELECT * FROM t WHERE host = :host",
                "params": {"host": "{{ labels.instance }}"},
            }
        ),
        ctx,
    )
    assert sql.query == "SELECT * FROM t WHERE host = :host" and sql.params == {"host": "db-1"}


def test_a_label_the_incident_lacks_is_a_render_error_naming_it() -> None:
    with pytest.raises(RenderError, match="missing"):
        render_step(_step(command=["echo", "{{ labels.missing }}"]), _context(pod="p"))


def test_the_sandbox_refuses_reaching_into_python() -> None:
    with pytest.raises(RenderError):
        render_step(_step(command=["echo", "{{ ''.__class__.__mro__ }}"]), _context())


def test_secrets_are_masked_and_the_rest_kept() -> None:
    redact = Redactor([r"sessionid=(?P<secret>\w+)"])
    text = (
        "password=hunter2 user=bob\n"
        'config {"api_key": "abc123", "name": "x"}\n'
        "Authorization: Bearer eyJhbGciOi.payload.sig\n"
        "postgresql://app:s3cret@db:5432/app\n"
        "key AKIAABCDEFGHIJKLMNOP\n"
        "sessionid=77aa ok\n"
    )
    masked = redact(text)
    for secret in ("hunter2", "abc123", "eyJhbGciOi", "s3cret", "AKIAABCDEFGHIJKLMNOP", "77aa"):
        assert secret not in masked
    assert "user=bob" in masked and '"name": "x"' in masked and "@db:5432/app" in masked
    assert "sessionid=[REDACTED] ok" in masked


def test_collectors_fit_services_and_severities_including_aliases() -> None:
    policy = parse_policy(example_policy_text())
    collectors = {
        name: c.model_copy(update={"on_open": True})
        for name, c in policy.diagnostics.collectors.items()
    }

    def names(severity: str) -> set[str]:
        return {label.casefold() for label in policy.severity(severity).labels}

    assert collectors_for(
        collectors, services=["checkout-api"], severity="critical", severity_names=names
    ) == ["cluster", "checkout-health"]
    assert collectors_for(
        collectors, services=["checkout-api"], severity="SEV3", severity_names=names
    ) == ["checkout-health"]
    assert (
        collectors_for(
            policy.diagnostics.collectors,
            services=["checkout-api"],
            severity="SEV1",
            severity_names=names,
        )
        == []
    )  # the example's collectors run on demand only


def test_a_matcher_trigger_needs_one_alert_with_every_label() -> None:
    playbook = Playbook.model_validate(
        {
            "trigger": {"match": ['alertname="HighMemory"', 'env=~"prod|staging"']},
            "actions": [{"name": "a", "command": ["true"]}],
        }
    )
    assert playbook_matches_alerts(playbook, [{"alertname": "HighMemory", "env": "prod"}])
    assert not playbook_matches_alerts(
        playbook, [{"alertname": "HighMemory", "env": "dev"}, {"alertname": "Other", "env": "prod"}]
    )


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"command": "rm -rf /"}, "needs `shell: true`"),
        ({"command": ["ls"], "http": {"url": "http://x"}}, "exactly one of"),
        ({}, "exactly one of"),
        ({"command": ["ls"], "shell": True}, "argv list"),
        ({"command": ["ls"], "env": ["NOT-A-NAME"]}, "not an environment name"),
        ({"sql": {"database": "nowhere", "query": "SELECT 1"}}, "unknown database 'nowhere'"),
    ],
)
def test_the_policy_refuses_a_step_that_is_not_what_it_claims(
    step: dict[str, Any], message: str
) -> None:
    document = example_policy_text().replace(
        "    database-activity:\n",
        "    broken:\n      steps:\n        - "
        + _yaml_step({"name": "bad", **step})
        + "\n    database-activity:\n",
        1,
    )
    with pytest.raises(PolicyError, match="diagnostics") as raised:
        parse_policy(document)
    assert message in str(raised.value)


def _yaml_step(step: dict[str, Any]) -> str:
    return json.dumps(step)  # JSON is YAML


def test_an_action_must_act_and_a_condition_names_a_known_prometheus() -> None:
    bad = example_policy_text().replace(
        "condition: {prometheus: main,", "condition: {prometheus: elsewhere,", 1
    )
    with pytest.raises(PolicyError, match="unknown prometheus 'elsewhere'"):
        parse_policy(bad)
    promql_action = example_policy_text().replace(
        '        command: [psql, -X, -c, "SELECT state, count(*) FROM pg_stat_activity GROUP BY '
        'state"]',
        "        promql: {prometheus: main, query: up}",
        1,
    )
    assert promql_action != example_policy_text()
    with pytest.raises(PolicyError, match="a command or an http request"):
        parse_policy(promql_action)
