"""Imports every module that defines tables, so `Base.metadata` holds the whole schema.

Used by the migration environment (autogenerate) and the schema-drift test.
"""

import tocsin.alerts.bulk_models
import tocsin.alerts.models
import tocsin.auth.models
import tocsin.changes.models
import tocsin.checklists.models
import tocsin.db.counters
import tocsin.db.jobs
import tocsin.db.probe
import tocsin.incidents.findings
import tocsin.incidents.models
import tocsin.metrics.models
import tocsin.metrics.stored_counters
import tocsin.notify.models
import tocsin.notify.refs
import tocsin.oncall.models
import tocsin.postmortems.models
import tocsin.runbooks.models
import tocsin.statuspage.models  # noqa: F401
from tocsin.db.base import Base

metadata = Base.metadata

__all__ = ["metadata"]
