"""TLS client contexts for the adapters, built once per setting.

Building a context loads the system's CA bundle, which takes tens of milliseconds on a
busy machine: once per send, that was most of a page's delivery time. A context is safe
to share between threads and connections. A changed ``ca_file`` is read at the next start.
"""

from __future__ import annotations

import ssl
from functools import lru_cache

import certifi

__all__ = ["tls_context"]


@lru_cache(maxsize=32)
def tls_context(verify: bool = True, ca_file: str | None = None) -> ssl.SSLContext:
    """A client context trusting the system's CAs, the Mozilla bundle HTTP clients ship
    (``certifi``, what httpx trusts by default) and ``ca_file``; with ``verify`` False,
    one that checks nothing (for a receiver with a self-signed certificate)."""
    context = ssl.create_default_context(cafile=ca_file)
    context.load_verify_locations(cafile=certifi.where())
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
