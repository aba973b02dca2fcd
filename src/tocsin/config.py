"""Process settings, read from the environment (prefix ``TOCSIN_``).

The database defaults to SQLite in ``.tocsin/`` next to the policy file, so that
``tocsin init`` followed by ``tocsin serve`` needs no further set-up.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "state_dir_for"]


def state_dir_for(policy_path: Path) -> Path:
    return policy_path.resolve().parent / ".tocsin"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOCSIN_", extra="ignore")

    policy: Path = Field(default=Path("tocsin.yaml"), description="Path of the policy file.")
    database_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite under .tocsin/."
    )
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 1024 * 1024
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs dashboard session cookies; default: generated into .tocsin/.",
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#]+(/[^?#]*)?$",
        description="Where outside services (Twilio, Slack) reach this server, e.g. "
        "https://tocsin.example.com: callback URLs and signed-webhook checks use it.",
    )

    @property
    def state_dir(self) -> Path:
        return state_dir_for(self.policy)

    def resolved_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.state_dir / 'tocsin.db'}"
