"""Secrets never reach a log: the masking of every log record a server process writes.

What is masked, wherever it appears in a message, its arguments or a traceback:

- Tocsin's own credentials by their prefix: API tokens (``tcs_...``), integration keys
  (``tcsi_...``), calendar subscription tokens (``tcsc_...``) -> ``tcsi_***``;
- the key in an inbound path, whatever follows it and whatever the method (also a
  key posted to ``/api/v1/integrations/<key>`` without a kind, answered 405, and a
  mangled key without its prefix): ``/api/v1/integrations/***/alertmanager``,
  ``/api/v1/heartbeats/***``. A management URL that names an integration by its
  numeric id stays readable; one that names it otherwise is masked too;
- the value of every query parameter whose name says it is a credential
  (``token``, ``routing_key``, ``key``, ``secret``, ``signature``, ``password``,
  ``session``, ``auth``, ``code``, …) -> ``?routing_key=***``, percent-encoded or not,
  and likewise a JSON field of such a name, or ``secret=…`` / ``password: …`` in text;
- the password of a URL (``postgresql://tocsin:***@db/tocsin``), the path of a Slack
  or Teams incoming webhook (``https://hooks.slack.com/services/***``), the credential of an
  ``Authorization: Bearer|Basic`` value, and a session cookie's value
  (``tocsin_session=***``).

:func:`install_log_masking` puts :func:`mask_secrets` into the record factory of
:mod:`logging`, so it applies to every logger (uvicorn's access and error logs,
Tocsin's own, libraries') before any handler or filter sees the record, whatever the
logging configuration is (uvicorn's ``dictConfig``, ``basicConfig``, a user's own).
Each process that serves or works calls it once (:class:`~tocsin.web.context.AppContext`).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

__all__ = ["MASK", "install_log_masking", "mask_secrets"]

MASK = "***"

#: Tocsin's own credentials: ``tcs_`` (API token), ``tcsi_`` (integration key),
#: ``tcsc_`` (calendar subscription), followed by URL-safe base64.
_PREFIXED = re.compile(r"\b(tcs[a-z]?_)[A-Za-z0-9_-]{6,}")
#: The segment after an inbound prefix, unless it is a plain number (an id).
_INTEGRATION_PATH = re.compile(r"(/api/v1/integrations/)(?!\d+(?:[/?#\s\"']|$))[^/?#\s\"']+")
_HEARTBEAT_PATH = re.compile(r"(/api/v1/heartbeats/)[^/?#\s\"']+")
_SECRET_NAME = (
    r"[^=&;?#\s\"']*(?:token|key|secret|signature|sig|passw|pwd|session|auth|code|credential)"
    r"[^=&;?#\s\"']*"
)
_QUERY_PARAM = re.compile(rf"(?i)([?&;]{_SECRET_NAME}=)[^&;#\s\"']*")
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@\"']*:)[^@/\s\"']+@")
_SLACK_WEBHOOK = re.compile(
    r"(?i)(hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/)[^\s\"'?#]+"
)
_TEAMS_WEBHOOK = re.compile(r"(?i)(\.webhook\.office\.com/webhookb2/)[^\s\"'?#]+")
_AUTHORIZATION = re.compile(r"(?i)(authorization\W{0,4}(?:bearer|basic|token)?\s*)[^\s\"',]+")
_BEARER = re.compile(r"\b(Bearer\s+)[A-Za-z0-9._~+/=-]{12,}")
_COOKIE = re.compile(r"(?i)\b([\w.-]*session[\w.-]*=)[^;\s\"',&]+")
_NAMED = re.compile(
    r"(?i)\b([\w.-]*(?:token|secret|passw(?:or)?d|api[_-]?key|routing[_-]?key|integration[_-]?key)"
    r"[\w.-]*\s*[=:]\s*)(?!\*\*\*)[^\s\"'&;,]+"
)
_JSON_FIELD = re.compile(rf"(?i)(\"{_SECRET_NAME}\"\s*:\s*\")[^\"]*")

_NAMES = ("token", "secret", "passw", "key")

#: Each rule: the lower-case fragments one of which the text must contain for it to
#: apply (a cheap test that spares most log arguments the expression), the expression,
#: the replacement.
_RULES: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    (("tcs",), _PREFIXED, rf"\1{MASK}"),
    (("/api/v1/integrations/",), _INTEGRATION_PATH, rf"\1{MASK}"),
    (("/api/v1/heartbeats/",), _HEARTBEAT_PATH, rf"\1{MASK}"),
    (("?", "&", ";"), _QUERY_PARAM, rf"\1{MASK}"),
    (("@",), _URL_PASSWORD, rf"\1{MASK}@"),
    (("hooks.slack",), _SLACK_WEBHOOK, rf"\1{MASK}"),
    (("webhook.office",), _TEAMS_WEBHOOK, rf"\1{MASK}"),
    (("authorization",), _AUTHORIZATION, rf"\1{MASK}"),
    (("bearer",), _BEARER, rf"\1{MASK}"),
    (("session",), _COOKIE, rf"\1{MASK}"),
    (('"',), _JSON_FIELD, rf"\1{MASK}"),
    (_NAMES, _NAMED, rf"\1{MASK}"),
)


#: Any fragment of any rule: text with none (most log arguments) is left at once.
_ANY = re.compile(
    "|".join(re.escape(fragment) for fragments, _, _ in _RULES for fragment in fragments),
    re.IGNORECASE,
)


def _mask(text: str) -> str:
    if not _ANY.search(text):
        return text
    lower = text.lower()
    for fragments, pattern, replacement in _RULES:
        if any(fragment in lower for fragment in fragments):
            text = pattern.sub(replacement, text)
            lower = text.lower()
    return text


def mask_secrets(text: str) -> str:
    """``text`` with every credential Tocsin knows the shape of replaced by ``***``.

    Text with percent-escapes is looked at decoded too; if that finds a credential the
    escapes hid, the decoded text is returned, masked.
    """
    masked = _mask(text)
    if "%" in masked:
        decoded = unquote(masked)
        again = _mask(decoded)
        if again != decoded:
            return again
    return masked


def _mask_arg(value: Any) -> Any:
    if isinstance(value, str):
        return mask_secrets(value)
    if value is None or isinstance(value, int | float | bool | bytes):
        return value
    text = str(value)
    masked = mask_secrets(text)
    return value if masked == text else masked


def _mask_record(record: logging.LogRecord) -> None:
    if isinstance(record.msg, str):
        record.msg = mask_secrets(record.msg)
    elif record.msg is not None and not isinstance(record.msg, int | float):
        record.msg = mask_secrets(str(record.msg))
    if isinstance(record.args, tuple):
        record.args = tuple(_mask_arg(a) for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: _mask_arg(v) for k, v in record.args.items()}
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = mask_secrets(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = mask_secrets(record.stack_info)


_install_lock = threading.Lock()
_installed: list[Callable[..., logging.LogRecord]] = []


def install_log_masking() -> None:
    """Mask every log record of this process from now on (idempotent)."""
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _mask_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed.append(factory)
