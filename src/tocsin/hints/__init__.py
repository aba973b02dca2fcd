"""Root-cause hints: ranked hypotheses about why an incident happened (a recent change,
a failing dependency, a resource running out, a similar past incident), each with its
evidence. The rules are pure (:mod:`tocsin.hints.rules`); :mod:`tocsin.hints.service`
reads the facts, stores the hints with the incident and records people's verdicts."""
