"""GitHub ``deployment_status`` webhooks: a deployment reached a state.

GitHub signs each delivery with the webhook's secret: ``X-Hub-Signature-256`` is
``sha256=`` and the hex HMAC-SHA256 of the raw body (:func:`signature`,
:func:`verify`, compared in constant time). The body (``X-GitHub-Event:
deployment_status``) holds ``deployment_status`` (``state``, ``environment``,
``description``, ``target_url``/``log_url``, ``environment_url``, ``created_at``),
``deployment`` (``sha``, ``ref``, ``environment``, ``description``), ``repository``
(``full_name``, ``html_url``) and ``sender`` (``login``).

A ``success`` is a change: the deploy happened. Other states (``pending``,
``queued``, ``in_progress``, ``failure``, ``error``, ``inactive``) are not: nothing
changed yet, or nothing changed at all (:func:`parse_deployment_status` returns None).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from tocsin.alerts.sanitize import clean_text
from tocsin.ingest import _fields as f
from tocsin.ingest.pagerduty_change import ChangeEvent

__all__ = ["DEPLOYED", "parse_deployment_status", "signature", "verify"]

#: The deployment state that records a change.
DEPLOYED = "success"
_PREFIX = "sha256="


def signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` GitHub sends with ``body``."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is ``body``'s signature with ``secret`` (constant time)."""
    if not header or not header.startswith(_PREFIX):
        return False
    return hmac.compare_digest(signature(secret, body).encode(), header.strip().encode())


def _link(href: str | None, text: str) -> dict[str, str] | None:
    if not href or not href.startswith(("https://", "http://")):
        return None
    return {"href": clean_text(href), "text": text}


def parse_deployment_status(body: Any) -> tuple[str, ChangeEvent | None]:
    """``(state, change)``: the change a successful deployment made, None for other
    states. Raises :class:`~tocsin.ingest.IngestError` naming the field."""
    data = f.obj(body, f.BODY)
    status = f.obj(data.get("deployment_status"), "deployment_status")
    deployment = f.obj(data.get("deployment"), "deployment")
    state = f.req_str(status, "state", "deployment_status", max_len=50)
    if state != DEPLOYED:
        return state, None
    repo = f.obj(data.get("repository"), "repository")
    name = f.req_str(repo, "full_name", "repository", max_len=200)
    repo_url = f.opt_str(repo, "html_url", "repository")
    sha = f.req_str(deployment, "sha", "deployment", max_len=100)
    ref = f.opt_str(deployment, "ref", "deployment") or sha[:7]
    environment = (
        f.opt_str(status, "environment", "deployment_status")
        or f.opt_str(deployment, "environment", "deployment")
        or "an environment"
    )
    description = f.opt_str(status, "description", "deployment_status") or f.opt_str(
        deployment, "description", "deployment"
    )
    sender = data.get("sender")
    login = f.opt_str(sender, "login", "sender") if isinstance(sender, dict) else None
    summary = f"Deployed {name}@{ref} ({sha[:7]}) to {environment}"
    if description:
        summary += f": {description}"
    links = [
        _link(
            f.opt_str(status, "log_url", "deployment_status")
            or f.opt_str(status, "target_url", "deployment_status"),
            "Deployment log",
        ),
        _link(f"{repo_url}/commit/{sha}" if repo_url else None, f"Commit {sha[:7]}"),
        _link(f.opt_str(status, "environment_url", "deployment_status"), environment),
    ]
    change = ChangeEvent(
        summary=clean_text(summary)[:1024],
        source=clean_text(f"github:{name}"),
        timestamp=f.timestamp(status, "created_at", "deployment_status"),
        links=tuple(link for link in links if link is not None),
        custom_details={
            "repository": clean_text(name),
            "ref": clean_text(ref),
            "sha": clean_text(sha),
            "environment": clean_text(environment),
            "deployed_by": clean_text(login) if login else None,
            "deployment_id": deployment.get("id")
            if isinstance(deployment.get("id"), int)
            else None,
        },
    )
    return state, change
