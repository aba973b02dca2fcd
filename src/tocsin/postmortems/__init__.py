"""Post-mortems: generation, action items, blameless-language check, lessons learned.

Pure: `rules` (facts, response figures, lifecycles, due dates, suggested action items),
`document` (the Markdown document), `blameless`, `patterns` (recurring root-cause
categories) and `similarity`. Use cases: `service` (post-mortems), `actions` (action
items), `deadlines` (due-date jobs and reminders), `insights` (patterns, similar
incidents) and `reporting` (what the reliability metrics read, and the error budget).

Importing this package registers `service.on_incident_resolved` with
`tocsin.incidents.hooks`, so that resolving an incident whose severity requires a
post-mortem (or that had customer impact) drafts one in the same transaction.
`tocsin.tables`, the web app and the engine all import it.
"""

from tocsin.incidents.hooks import register_on_resolved
from tocsin.postmortems.service import on_incident_resolved

register_on_resolved(on_incident_resolved)

__all__ = ["on_incident_resolved"]
