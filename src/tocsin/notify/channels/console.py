"""The console channel: delivered by Tocsin itself, with no outside service.

Sending writes one line to the server's standard error (where ``tocsin serve`` runs in
a terminal, or its service manager's journal); the message itself stays in the outbox,
where ``tocsin notifications console`` and the incident page show it in full. It is the
channel pages fall back to when no configured channel reaches a person at once, so a
laptop with nothing set up still gets every page somewhere real.

Nothing leaves the process, so the outcome is never unknown: a repeat after a crash
prints the line again and sends nothing anywhere (``idempotent``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from typing import TextIO

from tocsin.notify.channels.base import OutboundMessage, Recipient, SendReceipt
from tocsin.policy.channels import ConsoleChannel
from tocsin.policy.reach import message_noun

__all__ = ["ConsoleAdapter", "console_line"]

_LOCK = threading.Lock()


def console_line(message: OutboundMessage) -> str:
    """``page for charlie (Charlie Chen) by console: [SEV1] INC-1: API down — tier 1 ...``"""
    if message.person is not None:
        who = message.person.name
        if message.person.display_name and message.person.display_name != who:
            who = f"{who} ({message.person.display_name})"
        to = f" for {who}"
    else:
        to = f" to {message.target}" if message.target else ""
    why = f" — {message.reason}" if message.reason else ""
    return f"{message_noun(message.kind)}{to} by {message.channel}: {message.subject}{why}"


class ConsoleAdapter:
    """Writes each message as one line to ``stream`` (standard error by default)."""

    idempotent = True

    def __init__(
        self,
        name: str,
        config: ConsoleChannel,
        environ: Mapping[str, str] | None = None,
        *,
        stream: TextIO | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._stream = stream

    def address(self, person: Recipient) -> str | None:
        return person.name

    def send(self, message: OutboundMessage) -> SendReceipt:
        stream = self._stream or sys.stderr
        line = " ".join(console_line(message).split())  # one line, whatever the subject
        with _LOCK:
            stream.write(line + "\n")
            stream.flush()
        return SendReceipt("written to the server console")
