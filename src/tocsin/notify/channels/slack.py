"""Slack (``type: slack``) through the official ``slack_sdk`` Web API client.

A message goes to its target: a channel (``#incidents``, from a broadcast), or a person's
DM (their ``slack`` member id, for pages; these carry Acknowledge / Resolve buttons).

Two operations serve an incident's own channel; the queued message's ``data["slack"]``
says which (see :mod:`tocsin.chatops.slack_channels`, which queues them):

- ``open_channel``: ``conversations.create`` (``name_taken`` means a previous attempt, or
  someone, made it: it is looked up and joined), ``chat.postMessage`` of the Block Kit
  summary, ``pins.add``, ``conversations.invite`` of the responders, and optionally an
  announcement in the ``broadcast_channel``. The channel id and the summary's ``ts``
  are stored (``external_refs``, system "slack", kinds "channel" and "summary", through
  the worker's :class:`ChannelServices`) the moment they exist.
- ``post_to_channel``: a status update or the resolution, then ``chat.update`` of the
  pinned summary. It waits (a temporary error) while the channel does not exist yet.

Exactly once: every message carries its delivery key in Slack message metadata. A
repeat (a retry, or a resend after an unknown outcome) first looks for that key in the
conversation's recent history and does not post again if it is there; ``name_taken``
and ``already_pinned`` are answers, not errors. So the channel honours the delivery's
idempotency key (``idempotent = True``).

Errors (the ladder of :mod:`tocsin.notify.channels.http`): HTTP 429 / ``ratelimited`` →
:class:`RateLimited` with Slack's Retry-After (30 s if it gives none); 408, 425, 5xx and
Slack's transient errors → temporary; a connection refused → temporary; a
connection lost or a timeout after the request went out → outcome unknown; any other
Slack error (``invalid_auth``, ``channel_not_found``...) → permanent. The token never
appears in an error.
"""

from __future__ import annotations

import http.client
import logging
import math
import os
import threading
import urllib.error
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tocsin.notify.channels.base import (
    OutboundMessage,
    OutcomeUnknown,
    PermanentError,
    Recipient,
    SendError,
    SendReceipt,
    TemporaryError,
)
from tocsin.notify.channels.http import HttpOutcome, classify
from tocsin.notify.channels.services import ChannelServices, StoredRef
from tocsin.notify.channels.slack_blocks import (
    incident_url,
    message_blocks,
    summary_blocks,
    summary_text,
)
from tocsin.notify.channels.tls import tls_context
from tocsin.policy.channels import SlackChannel

__all__ = [
    "CHANNEL_REF",
    "MESSAGE_EVENT",
    "OPEN_CHANNEL",
    "POST_TO_CHANNEL",
    "SUMMARY_REF",
    "SYSTEM",
    "SlackAdapter",
]

log = logging.getLogger("tocsin.delivery")

#: ``external_refs`` names: system, and the kinds kept per incident subject.
SYSTEM = "slack"
CHANNEL_REF = "channel"
SUMMARY_REF = "summary"
#: ``data["slack"]["op"]`` of the incident-channel operations.
OPEN_CHANNEL = "open_channel"
POST_TO_CHANNEL = "post_to_channel"
#: Slack message-metadata event type that carries the delivery key.
MESSAGE_EVENT = "tocsin_message"

_TRANSIENT = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "timeout"}
)
_DEFAULT_RETRY_AFTER = 30.0
#: How far before a message was queued its earlier copy is looked for.
_HISTORY_SLACK = 300.0
_REMEMBERED_KEYS = 10_000
#: Pages of 200 messages read to find an earlier copy of a message.
_HISTORY_PAGES = 10
_LIST_PAGES = 50


