"""Inbound alerts: each source's body parsed into :class:`AlertEvent` (pure; the HTTP
endpoints and storage sit on top).

Every parser raises :class:`IngestError` naming the bad field for any body it cannot
use, and nothing else, whatever JSON it is given.
"""

from tocsin.ingest.alertmanager import (
    AlertmanagerBatch,
    parse_alertmanager,
    parse_alertmanager_batch,
)
from tocsin.ingest.events import ACTIONS, SOURCES, Action, AlertEvent, IngestError, Link, Source
from tocsin.ingest.generic import parse_generic
from tocsin.ingest.grafana import parse_grafana, parse_grafana_batch
from tocsin.ingest.pagerduty import parse_pd_event, pd_error_body, pd_error_for, pd_success_body

__all__ = [
    "ACTIONS",
    "SOURCES",
    "Action",
    "AlertEvent",
    "AlertmanagerBatch",
    "IngestError",
    "Link",
    "Source",
    "parse_alertmanager",
    "parse_alertmanager_batch",
    "parse_generic",
    "parse_grafana",
    "parse_grafana_batch",
    "parse_pd_event",
    "pd_error_body",
    "pd_error_for",
    "pd_success_body",
]
