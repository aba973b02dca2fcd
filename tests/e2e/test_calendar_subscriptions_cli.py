"""`tocsin schedule subscribe|subscriptions|unsubscribe` through the installed command,
against a real `tocsin serve`, and the URL it prints fetched and parsed as a calendar
app would (the icalendar library)."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
from icalendar import Calendar
from tests.support.servers import clean_env, free_port, run_tocsin, start_server, stop_server


def tocsin(
    directory: Path, env: dict[str, str], *args: str, code: int = 0
) -> subprocess.CompletedProcess[str]:
    result = run_tocsin(*args, cwd=directory, env=env)
    assert result.returncode == code, f"tocsin {' '.join(args)}:\n{result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def test_subscribe_fetch_list_and_unsubscribe(tmp_path: Path) -> None:
    env = clean_env()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    tocsin(tmp_path, env, "init", "--url", base)
    admin = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
    server = start_server(tmp_path, port, env, "--no-worker", timeout=60)
    try:
        printed = tocsin(tmp_path, env, "schedule", "subscribe", "platform-primary").stdout
        url = printed.strip().splitlines()[-1]
        assert url.startswith(f"{base}/api/v1/schedules/platform-primary.ics?token=tcsc_")
        assert "shown once" in printed and "unsubscribe platform-primary" in printed

        with httpx.Client(timeout=15) as http:
            first = http.get(url)
            assert first.status_code == 200
            calendar = Calendar.from_ical(first.content)
            found = [(e.decoded("DTSTART"), e.decoded("DTEND")) for e in calendar.walk("VEVENT")]
            assert len(found) >= 9  # from last week to 8 weeks ahead, weekly
            now = datetime.now(UTC)
            assert found[-1][1] > found[-1][0] > now
            # Whole weekly turns: every event starts and ends at a Monday 09:00 UTC handoff.
            for start, end in found:
                assert (start.weekday(), start.hour, end.weekday(), end.hour) == (0, 9, 0, 9)
            assert http.get(url).content == first.content  # the same events, the same UIDs

            # The admin token in its place opens nothing, and says what to do instead.
            as_admin = http.get(url.replace(url.rsplit("=", 1)[1], admin))
            assert as_admin.status_code == 401
            assert "tocsin schedule subscribe" in as_admin.json()["detail"]

            # Subscribing again replaces the URL.
            again = json.loads(
                tocsin(tmp_path, env, "schedule", "subscribe", "platform-primary", "--json").stdout
            )
            assert again["replaced"] == 1
            assert http.get(url).status_code == 401
            assert http.get(again["url"]).status_code == 200

            # Alice (a viewer token of her own) subscribes to another schedule.
            made = tocsin(
                tmp_path, env, "token", "create", "alice-phone", "--role", "viewer",
                "--person", "alice",
            )  # fmt: skip
            alice = {
                **env,
                "TOCSIN_URL": base,
                "TOCSIN_TOKEN": made.stdout.strip().splitlines()[-1],
            }
            alice_url = tocsin(tmp_path, alice, "schedule", "subscribe", "ic-rotation").stdout
            alice_url = alice_url.strip().splitlines()[-1]
            assert http.get(alice_url).status_code == 200

            listed = tocsin(tmp_path, env, "schedule", "subscriptions").stdout
            assert "platform-primary" in listed and "ic-rotation" in listed and "alice" in listed
            assert again["token"] not in listed and "tcsc_" in listed  # the prefix only
            own = json.loads(tocsin(tmp_path, alice, "schedule", "subscriptions", "--json").stdout)
            assert [(i["schedule"], i["owner"]) for i in own["items"]] == [("ic-rotation", "alice")]

            # Revoking: your own by schedule; anyone's by id for an admin.
            tocsin(tmp_path, env, "schedule", "unsubscribe", "platform-primary")
            assert http.get(again["url"]).status_code == 401
            refused = tocsin(tmp_path, env, "schedule", "unsubscribe", "platform-primary", code=1)
            assert "no calendar subscription" in refused.stderr
            alice_id = own["items"][0]["id"]
            tocsin(tmp_path, env, "schedule", "unsubscribe", "--id", str(alice_id))
            assert http.get(alice_url).status_code == 401
            assert "SCHEDULE" in tocsin(tmp_path, env, "schedule", "unsubscribe", code=1).stderr
            assert (
                "No calendar subscriptions"
                in tocsin(tmp_path, env, "schedule", "subscriptions").stdout
            )
    finally:
        output = stop_server(server)
    assert "tcsc_" not in output.replace("tcsc_***", "")
