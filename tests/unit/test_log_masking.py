"""Secrets in log records are masked, whatever the shape of the URL or message they are
in, before any handler (uvicorn's access formatter included) sees them. The end-to-end
proof over a real server's logs is ``tests/e2e/test_secrets_in_logs.py``."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from uvicorn.logging import AccessFormatter

from tocsin.web.redaction import install_log_masking, mask_secrets

KEY = "tcsi_Q2hlY2tvdXQtcHJvbWV0aGV1cw"
TOKEN = "tcs_c2VjcmV0LWFkbWluLXRva2Vu-_x"
CALENDAR = "tcsc_Y2FsZW5kYXItc3Vic2NyaXB0aW9u"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        # Every inbound URL shape, the key with or without its prefix.
        (f"/api/v1/integrations/{KEY}/alertmanager", "/api/v1/integrations/***/alertmanager"),
        (f"/api/v1/integrations/{KEY}", "/api/v1/integrations/***"),  # no kind: 405
        (f"/api/v1/integrations/{KEY}/", "/api/v1/integrations/***/"),
        (f"/api/v1/integrations/{KEY}/nope?x=1", "/api/v1/integrations/***/nope?x=1"),
        ("/api/v1/integrations/Q2hlY2tvdXQ/events", "/api/v1/integrations/***/events"),
        (f"/api/v1/heartbeats/{KEY}", "/api/v1/heartbeats/***"),
        (f"/api/v1/heartbeats/{KEY}/extra", "/api/v1/heartbeats/***/extra"),
        (f"/v2/enqueue?routing_key={KEY}", "/v2/enqueue?routing_key=***"),
        ("/v2/enqueue?integration_key=abc&x=1", "/v2/enqueue?integration_key=***&x=1"),
        (f"/v2/change/enqueue?x=1&routing_key={KEY}", "/v2/change/enqueue?x=1&routing_key=***"),
        ("/v2/enqueue?routing%5Fkey=plain", "/v2/enqueue?routing%5Fkey=***"),
        ("/v2/enqueue?x=%74csi_Q2hlY2tvdXQtcH", "/v2/enqueue?x=tcsi_***"),
        # Calendar and status-page links, tokens of every kind anywhere.
        (f"/api/v1/schedules/p.ics?token={CALENDAR}", "/api/v1/schedules/p.ics?token=***"),
        (f"/api/v1/oncall?token={TOKEN}", "/api/v1/oncall?token=***"),
        ("/status/subscribe/confirm?token=abcdef", "/status/subscribe/confirm?token=***"),
        ("/status/unsubscribe?token=abcdef", "/status/unsubscribe?token=***"),
        (f"/anything/{TOKEN}/else", "/anything/tcs_***/else"),
        # Outside URLs and credentials in messages.
        (
            "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
            "https://hooks.slack.com/services/***",
        ),
        (
            "https://acme.webhook.office.com/webhookb2/1c2d@3e4f/IncomingWebhook/ab12/cd34",
            "https://acme.webhook.office.com/webhookb2/***",
        ),
        (
            "postgresql+psycopg://tocsin:hunter22@db:5432/t",
            "postgresql+psycopg://tocsin:***@db:5432/t",
        ),
        (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer ***"),
        ("authorization: Basic dXNlcjpwYXNzd29yZA==", "authorization: Basic ***"),
        ("Cookie: tocsin_session=eyJ1IjoxfQ.Zx.sig; theme=dark", "tocsin_session=***; theme=dark"),
        ('{"routing_key": "plain-key", "event_action": "trigger"}', '"routing_key": "***"'),
        ("X-Slack-Signature: v0=abc, secret=s3cr3t", "secret=***"),
    ],
)
def test_secret_shapes_are_masked(text: str, shown: str) -> None:
    masked = mask_secrets(text)
    assert shown in masked
    for secret in (KEY, TOKEN, CALENDAR, "hunter22", "Q2hlY2tvdXQ", "plain", "s3cr3t", "ab12"):
        assert secret not in masked


@pytest.mark.parametrize(
    "text",
    [
        "/api/v1/integrations",
        "/api/v1/integrations/12",  # the management API by id
        "/api/v1/incidents/INC-4/acknowledge",
        "/api/v1/oncall?schedule=platform-primary&at=2026-03-02T09:00:00Z",
        "/status/incidents/SP-3",
        "delivery 9 (email to alice@example.com) sent",
        "basic authentication is not offered; 100% of pages sent",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_secrets(text) == text


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Records of ``uvicorn.access`` and ``tocsin.test`` through real formatters."""
    install_log_masking()
    stream = io.StringIO()
    access = logging.StreamHandler(stream)
    access.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    plain = logging.StreamHandler(stream)
    plain.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    loggers = [
        (logging.getLogger("uvicorn.access"), access),
        (logging.getLogger("tocsin.test"), plain),
    ]
    saved = [(logger, logger.level, logger.propagate) for logger, _ in loggers]
    for logger, handler in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    yield stream
    for (logger, handler), (_, level, propagate) in zip(loggers, saved, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def test_access_log_lines_are_masked_by_the_real_formatter(captured: io.StringIO) -> None:
    access = logging.getLogger("uvicorn.access")
    access.info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "POST", f"/api/v1/integrations/{KEY}", "1.1", 405
    )
    access.info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5",
        "GET",
        f"/api/v1/schedules/p.ics?token={CALENDAR}",
        "1.1",
        200,
    )
    lines = captured.getvalue().splitlines()
    assert lines == [
        '127.0.0.1:5 - "POST /api/v1/integrations/*** HTTP/1.1" 405 Method Not Allowed',
        '127.0.0.1:5 - "GET /api/v1/schedules/p.ics?token=*** HTTP/1.1" 200 OK',
    ]


def test_app_messages_arguments_and_tracebacks_are_masked(captured: io.StringIO) -> None:
    log = logging.getLogger("tocsin.test")
    log.warning("could not reach %s", "https://hooks.slack.com/services/T1/B2/SeCrEt")
    log.error("refused %(key)s", {"key": KEY})
    try:
        raise RuntimeError(f"token {TOKEN} refused")
    except RuntimeError:
        log.exception("delivery failed")

    class Url:  # an argument that is not a string, such as httpx.URL
        def __str__(self) -> str:
            return f"http://127.0.0.1/v2/enqueue?routing_key={KEY}"

    log.info("POST %s", Url())
    output = captured.getvalue()
    for secret in ("SeCrEt", KEY, TOKEN):
        assert secret not in output
    assert "RuntimeError: token tcs_*** refused" in output
    assert "routing_key=***" in output and "services/***" in output
