"""Slack's request signatures: ``X-Slack-Signature`` is ``v0=`` and the hex HMAC-SHA256,
keyed with the app's signing secret, of ``v0:{X-Slack-Request-Timestamp}:{raw body}``;
a timestamp more than 5 minutes from now (Tocsin's clock) is refused as a replay."""

from __future__ import annotations

from collections.abc import Mapping

from slack_sdk.signature import Clock as SlackClock
from slack_sdk.signature import SignatureVerifier

from tocsin.clock import Clock

__all__ = ["sign", "verify"]


class _Clock(SlackClock):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock.now().timestamp()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` Slack sends with ``body`` at ``timestamp``."""
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return signature


def verify(secret: str, *, body: bytes, headers: Mapping[str, str], clock: Clock) -> bool:
    """Whether ``body`` with these headers was signed with ``secret`` within 5 minutes."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get("x-slack-request-timestamp", "").strip()
    signature = lowered.get("x-slack-signature", "").strip()
    if not timestamp.isdigit() or len(timestamp) > 12 or not signature:
        return False
    verifier = SignatureVerifier(secret, clock=_Clock(clock))
    try:
        return verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
    except UnicodeDecodeError:  # the verifier decodes the body first: not Slack's
        return False
