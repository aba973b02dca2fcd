"""The ``prometheus:`` section of the policy: who may scrape ``/metrics``.

::

    prometheus:
      public: false   # the default: a scrape sends a bearer token of any role

The figures name services and internal severities, so by default ``/metrics`` asks
for a token, as every API call does; in Prometheus' scrape configuration that is
``authorization: {credentials: <token>}`` (a viewer token is enough). ``public: true``
serves it to anyone who can reach the server.
"""

from __future__ import annotations

from pydantic import Field

from tocsin.policy.base import PolicyModel

__all__ = ["PrometheusSettings"]


class PrometheusSettings(PolicyModel):
    public: bool = Field(
        default=False,
        description="Serve /metrics without a token. By default a scrape needs a bearer "
        "token of any role (Prometheus' `authorization: {credentials: ...}`).",
    )
