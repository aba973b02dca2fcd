"""The key that signs dashboard sessions is never short."""

from __future__ import annotations

from pathlib import Path

import pytest

from tocsin.config import Settings
from tocsin.web.dashboard.secret import KEY_FILE, signing_key


def test_a_short_signing_key_is_refused(tmp_path: Path) -> None:
    """An empty TOCSIN_SECRET_KEY (an unset variable in a compose file) or a truncated
    key file would let anyone sign a session: the server refuses to use it."""
    for key in ("", "short"):
        with pytest.raises(RuntimeError, match="shorter than 32"):
            signing_key(Settings(policy=tmp_path / "tocsin.yaml", secret_key=key))
    settings = Settings(policy=tmp_path / "tocsin.yaml")
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    (settings.state_dir / KEY_FILE).write_text("  \n")
    with pytest.raises(RuntimeError, match="shorter than 32"):
        signing_key(settings)
