"""Chat operations: an incident's own Slack channel, Slack buttons and ``/incident``.

Importing the package hooks the Slack incident channels into the incident lifecycle
(:mod:`tocsin.chatops.slack_channels`), in every process that changes incidents.
"""

from tocsin.chatops import slack_channels

slack_channels.register()
