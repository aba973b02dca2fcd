"""Diagnostics and remediation playbooks: evidence collected for an incident, and fixes
proposed, approved by the incident commander and run step by step."""
