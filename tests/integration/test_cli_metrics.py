"""`tocsin metrics`, `tocsin slo` and `tocsin report monthly` against a real server
holding the hand-computed fixture of ``tests/unit/test_metrics_rules.py``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from tests.integration.test_metrics_api import load_fixture
from tests.support.cli import Cli
from tests.unit.test_metrics_rules import NOW

if TYPE_CHECKING:
    from tests.conftest import LiveServer


@pytest.fixture
def cli(live_server: LiveServer) -> Cli:
    live_server.clock.set(NOW)
    load_fixture(live_server.context.sessions)
    return Cli(live_server.url, live_server.make_token("viewer"))


def _row(output: str, first: str) -> list[str]:
    """The cells of the table row starting with ``first`` (split on 2+ spaces)."""
    for line in output.splitlines():
        if line.strip().startswith(first):
            return [cell.strip() for cell in line.strip().split("  ") if cell.strip()]
    raise AssertionError(f"no row {first!r} in:\n{output}")


def test_metrics_table_agrees_with_the_hand_computed_table(cli: Cli) -> None:
    out = cli.ok("metrics", "--window", "30d")
    assert "200, 4 open, 1 drill excluded" in out
    # Overall rows: mean, median (nearest rank), p90, formatted.
    assert _row(out, "MTTD")[-4:] == ["200", "5m 30s", "5m", "9m"]
    assert _row(out, "MTTA")[-4:] == ["196", "58m 8s", "18m", "3h"]  # 3 488.27 s, 1 080, 10 800
    assert _row(out, "MTTM")[-4:] == ["196", "3h 40m", "1h 20m", "12h"]  # 13 222.96, 4 800, 43 200
    # 21 578.57 s (5h 59m 39s, rounded to the minute), 9 600, 64 800
    assert _row(out, "MTTR")[-4:] == ["196", "6h", "2h 40m", "18h"]
    sev1 = _row(out, "SEV1")
    assert sev1[:6] == ["SEV1", "50", "5m 24s", "32m 27s", "30m", "54m"]
    assert sev1[6:] == ["50.0 % (25/50)", "50.0 % (25/50)"]
    sev4 = _row(out, "SEV4")
    assert sev4[-2:] == ["81.6 % (40/49) +1 pending", "81.6 % (40/49) +1 pending"]
    assert _row(out, "Escalated")[-1] == "25.0 % (50/200)"
    assert _row(out, "Repeat")[-1] == "2.0 % (4/200)"
    # Weeks are ISO weeks: the window starts on Saturday Jan 31, in the week of Monday 26.
    assert "Incidents per ISO week (from Monday, UTC)" in out
    weeks = [line.split()[0] for line in out.splitlines() if "-W" in line]
    assert weeks[0] == "2026-W05" and weeks[-1] == "2026-W10"
    assert _row(out, "2026-W05")[0] == "2026-W05 (2026-01-26)"


def test_metrics_json_is_the_api_answer(cli: Cli, live_server: LiveServer) -> None:
    data = cli.json("metrics", "--window", "30d")
    direct = httpx.get(
        f"{live_server.url}/api/v1/metrics/summary?window=30d",
        headers={"Authorization": f"Bearer {cli.token}"},
        timeout=30,
    ).json()
    assert data == direct
    assert data["mttr"]["overall"]["median"] == 9600


def test_a_bad_window_is_refused_naming_it(cli: Cli) -> None:
    result = cli("metrics", "--window", "a month")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "window" in result.stderr


def test_slo_table_and_json(cli: Cli) -> None:
    out = cli.ok("slo")
    checkout = _row(out, "checkout-api")
    assert checkout[1:6] == ["99.9 % / 30d", "87.244 %", "43m 12s", "3d 20h", "-12655.8 %"]
    assert "1h 1000.00" in out and "3d 322.45" in out
    one = cli.json("slo", "checkout-api")
    assert one["consumed_seconds"] == pytest.approx(330_630, abs=0.01)
    missing = cli("slo", "web-frontend")
    assert missing.exit_code == 1
    assert "web-frontend" in missing.stderr


def test_monthly_report_to_stdout_and_to_a_file(cli: Cli, tmp_path: Path) -> None:
    markdown = cli.ok("report", "monthly", "--month", "2026-03")
    assert markdown.startswith("## Incident Review: March 2026")
    assert "- Total incidents: 9\n" in markdown
    assert "- MTTR average: 12h 47m (median 9h, p90 1d 3h;" in markdown
    target = tmp_path / "review.html"
    said = cli.ok("report", "monthly", "--month", "2026-03", "--format", "html", "-o", str(target))
    assert str(target) in said
    html = target.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") == 3
    refused = cli("report", "monthly", "--month", "2026-3")
    assert refused.exit_code == 1
    assert "month" in refused.stderr
