"""A small script interface to Tocsin for scripts and tests that speak in incidents,
severities and statuses: ``IncidentResponseSystem``, ``SeverityLevel``,
``IncidentStatus`` and ``PostIncidentReviewGenerator``, backed by Tocsin's own
services on an embedded SQLite database (no server needed)::

    from tocsin.compat import IncidentResponseSystem, SeverityLevel, IncidentStatus

    system = IncidentResponseSystem()
    ref = system.create_incident("Checkout 5xx", "Errors above 5%", SeverityLevel.SEV2, "alice")
    system.update_incident_status(ref, IncidentStatus.RESOLVED, "alice", "rolled back")
    print(system.calculate_mttr_metrics(30)["overall_mttr_minutes"])
"""

from tocsin.compat.objects import Incident, IncidentStatus, IncidentTimeline, SeverityLevel
from tocsin.compat.reports import PostIncidentReviewGenerator
from tocsin.compat.system import IncidentResponseSystem, ScriptClock

__all__ = [
    "Incident",
    "IncidentResponseSystem",
    "IncidentStatus",
    "IncidentTimeline",
    "PostIncidentReviewGenerator",
    "ScriptClock",
    "SeverityLevel",
]
