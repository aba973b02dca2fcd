"""The notification outbox: every message decided is a row before it is sent."""
