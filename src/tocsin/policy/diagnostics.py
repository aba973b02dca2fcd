"""The ``diagnostics`` section of the policy: named collectors that gather evidence for
an incident, and the sources they may read.

::

    diagnostics:
      output_cap: 65536            # bytes kept of each step's output
      concurrency: 4               # runs executed at once by one worker process
      redact: ['(?i)x-api-key:\\s*\\S+']   # added to the built-in secret patterns
      prometheus:
        main: {url: "http://prometheus:9090"}
      databases:
        app: {dsn_env: APP_DATABASE_URL}  # the DSN is a secret: read from the environment
      collectors:
        api-health:
          services: [checkout-api]        # empty = any service
          severities: [SEV1, SEV2]        # empty = any severity
          on_open: true                   # run when a matching incident opens
          steps:
            - name: Health check
              http: {url: "https://api.internal/health"}
            - name: Long-running queries
              sql:
                database: app
                query: "SELECT now() - query_start AS duration, state, query
                        FROM pg_stat_activity WHERE state != 'idle'"
            - name: Error rate
              promql:
                prometheus: main
                query: 'rate(http_errors_total{instance="{{ labels.instance }}"}[5m])'
                range: 30m
            - name: Pods not running
              command: [kubectl, get, pods, -n, "{{ labels.namespace }}"]
              timeout: 30s
              env: [KUBECONFIG]

Commands and queries come only from this file. Values from the incident and its
alerts fill the ``{{ }}`` placeholders as data: each argv element stays one argument,
a ``shell: true`` command gets every value shell-quoted, URLs get them URL-encoded,
PromQL gets them escaped for a string literal, and SQL takes them only as bound
``params``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal, Self

from pydantic import ConfigDict, Field, model_validator

from tocsin.policy.base import PolicyModel, Slug
from tocsin.policy.durations import Duration, format_duration

__all__ = [
    "Collector",
    "DatabaseSource",
    "DiagnosticStep",
    "DiagnosticsSettings",
    "HttpSpec",
    "PrometheusSource",
    "PromqlSpec",
    "SqlSpec",
]

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class HttpSpec(PolicyModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True
    )

    url: str = Field(min_length=1, description="Templated; values are URL-encoded.")
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict, description="Templated values.")
    json_body: dict[str, object] | None = Field(
        default=None, alias="json", description="A JSON body; its strings are templated."
    )
    verify_tls: bool = True


class PromqlSpec(PolicyModel):
    prometheus: Slug = Field(description="A name under `diagnostics.prometheus`.")
    query: str = Field(min_length=1, description="Templated; values are escaped for PromQL.")
    range: Duration | None = Field(
        default=None, description="A range query over this much time up to now; else instant."
    )
    step: Duration = Field(default=timedelta(minutes=1), description="Resolution of a range.")

    @property
    def range_text(self) -> str:
        return format_duration(self.range) if self.range is not None else ""


class SqlSpec(PolicyModel):
    database: Slug = Field(description="A name under `diagnostics.databases`.")
    query: str = Field(min_length=1, description="Run in a read-only transaction; not templated.")
    params: dict[str, str] = Field(
        default_factory=dict, description="Bound parameters (`:name` in the query), templated."
    )
    max_rows: int = Field(default=100, ge=1, le=10_000)


class DiagnosticStep(PolicyModel):
    """One step: exactly one of ``command``, ``http``, ``promql`` or ``sql``."""

    name: str = Field(min_length=1, max_length=200)
    command: tuple[str, ...] | str | None = Field(
        default=None,
        description="An argv list (no shell), or with `shell: true` one shell command line.",
    )
    shell: bool = Field(default=False, description="Run `command` through /bin/sh -c.")
    env: tuple[str, ...] = Field(
        default=(), description="Environment variables passed on from the worker (else none)."
    )
    cwd: str | None = Field(default=None, description="Working directory of a command.")
    http: HttpSpec | None = None
    promql: PromqlSpec | None = None
    sql: SqlSpec | None = None
    timeout: Duration = Field(default=timedelta(seconds=30), description="Per step.")

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [k for k in ("command", "http", "promql", "sql") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"step {self.name!r} needs exactly one of command, http, promql, sql "
                f"(has {', '.join(given) or 'none'})"
            )
        if isinstance(self.command, str) and not self.shell:
            raise ValueError(
                f"step {self.name!r}: a command written as one string needs `shell: true`; "
                "write an argv list to run it without a shell"
            )
        if isinstance(self.command, tuple) and (not self.command or self.shell):
            raise ValueError(
                f"step {self.name!r}: an argv list must not be empty and runs without a "
                "shell; write one string with `shell: true` for a shell command line"
            )
        if self.timeout <= timedelta(0):
            raise ValueError(f"step {self.name!r}: timeout must be positive")
        for name in self.env:
            if not re.match(_ENV_NAME, name):
                raise ValueError(f"step {self.name!r}: {name!r} is not an environment name")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("command", "http", "promql", "sql") if getattr(self, k) is not None)


class Collector(PolicyModel):
    description: str = ""
    services: tuple[str, ...] = Field(default=(), description="Empty = any service.")
    severities: tuple[str, ...] = Field(default=(), description="Empty = any severity.")
    on_open: bool = Field(default=True, description="Run when a matching incident opens.")
    steps: tuple[DiagnosticStep, ...] = Field(min_length=1)


class PrometheusSource(PolicyModel):
    url: str = Field(min_length=1, description="Base URL of the Prometheus HTTP API.")


class DatabaseSource(PolicyModel):
    dsn_env: str = Field(
        pattern=_ENV_NAME, description="The environment variable holding the DSN (a secret)."
    )


class DiagnosticsSettings(PolicyModel):
    output_cap: int = Field(default=65_536, ge=1_024, le=10_000_000)
    concurrency: int = Field(default=4, ge=1, le=64)
    redact: tuple[str, ...] = Field(
        default=(), description="Regular expressions of secrets, added to the built-in ones."
    )
    prometheus: dict[Slug, PrometheusSource] = Field(default_factory=dict)
    databases: dict[Slug, DatabaseSource] = Field(default_factory=dict)
    collectors: dict[Slug, Collector] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _sources_named(self) -> Self:
        for pattern in self.redact:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"redact: invalid regular expression {pattern!r}: {exc}") from None
        for name, collector in self.collectors.items():
            for step in collector.steps:
                check_sources(self, f"collector {name!r}, step {step.name!r}", step)
        return self


def check_sources(settings: DiagnosticsSettings, where: str, step: DiagnosticStep) -> None:
    """A step's Prometheus or database must be one the section names."""
    if step.promql is not None and step.promql.prometheus not in settings.prometheus:
        known = ", ".join(sorted(settings.prometheus)) or "none"
        raise ValueError(f"{where}: unknown prometheus {step.promql.prometheus!r} (known: {known})")
    if step.sql is not None and step.sql.database not in settings.databases:
        known = ", ".join(sorted(settings.databases)) or "none"
        raise ValueError(f"{where}: unknown database {step.sql.database!r} (known: {known})")
