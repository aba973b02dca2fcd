"""The public status page: components, public incidents and updates, scheduled
maintenance, uptime, feeds, email subscribers and the automation that links it to the
incident lifecycle.

Importing the package registers the automation's incident hooks (see
:mod:`tocsin.statuspage.automation`); the web app and the engine import it.
"""

from tocsin.statuspage import automation

automation.install()

__all__ = ["automation"]
