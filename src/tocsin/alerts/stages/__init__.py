"""The stages of the alert pipeline, in order (:mod:`tocsin.alerts.pipeline` runs
them over one :class:`~tocsin.alerts.batch.Batch`): :mod:`dedup`, then route, silence
and correlate the new firings together (:mod:`correlate`), :mod:`store` the new
alerts, and :mod:`decide` and apply each event in turn. Their pure decisions live in
:mod:`tocsin.alerts.rules`."""
