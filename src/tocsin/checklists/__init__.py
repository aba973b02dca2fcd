"""Checklists: the policy's procedures, attached to incidents per role and severity,
ticked by people or by the events that satisfy them, with reminders when overdue."""
