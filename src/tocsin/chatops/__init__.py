"""Chat operations: an incident's own Slack channel, Slack buttons and ``/incident``.

The Slack incident channels follow the incident lifecycle through the hooks in
:mod:`tocsin.chatops.slack_channels`, which :func:`tocsin.wiring.wire` registers.
"""
