"""Moving from another on-call product: its REST API read into a Tocsin policy.

One module per product (:mod:`~tocsin.importers.opsgenie`,
:mod:`~tocsin.importers.pagerduty`, :mod:`~tocsin.importers.grafana_oncall`) reads the
product's people, teams, schedules, escalation policies, services, integrations and
maintenance windows through :class:`~tocsin.importers.http.SourceApi` into a
:class:`~tocsin.importers.draft.Draft`: the policy's sections plus what could not be
carried over and why. :mod:`~tocsin.importers.policyfile` writes it as a new policy
file or merges it into one; the result always validates.
"""
