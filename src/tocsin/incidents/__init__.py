"""Incidents: lifecycle state machine, roles, timeline and status updates."""
