"""Post-mortems: generation, action items, blameless-language check, lessons learned.

Pure: `rules` (facts, response figures, lifecycles, due dates, suggested action items),
`document` (the Markdown document), `blameless`, `patterns` (recurring root-cause
categories) and `similarity`. Use cases: `service` (post-mortems), `actions` (action
items), `deadlines` (due-date jobs and reminders), `insights` (patterns, similar
incidents) and `reporting` (what the reliability metrics read, and the error budget).

:func:`tocsin.wiring.wire` registers `service.on_incident_resolved` as a hook of
resolved incidents, so that resolving an incident whose severity requires a
post-mortem (or that had customer impact) drafts one in the same transaction, and
`reporting.metrics_inputs` as the metrics' source of post-mortem facts.
"""
