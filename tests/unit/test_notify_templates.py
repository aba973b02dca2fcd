"""Message templates: the standard messages render, errors name the template and line,
and a bad template refuses the policy at load."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.policy import PolicyError, example_policy_text, parse_policy
from tocsin.policy.templates import BUILTIN_TEMPLATES, MessageTemplate, template_parts
from tocsin.templating import (
    IncidentFacts,
    PersonFacts,
    ServiceFacts,
    TemplateError,
    TemplateParts,
    UpdateFacts,
    build_context,
    human_duration,
    incident_channel_name,
    message_extras,
    render_parts,
    sample_context,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SEEDS = (
    "initial_announcement",
    "investigating",
    "update",
    "identified",
    "resolution",
    "executive_summary",
    "customer_email",
)


def facts(**changes: object) -> IncidentFacts:
    base = IncidentFacts(
        id="INC-42",
        number=42,
        title="Checkout API down",
        description="All checkouts fail with 502.",
        status="investigating",
        severity="SEV1",
        severity_description="Complete service outage affecting all users",
        created_at=T0,
        started_at=T0 - timedelta(minutes=3),
        detected_at=T0,
        services=(
            ServiceFacts("checkout-api", "Checkout", True, "Checkout", "payments"),
            ServiceFacts("payments-db", "Payments DB", False, None, "payments"),
        ),
        roles={
            "commander": (PersonFacts("alice", "Alice Anders"),),
            "sme": (PersonFacts("bob", "Bob Baker"), PersonFacts("erin", "Erin Evans")),
        },
        update_every=timedelta(minutes=15),
        updates=(
            UpdateFacts(T0 + timedelta(minutes=5), "investigating", "DB pool full", False, "a"),
        ),
    )
    return IncidentFacts(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def render(name: str, at: datetime, **changes: object) -> tuple[str, str]:
    context = build_context(facts(**changes), now=at, extra=message_extras())
    message = render_parts(template_parts(name, BUILTIN_TEMPLATES[name]), context)
    return message.subject, message.text


def test_every_seed_message_has_a_builtin_template() -> None:
    assert set(SEEDS) <= set(BUILTIN_TEMPLATES)
    for name in SEEDS:
        subject, text = render(name, T0 + timedelta(minutes=20))
        assert subject and "\n" not in subject
        assert text.strip()


def test_the_initial_announcement_carries_the_seed_fields() -> None:
    subject, text = render("initial_announcement", T0)
    assert subject == "[SEV1] Incident declared: Checkout API down"
    assert "Incident ID: INC-42" in text
    assert "Severity: SEV1 (Complete service outage affecting all users)" in text
    assert "Service: checkout-api, payments-db" in text
    assert "Incident Commander: Alice Anders" in text
    assert "Incident Channel: #incident-2026-03-02-checkout-api-down" in text
    # Next update: 15 minutes after the last update (09:05) -> 09:20.
    assert "Next update: 09:20 UTC (every 15m)" in text


def test_next_update_runs_from_the_declaration_when_the_impact_started_long_before() -> None:
    # Declared at 09:00 for an impact that began at 06:00: the first update is due at
    # 09:15, not at 06:15 (three hours ago).
    _, text = render("initial_announcement", T0, started_at=T0 - timedelta(hours=3), updates=())
    assert "Next update: 09:15 UTC (every 15m)" in text


def test_an_overdue_update_is_due_now_never_in_the_past() -> None:
    # The last update was at 09:05; at 10:00 the next one is due now, not at 09:20.
    _, text = render("initial_announcement", T0 + timedelta(hours=1))
    assert "Next update: 10:00 UTC (every 15m)" in text


def test_update_shows_duration_status_and_progress() -> None:
    _, text = render("update", T0 + timedelta(minutes=27))
    assert "INCIDENT UPDATE - INC-42 - 2026-03-02 09:27 UTC" in text
    assert "Duration: 30m" in text  # from the impact start, 08:57
    assert "Status: INVESTIGATING" in text
    assert "Progress: DB pool full" in text


def test_resolution_and_customer_email_read_past_tense_when_resolved() -> None:
    resolved = T0 + timedelta(hours=1, minutes=12)
    _, text = render("resolution", T0 + timedelta(hours=3), status="resolved", resolved_at=resolved)
    assert "resolved as of 2026-03-02 10:12 UTC" in text
    assert "Duration: 2026-03-02 08:57 UTC - 2026-03-02 10:12 UTC (1h 15m)" in text
    _, email = render("customer_email", T0 + timedelta(hours=3), resolved_at=resolved)
    assert email.startswith("Dear Customer,")
    assert "checkout-api was affected (1h 15m so far)" in email


def test_executive_summary_lists_the_response_team() -> None:
    subject, text = render("executive_summary", T0)
    assert subject == "[URGENT] Production Incident - Checkout API down"
    assert "commander: Alice Anders; sme: Bob Baker, Erin Evans" in text


def test_an_undefined_variable_names_the_template_and_line() -> None:
    parts = TemplateParts("oops", "subject", "line one\nline two {{ nope }}\n")
    with pytest.raises(TemplateError) as caught:
        render_parts(parts, sample_context())
    error = caught.value
    assert (error.template, error.part, error.line) == ("oops", "text", 2)
    assert "'nope' is undefined" in str(error)
    assert str(error).startswith("template 'oops' (text, line 2):")


def test_a_syntax_error_names_the_line() -> None:
    parts = TemplateParts("broken", "ok", "fine\n\n{% if x %}never closed\n")
    with pytest.raises(TemplateError) as caught:
        render_parts(parts, sample_context())
    assert caught.value.part == "text" and caught.value.line == 3


def test_the_sandbox_refuses_python_internals() -> None:
    parts = TemplateParts("sneaky", "x", "{{ ''.__class__.__mro__ }}")
    with pytest.raises(TemplateError) as caught:
        render_parts(parts, sample_context())
    assert caught.value.line == 1


def test_html_parts_are_escaped_and_text_parts_are_not() -> None:
    parts = TemplateParts("both", "{{ title }}", "{{ title }}", "<b>{{ title }}</b>")
    message = render_parts(parts, {"title": "a < b & c"})
    assert message.text == "a < b & c"
    assert message.html == "<b>a &lt; b &amp; c</b>"


def test_helpers() -> None:
    assert human_duration(timedelta(seconds=42)) == "42s"
    assert human_duration(timedelta(hours=26, minutes=3)) == "1d 2h"
    assert human_duration(timedelta(seconds=-5)) == "0s"
    name = incident_channel_name(T0, "Payments: 50% of requests FAIL!")
    assert name == "incident-2026-03-02-payments-50-of-requests-fail"
    assert len(incident_channel_name(T0, "x" * 200)) == 80


# ---------------------------------------------------------------- at policy load


def test_the_example_policy_templates_render() -> None:
    policy = parse_policy(example_policy_text())
    assert set(SEEDS) <= set(policy.templates)
    for name in SEEDS:  # the example keeps the built-ins' wording
        assert policy.templates[name].text.split() == BUILTIN_TEMPLATES[name].text.split()


POLICY = """
severities:
  - {name: SEV1, respond_within: 5m, escalate_after: 15m, update_every: 15m,
     resolve_target: 1h}
templates:
  update:
    subject: "{{ incident_id }} update"
    text: |
      Status: {{ status }}
      Next: {{ next_updte }}
"""


def test_a_template_with_an_unknown_variable_refuses_the_policy_with_lines() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(POLICY, "tocsin.yaml")
    [issue] = caught.value.issues
    assert issue.path == "templates.update.text"
    assert issue.line == 8  # the `text:` key in the file
    assert "line 2 of the template" in issue.message and "next_updte" in issue.message


def test_a_template_syntax_error_refuses_the_policy() -> None:
    text = POLICY.replace("{{ next_updte }}", "{% for x in %}")
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "tocsin.yaml")
    [issue] = caught.value.issues
    assert issue.path == "templates.update.text" and "line 2 of the template" in issue.message


def test_a_policy_template_replaces_the_builtin() -> None:
    policy = parse_policy(POLICY.replace("next_updte", "next_update"))
    assert policy.templates["update"] == MessageTemplate(
        subject="{{ incident_id }} update", text="Status: {{ status }}\nNext: {{ next_update }}\n"
    )
