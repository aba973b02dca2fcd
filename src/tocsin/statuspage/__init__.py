"""The public status page: components, public incidents and updates, scheduled
maintenance, uptime, feeds, email subscribers and the automation that links it to the
incident lifecycle.

The automation's incident hooks (see :mod:`tocsin.statuspage.automation`) are
registered by :func:`tocsin.wiring.wire`.
"""
