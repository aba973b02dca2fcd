"""The environment that configures every outside channel of the example policy (dummy
values: only their presence matters to the checks that use this)."""

from __future__ import annotations

EXAMPLE_CHANNEL_ENV = {
    "TOCSIN_SMTP_PASSWORD": "smtp-password",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "twilio-token",
    "TOCSIN_SLACK_BOT_TOKEN": "xoxb-slack-token",
    "TOCSIN_PAGERDUTY_ROUTING_KEY": "pagerduty-routing-key",
    "TOCSIN_JIRA_API_TOKEN": "jira-token",
}
