"""The few Jira operations Tocsin needs, over the official ``jira`` client, with its
errors translated into the delivery errors of :mod:`tocsin.notify.channels.base`.

Used by the incident channel (:mod:`tocsin.notify.channels.jira`) and by the action-item
sync (:mod:`tocsin.postmortems.jira_sync`). Issues Tocsin creates carry a label
(``tocsin-inc-7``, ``tocsin-action-5``) by which a retry finds an issue whose creation
may have gone through, and comments end with a reference line by which a retry finds a
comment already added; both make repeating a Jira write safe.

The client is made once (it asks ``serverInfo`` whether it talks to Jira Cloud, whose
search endpoint differs) and used under a lock. Its own retries, which sleep, are off:
the caller retries. No error text contains the token or the request headers.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from jira import JIRA, JIRAError

from tocsin.notify.channels.base import (
    OutcomeUnknown,
    PermanentError,
    SendError,
    TemporaryError,
)
from tocsin.notify.channels.http import HttpOutcome, classify
from tocsin.policy.channels import JiraChannel

__all__ = ["IssueFacts", "JiraTracker", "comment_marker"]


@dataclass(frozen=True)
class IssueFacts:
    key: str
    url: str
    status: str = ""
    #: Jira's status category: "new", "indeterminate" or "done".
    category: str = ""


def comment_marker(delivery_key: str) -> str:
    """A short, stable reference to one delivery, ended to each comment Tocsin adds."""
    return "tocsin-ref " + hashlib.sha256(delivery_key.encode()).hexdigest()[:12]


class JiraTracker:
    """One Jira site, as configured by a ``type: jira`` channel."""

    def __init__(self, config: JiraChannel, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        self._environ = os.environ if environ is None else environ
        self._client: JIRA | None = None
        self._lock = threading.Lock()

    def browse_url(self, key: str) -> str:
        return f"{self.config.base_url.rstrip('/')}/browse/{key}"

    def _token(self) -> str:
        env = self.config.api_token_env
        value = self._environ.get(env, "").strip()
        if not value:
            raise PermanentError(f"environment variable {env} (the Jira API token) is not set")
        return value

    def _connect(self) -> JIRA:
        if self._client is not None:
            return self._client
        config = self.config
        verify: bool | str = (config.ca_file or True) if config.verify_tls else False
        token = self._token()
        auth: dict[str, Any] = (
            {"basic_auth": (config.email, token)} if config.email else {"token_auth": token}
        )
        self._client = JIRA(
            server=config.base_url.rstrip("/"),
            options={"verify": verify},
            max_retries=0,
            timeout=config.timeout.total_seconds(),
            **auth,
        )
        return self._client

    @contextmanager
    def session(self) -> Iterator[JIRA]:
        """The client, for one sequence of calls; Jira's errors become delivery errors."""
        with self._lock:
            try:
                yield self._connect()
            except SendError:
                raise
            except JIRAError as exc:
                raise _http_error(exc) from None
            except requests.RequestException as exc:
                raise _network_error(exc) from None

    # ---------------------------------------------------------------- issues

    def find_by_label(self, client: JIRA, label: str) -> IssueFacts | None:
        found = client.search_issues(
            f'labels = "{label}" ORDER BY created ASC', maxResults=1, fields="status"
        )
        for issue in found:
            return self._facts(issue.key, issue.raw.get("fields") or {})
        return None

    def create(self, client: JIRA, fields: dict[str, Any]) -> IssueFacts:
        issue = client.create_issue(fields=fields, prefetch=False)
        return IssueFacts(issue.key, self.browse_url(issue.key))

    def get(self, client: JIRA, key: str) -> IssueFacts:
        issue = client.issue(key, fields="status")
        return self._facts(issue.key, issue.raw.get("fields") or {})

    def comment_once(self, client: JIRA, key: str, body: str, marker: str, *, check: bool) -> bool:
        """Add ``body`` (ending with ``marker``) unless, when ``check``, a comment with the
        marker is already there. True if it added one."""
        if check and any(marker in (c.body or "") for c in client.comments(key)):
            return False
        client.add_comment(key, f"{body.rstrip()}\n\n_({marker})_")
        return True

    def transition(self, client: JIRA, key: str, name: str) -> bool:
        """Apply the workflow transition called ``name`` if the issue offers it now (it does
        not once it was applied: a repeat is a no-op). True if it was applied."""
        for transition in client.transitions(key):
            if str(transition.get("name", "")).casefold() == name.casefold():
                client.transition_issue(key, str(transition["id"]))
                return True
        return False

    def _facts(self, key: str, fields: Mapping[str, Any]) -> IssueFacts:
        status = fields.get("status") or {}
        category = (status.get("statusCategory") or {}).get("key", "")
        return IssueFacts(key, self.browse_url(key), str(status.get("name", "")), str(category))


def _http_error(exc: JIRAError) -> SendError:
    status = exc.status_code
    response = exc.response
    if status is None:
        return OutcomeUnknown("Jira gave no usable answer")
    answer = classify(status, response.headers if response is not None else None)
    if answer.outcome is HttpOutcome.rate_limited:
        return answer.error("Jira: HTTP 429 Too Many Requests")
    if answer.outcome is HttpOutcome.temporary:
        return answer.error(f"Jira: HTTP {status}")
    if status in (401, 403):
        return PermanentError(f"Jira refused the credentials or the permission (HTTP {status})")
    return PermanentError(f"Jira: HTTP {status}{_explain(response)}")


def _explain(response: requests.Response | None) -> str:
    """Jira's own words about a refused request (``errorMessages`` and field ``errors``)."""
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(m) for m in body.get("errorMessages") or []]
    errors = body.get("errors")
    if isinstance(errors, dict):
        parts += [f"{field}: {text}" for field, text in errors.items()]
    text = "; ".join(parts)
    return f": {text[:400]}" if text else ""


def _network_error(exc: requests.RequestException) -> SendError:
    what = type(exc).__name__
    if isinstance(exc, requests.exceptions.SSLError):
        return PermanentError("TLS certificate of the Jira server not trusted")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TemporaryError(f"cannot connect to Jira ({what})")
    if isinstance(exc, requests.exceptions.ConnectionError) and _never_connected(exc):
        return TemporaryError(f"cannot connect to Jira ({what})")
    return OutcomeUnknown(f"connection to Jira lost ({what})")


def _never_connected(exc: BaseException) -> bool:
    """Whether the error chain shows that no connection was made (nothing was sent)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError) or "NewConnectionError" in repr(seen):
            return True
        args = getattr(seen, "args", ())
        nested = next((a for a in args if isinstance(a, BaseException)), None)
        seen = nested or seen.__cause__ or seen.__context__
    return False
