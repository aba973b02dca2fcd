"""The ``templates:`` section of the policy: Jinja2 message templates by name.

::

    templates:
      update:
        description: Internal status update
        subject: "[{{ severity }}] {{ incident_id }} update: {{ title }}"
        text: |
          INCIDENT UPDATE - {{ incident_id }}
          Duration: {{ duration }}
          Next update: {{ next_update }}
        html: "<p>...</p>"          # optional; emails get a plain-text-derived one otherwise

A policy template replaces the built-in one of the same name (:data:`BUILTIN_TEMPLATES`,
the standard messages). Every template is compiled and test-rendered against a sample
incident when the policy is loaded, so a syntax error or an unknown variable refuses the
file with the template's name and line. The variables are listed in
:func:`tocsin.templating.build_context`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from tocsin.policy.base import Loc, PolicyModel
from tocsin.templating import TemplateError, TemplateParts, render_parts, sample_context

__all__ = [
    "BUILTIN_TEMPLATES",
    "MessageTemplate",
    "template_parts",
    "templates_reference_issues",
]


class MessageTemplate(PolicyModel):
    """One message: a subject line, a plain-text body and optionally an HTML body."""

    description: str = Field(default="", description="What the message is for.")
    subject: str = Field(default="{{ incident_id }}: {{ title }}", description="One line.")
    text: str = Field(min_length=1, description="Plain-text body (Jinja2).")
    html: str | None = Field(default=None, description="HTML body (Jinja2, autoescaped).")


def _builtin(description: str, subject: str, text: str) -> MessageTemplate:
    return MessageTemplate(description=description, subject=subject, text=text)


#: The standard messages. The example policy carries copies to edit.
BUILTIN_TEMPLATES: Mapping[str, MessageTemplate] = {
    "initial_announcement": _builtin(
        "Internal announcement when an incident is declared",
        "[{{ severity }}] Incident declared: {{ title }}",
        """\
@here Incident declared: {{ title }}
Incident ID: {{ incident_id }}
Severity: {{ severity }} ({{ incident.severity_description }})
Service: {{ service_names }}
Impact: {{ incident.description or "being assessed" }}
Incident Commander: {{ commander }}
Incident Channel: #{{ channel_name }}
Next update: {{ next_update }} (every {{ update_every }})
""",
    ),
    "investigating": _builtin(
        "External status page update: investigating",
        "{{ service_names }} - Investigating Issues",
        """\
We are currently investigating reports of {{ title | lower }}.

Impact: {{ customer_services or service_names }} may be unavailable or degraded.
Next update: {{ next_update }}

Posted at: {{ now }}
""",
    ),
    "update": _builtin(
        "Internal status update",
        "[{{ severity }}] {{ incident_id }} update: {{ title }}",
        """\
INCIDENT UPDATE - {{ incident_id }} - {{ current_time }}
Severity: {{ severity }}
Status: {{ status | upper }}
Duration: {{ duration }}
Progress: {{ latest_update or "no update posted yet" }}
Next Update: {{ next_update }}
""",
    ),
    "identified": _builtin(
        "External status page update: cause identified",
        "{{ service_names }} - Issue Identified",
        """\
We have identified the cause of the issue affecting {{ service_names }} and are working on \
a fix.

Cause: {{ latest_update or "under investigation" }}
Next update: {{ next_update }}

Posted at: {{ now }}
""",
    ),
    "resolution": _builtin(
        "Resolution announcement",
        "[RESOLVED] {{ incident_id }}: {{ title }}",
        """\
INCIDENT RESOLVED - {{ incident_id }}
The issue affecting {{ service_names }} has been resolved as of \
{{ incident.resolved_at | time }}.
Duration: {{ started }} - {{ incident.resolved_at | time }} ({{ duration }})
Resolution: {{ latest_update or "services restored" }}

We apologize for any inconvenience caused. A post-mortem will follow.
""",
    ),
    "executive_summary": _builtin(
        "Executive summary for SEV1/SEV2",
        "[URGENT] Production Incident - {{ title }}",
        """\
Summary: {{ title }} ({{ incident_id }}, {{ severity }})
Current Status: {{ status | upper }}
Business Impact: {{ customer_services or "no customer-facing service" }} affected \
for {{ duration }}
Response Team: {% for role, people in roles.items() %}{{ role }}: {{ people }}\
{% if not loop.last %}; {% endif %}{% else %}being assembled{% endfor %}

Communication Plan: updates every {{ update_every }}; next at {{ next_update }}
""",
    ),
    "customer_email": _builtin(
        "Customer email for a major incident",
        "Service Incident - {{ title }}",
        """\
Dear Customer,

We are writing to inform you of a service incident that may have affected your account.

WHAT HAPPENED
{{ title }}, starting {{ started }}.

IMPACT
{{ customer_services or service_names }} {{ "was" if incident.resolved_at else "is" }} \
affected ({{ duration }} so far).

WHAT WE'RE DOING
{{ latest_update or "Our engineers are working on a resolution." }}

NEXT STEPS
No action is required from you. Next update: {{ next_update }}.

Sincerely,
The Operations Team
""",
    ),
}


def template_parts(name: str, template: MessageTemplate) -> TemplateParts:
    return TemplateParts(
        name=name, subject=template.subject, text=template.text, html=template.html
    )


def templates_reference_issues(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Compile and test-render every template of the plain document."""
    issues: list[tuple[Loc, str]] = []
    templates = data.get("templates")
    if not isinstance(templates, Mapping):
        return issues
    context = sample_context()
    for name, entry in templates.items():
        if not isinstance(entry, Mapping) or not isinstance(name, str):
            continue
        try:
            template = MessageTemplate.model_validate(entry)
        except ValueError:
            continue  # the field validation reports it
        try:
            render_parts(template_parts(name, template), context)
        except TemplateError as exc:
            where = f"line {exc.line} of the template" if exc.line else "the template"
            issues.append((("templates", name, exc.part), f"{where}: {exc.message}"))
    return issues
