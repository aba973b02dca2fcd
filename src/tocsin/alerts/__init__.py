"""Alerts: fingerprints, routing by label matchers, grouping and correlation,
silences and maintenance windows. The pure decisions are in :mod:`tocsin.alerts.rules`.
"""
