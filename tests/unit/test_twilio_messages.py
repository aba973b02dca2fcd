"""What a Twilio page says, how replies are read, and the channel's settings."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree

import pytest
from pydantic import ValidationError

from tocsin.chatops.twilio_commands import SmsCommand, parse_sms, person_by_phone
from tocsin.notify.channels import IncidentSummary, OutboundMessage, PermanentError
from tocsin.notify.channels.twilio import (
    BaseUrlHttpClient,
    TwilioAdapter,
    sms_body,
    sms_units,
    voice_twiml,
)
from tocsin.policy import parse_policy
from tocsin.policy.channels import TwilioChannel

SID = "AC" + "0" * 32


def message(
    subject: str = "[SEV1] INC-4711: API down", status: str = "triggered", title: str = "API down"
) -> OutboundMessage:
    return OutboundMessage(
        key="k",
        channel="sms",
        kind="page",
        target="+15555550101",
        subject=subject,
        text="body",
        html=None,
        person=None,
        incident=IncidentSummary("INC-4711", title, "SEV1", status),
        reason="tier 1",
        attempt=1,
        created_at=datetime(2026, 3, 2, tzinfo=UTC),
    )


def test_an_sms_names_the_incident_and_how_to_acknowledge_it() -> None:
    assert sms_body(message()) == "[SEV1] INC-4711: API down\nReply 'ack 4711' to acknowledge"


def test_no_ack_hint_once_someone_took_the_incident() -> None:
    assert sms_body(message(status="acknowledged")) == "[SEV1] INC-4711: API down"


def test_the_incident_id_is_added_when_the_subject_lacks_it() -> None:
    assert sms_body(message(subject="Status update due")).startswith("INC-4711: Status update due")


def test_a_long_page_stays_within_two_segments() -> None:
    body = sms_body(message(subject="[SEV1] INC-4711: " + "disk full " * 60))
    assert sms_units(body) == (306, 306)  # "[" and "]" take two septets each
    assert body.endswith("...\nReply 'ack 4711' to acknowledge")
    unicode = sms_body(message(subject="[SEV1] INC-4711: 💥 " + "disk full " * 60))
    assert sms_units(unicode) == (134, 134)  # UCS-2: 67 UTF-16 units a segment
    assert unicode.endswith("...\nReply 'ack 4711' to acknowledge")
    assert sms_units("{€}") == (6, 306)  # GSM-7 extension characters take two septets


def test_the_call_gathers_one_digit_posted_to_the_action_url() -> None:
    twiml = voice_twiml(
        message(subject="[SEV1] INC-4711: <API> & co", title="<API> & co"),
        action_url="https://t.example.com/api/v1/chatops/twilio/voice?incident=4711",
        language="en-US",
    )
    root = ElementTree.fromstring(twiml)
    gather = root.find("Gather")
    assert gather is not None
    assert gather.attrib == {
        "numDigits": "1",
        "action": "https://t.example.com/api/v1/chatops/twilio/voice?incident=4711",
        "method": "POST",
        "timeout": "10",
    }
    said = [say.text for say in gather.findall("Say")]
    assert said[:2] == [
        "This is Tocsin. SEV1 incident 4711: <API> & co.",
        "Press 1 to acknowledge.",
    ]


def test_without_a_public_url_the_call_only_reads_the_page() -> None:
    root = ElementTree.fromstring(voice_twiml(message(), action_url=None, language="de-DE"))
    [say] = root
    assert (say.tag, say.attrib) == ("Say", {"language": "de-DE", "loop": "2"})


@pytest.mark.parametrize(
    "url",
    [
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
        "https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
    ],
)
def test_twilio_hosts_are_rewritten_to_the_base_url(url: str) -> None:
    client = BaseUrlHttpClient("http://127.0.0.1:8999/twilio/", timeout=5)
    assert client.rewrite(url) == (
        "http://127.0.0.1:8999/twilio/2010-04-01/Accounts/AC1/Messages.json"
    )
    assert client.rewrite("https://example.com/x") == "https://example.com/x"


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("ack 4711", SmsCommand("ack", 4711)),
        ("ACK INC-4711", SmsCommand("ack", 4711)),
        ("  Ack #12. ", SmsCommand("ack", 12)),
        ("acknowledge inc 7", SmsCommand("ack", 7)),
        ("resolve 4711", SmsCommand("resolve", 4711)),
        ("ack", SmsCommand("help")),
        ("ack 4711 please", SmsCommand("help")),
        ("hello", SmsCommand("help")),
        ("", SmsCommand("help")),
    ],
)
def test_replies_are_read_as_commands(text: str, command: SmsCommand) -> None:
    assert parse_sms(text) == command


def test_people_are_found_by_phone_in_any_layout() -> None:
    policy = parse_policy(
        "severities: [{name: SEV1, respond_within: 5m, escalate_after: 15m, "
        "update_every: 15m, resolve_target: 30m}]\n"
        "people:\n"
        '  - {name: alice, phone: "+15555550101"}\n'
        "  - {name: bob}\n"
    )
    assert person_by_phone(policy, "+1 (555) 555-0101").name == "alice"  # type: ignore[union-attr]
    assert person_by_phone(policy, "+15555550102") is None
    assert person_by_phone(policy, "") is None


def test_a_channel_takes_exactly_one_account_sid() -> None:
    base = {"type": "twilio", "auth_token_env": "TWILIO_AUTH_TOKEN", "from_number": "+15555550100"}
    assert TwilioChannel.model_validate({**base, "account_sid": SID}).mode == "sms"
    assert TwilioChannel.model_validate({**base, "account_sid_env": "TWILIO_SID"})
    for extra in ({}, {"account_sid": SID, "account_sid_env": "TWILIO_SID"}):
        with pytest.raises(ValidationError, match="exactly one of account_sid"):
            TwilioChannel.model_validate({**base, **extra})
    with pytest.raises(ValidationError, match="from_number"):
        TwilioChannel.model_validate({**base, "account_sid": SID, "from_number": "555-0100"})


def test_missing_credentials_are_named_together() -> None:
    config = TwilioChannel.model_validate(
        {
            "type": "twilio",
            "account_sid_env": "TWILIO_SID",
            "auth_token_env": "TWILIO_TOKEN",
            "from_number": "+15555550100",
        }
    )
    with pytest.raises(PermanentError) as missing:
        TwilioAdapter("sms", config, {}).credentials()
    assert str(missing.value) == (
        "environment variables TWILIO_SID (the Twilio account SID) and TWILIO_TOKEN "
        "(the Twilio auth token) are not set"
    )
    environ = {"TWILIO_SID": SID, "TWILIO_TOKEN": "t0ken"}
    assert TwilioAdapter("sms", config, environ).credentials() == (SID, "t0ken")