class _Api:
    """One WebClient, with Slack's answers mapped onto the delivery errors."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def call(self, method: str, *, allow: Collection[str] = (), **params: Any) -> dict[str, Any]:
        """Call ``method`` ("chat.postMessage"); a Slack error in ``allow`` is returned as
        the answer (``{"ok": False, "error": ...}``) instead of being raised."""
        function: Callable[..., Any] = getattr(self.client, method.replace(".", "_"))
        try:
            response = function(**params)
        except SlackApiError as exc:
            status = int(exc.response.status_code)
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = str(data.get("error") or f"HTTP {status}")
            if error in allow:
                return dict(data)
            raise _mapped(method, status, error, exc.response.headers) from None
        except urllib.error.URLError as exc:  # the request did not get through
            reason = type(exc.reason).__name__ if not isinstance(exc.reason, str) else exc.reason
            raise TemporaryError(f"Slack {method}: cannot connect ({reason})") from None
        except (TimeoutError, http.client.HTTPException, OSError) as exc:
            raise OutcomeUnknown(
                f"Slack {method}: connection lost ({type(exc).__name__})"
            ) from None
        data = response.data
        return dict(data) if isinstance(data, dict) else {}


def _mapped(method: str, status: int, error: str, headers: Mapping[str, Any]) -> SendError:
    # Slack answers most errors with HTTP 200 and ``{"ok": false, "error": ...}``: the
    # error, where it says more than the status, decides.
    if error == "ratelimited":
        status = 429
    elif error in _TRANSIENT and status != 429:
        status = 503
    elif 200 <= status < 300:
        status = 400
    answer = classify(status, headers, rate_limit_wait=_DEFAULT_RETRY_AFTER)
    text = f"Slack {method}: {error}"
    if answer.outcome is HttpOutcome.rate_limited:
        return answer.error(f"{text} (Retry-After {answer.retry_after:g}s)")
    return answer.error(text)


class SlackAdapter:
    """One configured Slack workspace (bot token)."""

    idempotent = True

    def __init__(
        self,
        name: str,
        config: SlackChannel,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._environ = os.environ if environ is None else environ
        self._lock = threading.Lock()
        self._channel_ids: dict[str, str] = {}
        self._members: set[str] = set()
        self._tried: OrderedDict[str, None] = OrderedDict()
        self.services: ChannelServices | None = None

    def use_services(self, services: ChannelServices) -> None:
        self.services = services

    def address(self, person: Recipient) -> str | None:
        return person.slack

    # ------------------------------------------------------------ plumbing

    def _client(self) -> WebClient:
        env = self.config.token_env
        token = self._environ.get(env)
        if not token:
            raise PermanentError(f"environment variable {env} (the Slack bot token) is not set")
        return WebClient(
            token=token,
            base_url=self.config.base_url,
            timeout=max(1, math.ceil(self.config.timeout.total_seconds())),
            ssl=None if self.config.verify_tls else tls_context(verify=False),
            retry_handlers=[],  # retries are the delivery worker's, which knows what is safe
            logger=log,
        )

    def _url(self, incident_id: str | None) -> str | None:
        if incident_id is None:
            return None
        return incident_url(self._environ.get("TOCSIN_PUBLIC_URL"), incident_id)

    def _seen_before(self, key: str) -> bool:
        """Whether this process already tried ``key`` (a retry after a rate limit keeps
        its attempt number), remembering it from now on."""
        with self._lock:
            seen = key in self._tried
            self._tried[key] = None
            self._tried.move_to_end(key)
            while len(self._tried) > _REMEMBERED_KEYS:
                self._tried.popitem(last=False)
        return seen

    # ------------------------------------------------------------ send

    def send(self, message: OutboundMessage) -> SendReceipt:
        api = _Api(self._client())
        operation = message.data.get("slack")
        if isinstance(operation, Mapping):
            kind = operation.get("op")
            if kind == OPEN_CHANNEL:
                return self._open_channel(api, message, operation)
            if kind == POST_TO_CHANNEL:
                return self._post_to_channel(api, message, operation)
            raise PermanentError(f"unknown Slack operation {kind!r}")
        return self._post_message(api, message)

    def _post_message(self, api: _Api, message: OutboundMessage) -> SendReceipt:
        if not message.target:
            raise PermanentError("no Slack channel or member id to send to")
        incident = message.incident
        task = message.data.get("task")
        blocks = message_blocks(
            subject=message.subject,
            text=message.text,
            incident_id=incident.id if incident else None,
            status=incident.status if incident else None,
            url=self._url(incident.id if incident else None),
            task=task if isinstance(task, int) else None,
        )
        text = f"{message.subject}\n{message.text}" if message.subject else message.text
        channel, ts = self._post_once(api, message, message.target, text=text, blocks=blocks)
        return SendReceipt(detail=f"posted to {message.target} ({channel} {ts})")

    def _open_channel(
        self, api: _Api, message: OutboundMessage, operation: Mapping[str, Any]
    ) -> SendReceipt:
        name = str(operation["channel_name"])
        subject = str(operation["subject"])
        summary: Mapping[str, Any] = operation["summary"]
        repeat = self._seen_before(message.key) or message.attempt > 1
        stored = self._ref(CHANNEL_REF, subject)
        if stored is not None:
            channel_id, created = stored.external_id, False
        else:
            channel_id, created = self._ensure_channel(api, name)
            self._remember(CHANNEL_REF, subject, channel_id, {"name": name})
        pinned = self._ref(SUMMARY_REF, subject)
        ts = pinned.external_id if pinned is not None else None
        if ts is None and (repeat or not created):
            ts = self._find(api, channel_id, message.key, message.created_at)
        if ts is None:
            answer = api.call(
                "chat.postMessage",
                channel=channel_id,
                text=summary_text(summary),
                blocks=summary_blocks(summary, url=self._url(str(summary["id"]))),
                metadata=_metadata(message.key, summary),
                unfurl_links=False,
            )
            ts = str(answer["ts"])
        if pinned is None:
            self._remember(SUMMARY_REF, subject, ts, {"channel": channel_id})
        api.call("pins.add", channel=channel_id, timestamp=ts, allow={"already_pinned"})
        details = [f"#{name} ({channel_id}): summary pinned"]
        invite = [str(u) for u in operation.get("invite") or ()]
        if invite:
            answer = api.call(
                "conversations.invite",
                channel=channel_id,
                users=",".join(invite),
                force=True,
                # Someone who cannot be invited (a guest, a deactivated account) must not
                # stop the channel's set-up: the others are invited, the error is kept.
                allow={
                    "already_in_channel",
                    "cant_invite_self",
                    "user_not_found",
                    "cant_invite",
                    "user_is_bot",
                    "user_is_restricted",
                    "user_is_ultra_restricted",
                    "ura_max_channels",
                    "user_not_in_team",
                },
            )
            error = answer.get("error")
            details.append(f"invited {len(invite)}" + (f" ({error})" if error else ""))
        announce_to = operation.get("announce_to")
        if announce_to:
            text = f"{summary_text(summary)}: join <#{channel_id}>"
            self._post_once(
                api,
                message,
                str(announce_to),
                text=text,
                blocks=None,
                key=f"{message.key}/announce",
            )
            details.append(f"announced in {announce_to}")
        return SendReceipt(detail="; ".join(details))

    def _post_to_channel(
        self, api: _Api, message: OutboundMessage, operation: Mapping[str, Any]
    ) -> SendReceipt:
        name = str(operation["channel_name"])
        subject = str(operation["subject"])
        stored = self._ref(CHANNEL_REF, subject)
        if stored is not None:
            channel_id: str | None = stored.external_id
        elif self.services is None:
            channel_id = self._lookup_channel(api, name)
        else:
            channel_id = None
        if channel_id is None:
            raise TemporaryError(f"#{name} does not exist yet (waiting for its set-up)")
        text = str(operation.get("text") or message.text)
        blocks = operation.get("blocks")
        self._post_once(
            api, message, channel_id, text=text, blocks=blocks if isinstance(blocks, list) else None
        )
        detail = f"posted in #{name}"
        summary = operation.get("summary")
        pinned = self._ref(SUMMARY_REF, subject)
        if isinstance(summary, Mapping) and pinned is not None:
            try:
                api.call(
                    "chat.update",
                    channel=channel_id,
                    ts=pinned.external_id,
                    text=summary_text(summary),
                    blocks=summary_blocks(summary, url=self._url(str(summary["id"]))),
                )
                detail += "; summary updated"
            except SendError as exc:  # the post is what matters; the next one refreshes it
                detail += f"; summary not updated ({exc})"
        return SendReceipt(detail=detail)

    def _ref(self, kind: str, subject: str) -> StoredRef | None:
        if self.services is None:
            return None
        return self.services.find(system=SYSTEM, kind=kind, subject=subject)

    def _remember(self, kind: str, subject: str, external_id: str, data: dict[str, Any]) -> None:
        """Store a reference at once, in its own transaction: a retry after a failure
        further on finds the channel (or the summary) instead of making another."""
        if self.services is not None:
            self.services.put(
                system=SYSTEM, kind=kind, subject=subject, external_id=external_id, data=data
            )

    # ------------------------------------------------------------ helpers

    def _post_once(
        self,
        api: _Api,
        message: OutboundMessage,
        conversation: str,
        *,
        text: str,
        blocks: list[dict[str, Any]] | None,
        key: str | None = None,
    ) -> tuple[str, str]:
        """Post unless a copy with the same key is already there; (channel id, ts)."""
        key = key or message.key
        if self._seen_before(key) or message.attempt > 1:
            channel_id = self._conversation_id(api, conversation)
            if channel_id is not None:
                ts = self._find(api, channel_id, key, message.created_at)
                if ts is not None:
                    return channel_id, ts
        params: dict[str, Any] = {
            "channel": conversation,
            "text": text[:4000],
            "metadata": _metadata(key, None),
            "unfurl_links": False,
        }
        if blocks is not None:
            params["blocks"] = blocks
        answer = api.call("chat.postMessage", **params)
        return str(answer.get("channel") or conversation), str(answer["ts"])

    def _find(self, api: _Api, channel_id: str, key: str, since: datetime) -> str | None:
        """The ts of the message carrying ``key`` in the channel's history since the
        message was first tried (a busy war room may have hundreds since: every page)."""
        cursor: str | None = None
        for _ in range(_HISTORY_PAGES):
            answer = api.call(
                "conversations.history",
                channel=channel_id,
                oldest=f"{since.timestamp() - _HISTORY_SLACK:.6f}",
                include_all_metadata=True,
                limit=200,
                cursor=cursor,
                allow={"channel_not_found", "not_in_channel"},
            )
            for item in answer.get("messages") or ():
                metadata = item.get("metadata") or {}
                if (metadata.get("event_payload") or {}).get("key") == key:
                    return str(item["ts"])
            cursor = (answer.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        raise TemporaryError(
            f"could not read all of the channel's history to rule out a copy of {key}"
        )

    def _conversation_id(self, api: _Api, conversation: str) -> str | None:
        """A channel id for "#name", a member id (their DM) or an id."""
        if conversation.startswith("#"):
            return self._lookup_channel(api, conversation[1:])
        if conversation[:1] in {"U", "W"}:
            answer = api.call("conversations.open", users=conversation)
            return str(answer["channel"]["id"])
        return conversation

    def _ensure_channel(self, api: _Api, name: str) -> tuple[str, bool]:
        """The channel called ``name``, created if need be; (id, created now)."""
        with self._lock:
            cached = self._channel_ids.get(name)
        if cached is not None:
            return cached, False
        answer = api.call("conversations.create", name=name, is_private=False, allow={"name_taken"})
        if answer.get("ok"):
            channel_id = str(answer["channel"]["id"])
            with self._lock:
                self._channel_ids[name] = channel_id
                self._members.add(channel_id)
            return channel_id, True
        found = self._lookup_channel(api, name, include_archived=True)
        if found is None:
            raise PermanentError(f"#{name} exists but the bot cannot see it (a private channel?)")
        if found not in self._members:
            api.call("conversations.join", channel=found, allow={"already_in_channel"})
            with self._lock:
                self._members.add(found)
        return found, False

    def _lookup_channel(
        self, api: _Api, name: str, *, include_archived: bool = False
    ) -> str | None:
        with self._lock:
            cached = self._channel_ids.get(name)
        if cached is not None:
            return cached
        cursor: str | None = None
        for _ in range(_LIST_PAGES):
            answer = api.call(
                "conversations.list",
                types="public_channel",
                exclude_archived=not include_archived,
                limit=1000,
                cursor=cursor,
            )
            for channel in answer.get("channels") or ():
                if channel.get("name") == name:
                    if channel.get("is_archived"):
                        raise PermanentError(f"#{name} exists but is archived")
                    channel_id = str(channel["id"])
                    with self._lock:
                        self._channel_ids[name] = channel_id
                        if channel.get("is_member"):
                            self._members.add(channel_id)
                    return channel_id
            cursor = (answer.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return None


def _metadata(key: str, summary: Mapping[str, Any] | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"key": key}
    if summary is not None:
        payload["incident"] = str(summary["id"])
    return {"event_type": MESSAGE_EVENT, "event_payload": payload}
