"""What became of one incoming alert: the outcome recorded on the alert and shown on
the timeline (each stage of the pipeline says *why* it decided as it did)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["AlertOutcome"]


class AlertOutcome(StrEnum):
    """What became of one incoming alert; recorded on the alert and the timeline."""

    new_incident = "new_incident"  # it opened an incident
    attached = "attached"  # it joined the open incident of its group
    deduplicated = "deduplicated"  # a repeat of an open alert: counted, nothing else
    silenced = "silenced"  # an active silence matched; stored, pages nobody
    maintenance = "maintenance"  # its service is in a maintenance window
    below_threshold = "below_threshold"  # the route's noise gate is still closed
    no_incident_route = "no_incident_route"  # its route says open_incident: false
    resolved = "resolved"  # a resolve for a stored alert
    flapping = "flapping"  # fires and resolves too often: its re-fires page nobody
    cascade = "cascade"  # part of a cascade: joined the one cascade-failure incident
