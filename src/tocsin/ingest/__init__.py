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
from tocsin.ingest.pagerduty import (
    MAX_BODY_BYTES as PD_MAX_BODY_BYTES,
)
from tocsin.ingest.pagerduty import (
    parse_pd_event,
    pd_error_body,
    pd_error_for,
    pd_success_body,
    pd_throttled_body,
)
from tocsin.ingest.pagerduty_change import ChangeEvent, parse_pd_change, pd_change_accepted

#: The parser behind each ``/api/v1/integrations/{key}/<endpoint>`` (their bodies hold
#: their alerts under ``alerts``, which lets a large body be decided a slice at a time).
PARSERS = {
    "alertmanager": parse_alertmanager,
    "grafana": parse_grafana,
    "events": parse_generic,
}

__all__ = [
    "ACTIONS",
    "PARSERS",
    "PD_MAX_BODY_BYTES",
    "SOURCES",
    "Action",
    "AlertEvent",
    "AlertmanagerBatch",
    "ChangeEvent",
    "IngestError",
    "Link",
    "Source",
    "parse_alertmanager",
    "parse_alertmanager_batch",
    "parse_generic",
    "parse_grafana",
    "parse_grafana_batch",
    "parse_pd_change",
    "parse_pd_event",
    "pd_change_accepted",
    "pd_error_body",
    "pd_error_for",
    "pd_success_body",
    "pd_throttled_body",
]
