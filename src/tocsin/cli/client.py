"""The CLI's API client is the SDK's (:mod:`tocsin.client`): its configuration (the
environment, then ``.tocsin/credentials.json``), its errors and its HTTP client."""

from tocsin.client import (
    CREDENTIALS_PATH,
    DEFAULT_URL,
    ApiClient,
    ApiError,
    ApiUnreachable,
    ClientConfig,
    ClientError,
    ConfigError,
    Retry,
    load_client_config,
)

__all__ = [
    "CLI_RETRY",
    "CREDENTIALS_PATH",
    "DEFAULT_URL",
    "ApiClient",
    "ApiError",
    "ApiUnreachable",
    "ClientConfig",
    "ClientError",
    "ConfigError",
    "load_client_config",
]

#: A person at a terminal waits for a busy or briefly unavailable server (429/503) at
#: most twice, five seconds at a time, before the command reports the error.
CLI_RETRY = Retry(attempts=3, max_wait=5.0)
