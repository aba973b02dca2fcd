"""Email over SMTP (``type: email``): STARTTLS, implicit TLS or plain; optional AUTH;
a text body with an HTML alternative.

Email has no idempotency key a mail server honours, so a send that may have gone
through is never repeated: once the mail transaction (MAIL FROM onwards) has begun, a
dropped connection or a timeout is :class:`OutcomeUnknown` and the delivery fails
("outcome unknown") instead of risking a second copy. Every error before that point
(cannot connect, TLS or EHLO failure, 4xx replies) is temporary and retried; 5xx
replies and refused authentication are permanent. The ``Message-ID`` is derived from the
delivery key, so a mail system that deduplicates by it drops accidental copies too.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import os
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr

from tocsin.notify.channels.base import (
    OutboundMessage,
    OutcomeUnknown,
    PermanentError,
    Recipient,
    SendReceipt,
    TemporaryError,
)
from tocsin.notify.channels.tls import tls_context
from tocsin.policy.channels import EmailChannel

__all__ = ["EmailAdapter", "html_from_text"]

_DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


def html_from_text(text: str) -> str:
    """A minimal HTML rendering of a plain-text body, for the HTML alternative."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    body = "\n".join(
        "<p>" + "<br>\n".join(html_lib.escape(line) for line in p.splitlines()) + "</p>"
        for p in paragraphs
    )
    return f'<!DOCTYPE html>\n<html><body style="font-family: sans-serif">\n{body}\n</body></html>'


class EmailAdapter:
    """One configured SMTP channel."""

    idempotent = False

    def __init__(
        self, name: str, config: EmailChannel, environ: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.config = config
        self._environ = os.environ if environ is None else environ

    def address(self, person: Recipient) -> str | None:
        return person.email

    # -------------------------------------------------------------- composing

    def compose(self, message: OutboundMessage) -> EmailMessage:
        if not message.target:
            raise PermanentError("no email address to send to")
        msg = EmailMessage()
        msg["From"] = self.config.from_
        display = message.person.display_name if message.person else ""
        msg["To"] = formataddr((display, message.target)) if display else message.target
        msg["Subject"] = message.subject
        msg["Date"] = formatdate(usegmt=True)
        domain = parseaddr(self.config.from_)[1].rpartition("@")[2] or "tocsin.invalid"
        digest = hashlib.sha256(message.key.encode()).hexdigest()[:32]
        msg["Message-ID"] = f"<{digest}@{domain}>"
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        msg["X-Tocsin-Kind"] = message.kind
        if message.incident is not None:
            msg["X-Tocsin-Incident"] = message.incident.id
        if self.config.reply_to:
            msg["Reply-To"] = self.config.reply_to
        msg.set_content(message.text if message.text.endswith("\n") else message.text + "\n")
        msg.add_alternative(message.html or html_from_text(message.text), subtype="html")
        return msg

    # -------------------------------------------------------------- sending

    def _tls_context(self) -> ssl.SSLContext:
        return tls_context(self.config.verify_tls, self.config.ca_file)

    def _password(self) -> str | None:
        env = self.config.password_env
        if env is None:
            return None
        value = self._environ.get(env)
        if value is None:
            raise PermanentError(f"environment variable {env} (the SMTP password) is not set")
        return value

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        port = config.port or _DEFAULT_PORTS[config.security]
        timeout = config.timeout.total_seconds()
        if config.security == "ssl":
            return smtplib.SMTP_SSL(config.host, port, timeout=timeout, context=self._tls_context())
        return smtplib.SMTP(config.host, port, timeout=timeout)

    def send(self, message: OutboundMessage) -> SendReceipt:
        msg = self.compose(message)
        password = self._password()
        if self.config.username and password is None:
            raise PermanentError("username is set but password_env is not")
        handed_over = False
        try:
            smtp = self._connect()
            try:
                smtp.ehlo()
                if self.config.security == "starttls":
                    smtp.starttls(context=self._tls_context())
                    smtp.ehlo()
                if self.config.username and password is not None:
                    smtp.login(self.config.username, password)
                handed_over = True
                smtp.send_message(msg, to_addrs=[message.target or ""])
            finally:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentError(f"SMTP authentication refused ({exc.smtp_code})") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = ", ".join(f"{code} {_text(m)}" for code, m in exc.recipients.values())
            if codes and all(400 <= c < 500 for c in codes):
                raise TemporaryError(f"recipient deferred: {detail}") from None
            raise PermanentError(f"recipient refused: {detail}") from None
        except smtplib.SMTPResponseException as exc:
            # The server answered: it did not take the message.
            detail = f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}"
            if 400 <= exc.smtp_code < 500:
                raise TemporaryError(detail) from None
            raise PermanentError(detail) from None
        except ssl.SSLCertVerificationError as exc:
            raise PermanentError(f"TLS certificate not trusted: {exc.verify_message}") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentError(f"the server does not support it: {exc}") from None
        except (smtplib.SMTPException, OSError) as exc:
            what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if handed_over:
                raise OutcomeUnknown(
                    f"connection lost while sending ({what}); not resent: email has no "
                    "idempotency key"
                ) from None
            raise TemporaryError(f"cannot reach the SMTP server ({what})") from None
        return SendReceipt(detail="accepted by the SMTP server")


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
