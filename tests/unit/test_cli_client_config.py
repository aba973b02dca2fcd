"""The CLI's API client: where its configuration comes from, and how it reports errors."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tocsin.cli.client import (
    DEFAULT_URL,
    ApiClient,
    ApiError,
    ApiUnreachable,
    ClientConfig,
    ConfigError,
    load_client_config,
)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOCSIN_URL", raising=False)
    monkeypatch.delenv("TOCSIN_TOKEN", raising=False)


def write_credentials(directory: Path, **values: str) -> Path:
    path = directory / ".tocsin" / "credentials.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(values), encoding="utf-8")
    path.chmod(0o600)
    return path


def test_defaults_without_env_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_client_config() == ClientConfig(url=DEFAULT_URL, token=None)
    assert DEFAULT_URL == "http://127.0.0.1:8080"


def test_file_is_found_from_a_subdirectory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_credentials(tmp_path, url="http://tocsin.internal:9000/", token="file-token")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    config = load_client_config()
    assert config.url == "http://tocsin.internal:9000"
    assert config.token == "file-token"


def test_nearest_file_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_credentials(tmp_path, url="http://outer:1", token="outer")
    inner = tmp_path / "project"
    write_credentials(inner, url="http://inner:2", token="inner")
    monkeypatch.chdir(inner)
    assert load_client_config() == ClientConfig(url="http://inner:2", token="inner")


def test_env_wins_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_credentials(tmp_path, url="http://from-file:1", token="file-token")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOCSIN_URL", "http://from-env:2")
    monkeypatch.setenv("TOCSIN_TOKEN", "env-token")
    assert load_client_config() == ClientConfig(url="http://from-env:2", token="env-token")


def test_env_and_file_combine_per_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_credentials(tmp_path, url="http://from-file:1", token="file-token")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOCSIN_TOKEN", "env-token")
    assert load_client_config() == ClientConfig(url="http://from-file:1", token="env-token")


def test_file_without_url_uses_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_credentials(tmp_path, token="file-token")
    monkeypatch.chdir(tmp_path)
    assert load_client_config() == ClientConfig(url=DEFAULT_URL, token="file-token")


def test_malformed_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_credentials(tmp_path, token="x")
    path.write_text("{not json", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"credentials\.json"):
        load_client_config()


def test_token_is_not_in_repr() -> None:
    assert "s3cret" not in repr(ClientConfig(url="http://x", token="s3cret"))


# -- ApiClient against an in-process transport ----------------------------------------


def client_for(handler: httpx.MockTransport) -> ApiClient:
    return ApiClient(ClientConfig(url="http://tocsin.test", token="tok"), transport=handler)


def test_sends_bearer_token_and_parses_json() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": [], "total": 0})

    with client_for(httpx.MockTransport(handler)) as client:
        page = client.get("/api/v1/incidents", params=[("status", "a"), ("status", "b")])
    assert page == {"items": [], "total": 0}
    assert seen[0].headers["authorization"] == "Bearer tok"
    assert seen[0].url.params.get_list("status") == ["a", "b"]


def test_error_body_becomes_api_error() -> None:
    body = {
        "detail": "severity 'sev9' is unknown",
        "errors": [{"field": "severity", "message": "unknown"}],
    }
    transport = httpx.MockTransport(lambda request: httpx.Response(422, json=body))
    with client_for(transport) as client, pytest.raises(ApiError) as caught:
        client.post("/api/v1/incidents", {"severity": "sev9"})
    assert caught.value.status_code == 422
    assert caught.value.detail == "severity 'sev9' is unknown"
    assert caught.value.errors == [{"field": "severity", "message": "unknown"}]


def test_error_without_json_body_names_the_status() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="<html>"))
    with client_for(transport) as client, pytest.raises(ApiError, match="502 Bad Gateway"):
        client.get("/api/v1/me")


def test_connection_failure_is_a_clear_message() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    with client_for(httpx.MockTransport(refuse)) as client, pytest.raises(ApiUnreachable) as c:
        client.get("/api/v1/me")
    message = str(c.value)
    assert message.startswith("cannot reach Tocsin at http://tocsin.test: ")
    assert "tocsin serve" in message
    assert "tok" not in message.replace("tocsin", "")
