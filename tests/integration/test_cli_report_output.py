"""`tocsin report monthly` as users run it (the installed command, in a subprocess): the
terminal gets text, charts go only into a file written with --output, and an empty
month says so."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.integration.test_metrics_api import load_fixture
from tests.support.servers import TOCSIN, clean_env
from tests.unit.test_metrics_rules import NOW

if TYPE_CHECKING:
    from tests.conftest import LiveServer

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

HINT = "Charts: tocsin report monthly --month 2026-03 --output review.html"


@pytest.fixture
def env(live_server: LiveServer) -> dict[str, str]:
    live_server.clock.set(NOW)
    load_fixture(live_server.context.sessions)
    token = live_server.make_token("viewer")
    return clean_env({"TOCSIN_URL": live_server.url, "TOCSIN_TOKEN": token})


def tocsin(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TOCSIN, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_stdout_gets_the_text_without_charts(env: dict[str, str]) -> None:
    result = tocsin(env, "report", "monthly", "--month", "2026-03")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("## Incident Review: March 2026")
    assert "- Total incidents: 9\n" in result.stdout
    assert "base64" not in result.stdout and "<svg" not in result.stdout
    assert "### Charts" not in result.stdout
    assert len(result.stdout) < 5_000  # was about 80 KB of images
    assert HINT in result.stderr
    assert "Traceback" not in result.stderr


def test_a_terminal_gets_formatted_text(env: dict[str, str]) -> None:
    """Run with a pseudo-terminal as stdout, as in an interactive shell."""
    main, secondary = pty.openpty()
    try:
        process = subprocess.Popen(
            [TOCSIN, "report", "monthly", "--month", "2026-03"],
            env={**env, "COLUMNS": "100"},
            stdin=subprocess.DEVNULL,
            stdout=secondary,
            stderr=secondary,
        )
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=60) == 0
    finally:
        os.close(main)
    shown = b"".join(chunks).decode("utf-8", "replace")
    assert "Incident Review: March 2026" in shown
    assert "## Incident Review" not in shown  # rendered, not raw Markdown
    assert "base64" not in shown and "<svg" not in shown
    assert len(shown) < 20_000
    assert HINT in shown


def test_a_file_gets_the_charts_in_the_format_its_name_says(
    env: dict[str, str], tmp_path: Path
) -> None:
    html = tmp_path / "review.html"
    said = tocsin(env, "report", "monthly", "--month", "2026-03", "--output", str(html))
    assert said.returncode == 0, said.stderr
    assert f"Wrote the 2026-03 review (html, with charts) to {html}" in " ".join(
        said.stdout.split()
    )
    document = html.read_text(encoding="utf-8")
    assert document.startswith("<!DOCTYPE html>") and document.count("<svg") == 3

    markdown = tmp_path / "review.md"
    assert tocsin(env, "report", "monthly", "-m", "2026-03", "-o", str(markdown)).returncode == 0
    text = markdown.read_text(encoding="utf-8")
    assert text.startswith("## Incident Review: March 2026")
    assert text.count("](data:image/svg+xml;base64,") == 3

    bare = tmp_path / "bare.html"
    assert (
        tocsin(env, "report", "monthly", "-m", "2026-03", "-o", str(bare), "--no-charts").returncode
        == 0
    )
    assert "<svg" not in bare.read_text(encoding="utf-8")

    piped = tocsin(env, "report", "monthly", "-m", "2026-03", "--format", "html", "--charts")
    assert piped.returncode == 0 and piped.stdout.count("<svg") == 3  # asked for: given


def test_an_empty_month_says_so(env: dict[str, str]) -> None:
    result = tocsin(env, "report", "monthly", "--month", "2025-06")
    assert result.returncode == 0, result.stderr
    assert "- Total incidents: 0 (none was detected this month)" in result.stdout
    assert "No incidents were detected this month." in result.stdout
    assert "| Severity | Resolved |" not in result.stdout  # no table of nothing
