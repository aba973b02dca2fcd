"""How the server delivers its pages: ``/`` leads somewhere, ``/favicon.ico`` exists,
text is gzipped (never the event stream), static files say how long to keep them, and
the metrics page sends tables at once while its charts come as cached images of their
own. Against a real server over HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
import pytest
from tests.support.api import ApiAs
from tests.support.dashboard_session import Browser, add_user, cheap_hashing
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from tests.conftest import LiveServer

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

API = "/api/v1"
GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


@pytest.fixture
def api(api_as: ApiAs) -> httpx.Client:
    return api_as("responder", "bob")


@pytest.fixture
def rita(live_server: LiveServer) -> Iterator[Browser]:
    add_user(live_server.context, "rita", role="viewer")
    with Browser(live_server.url) as browser:
        assert browser.sign_in("rita").status_code == 303
        yield browser


def test_the_root_leads_to_the_dashboard_or_the_status_page(
    live_server: LiveServer, rita: Browser
) -> None:
    signed_in = rita.get("/")
    assert signed_in.status_code == 302
    assert signed_in.headers["location"] == "/dashboard"
    assert signed_in.headers["cache-control"] == "no-store"
    with Browser(live_server.url) as visitor:
        anonymous = visitor.get("/")
        assert anonymous.status_code == 302
        assert anonymous.headers["location"] == "/status"
        assert visitor.http.get("/status").status_code == 200


def test_a_favicon_for_every_page(live_server: LiveServer, rita: Browser) -> None:
    icon = httpx.get(f"{live_server.url}/favicon.ico", timeout=10)
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert "max-age" in icon.headers["cache-control"]
    page = rita.get("/dashboard").text
    link = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)
    assert link is not None
    svg = rita.get(link.group(1))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")


def test_text_is_gzipped_for_clients_that_accept_it(
    live_server: LiveServer, api: httpx.Client, rita: Browser
) -> None:
    api.post(f"{API}/incidents", json={"title": "Checkout down", "severity": "sev1"})
    for path in ("/status", "/dashboard", "/api/v1/incidents", "/openapi.json"):
        client = rita.http if path.startswith("/dashboard") else api
        packed = client.get(path, headers=GZIP)
        assert packed.status_code == 200, path
        assert packed.headers["content-encoding"] == "gzip", path
        assert "accept-encoding" in packed.headers["vary"].lower(), path
        plain = client.get(path, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers, path
        assert int(packed.headers["content-length"]) < len(plain.content), path


def test_the_event_stream_is_never_compressed_nor_held_back(
    live_server: LiveServer, api: httpx.Client, rita: Browser
) -> None:
    with rita.http.stream("GET", "/dashboard/events", headers=GZIP, timeout=10) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in stream.headers
        lines = stream.iter_lines()
        declared = api.post(f"{API}/incidents", json={"title": "Disk full", "severity": "sev3"})
        ref = declared.json()["id"]

        def event_seen() -> bool:
            return any(line.startswith("data:") and ref in line for line in lines)

        # Compressed, the event would sit in the compressor's buffer: it must arrive.
        wait_for(event_seen, 5.0, f"the stream carrying {ref}")


def test_static_files_say_how_long_to_keep_them(live_server: LiveServer, rita: Browser) -> None:
    page = rita.get("/dashboard").text
    for name in ("dashboard.css", "dashboard.js"):
        found = re.search(rf'"(/static/{name}\?v=[0-9a-f]{{12}})"', page)
        assert found is not None, name
        versioned = rita.get(found.group(1))
        assert versioned.status_code == 200
        assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
        bare = rita.get(f"/static/{name}")
        assert bare.headers["cache-control"] == "public, no-cache"
        again = rita.http.get(f"/static/{name}", headers={"If-None-Match": bare.headers["etag"]})
        assert again.status_code == 304
    stale = rita.get("/static/dashboard.css?v=000000000000")
    assert stale.headers["cache-control"] == "public, no-cache"
    status_page = httpx.get(f"{live_server.url}/status", timeout=10).text
    assert re.search(r'href="/static/status\.css\?v=[0-9a-f]{12}"', status_page)


def test_the_metrics_page_sends_tables_and_links_its_charts(
    live_server: LiveServer, api: httpx.Client, rita: Browser
) -> None:
    api.post(f"{API}/incidents", json={"title": "Checkout down", "severity": "sev1"})
    page = rita.get("/dashboard/metrics")
    assert page.status_code == 200
    assert "<svg" not in page.text and "base64" not in page.text
    assert len(page.content) < 20_000
    sources = re.findall(r'<img src="([^"]+)"', page.text)
    narrow = re.findall(r'<source media="\(max-width: 40rem\)" srcset="([^"]+)"', page.text)
    assert len(sources) == 4 and len(narrow) == 3  # the SLA chart is narrow everywhere
    for src in sources + narrow:
        chart = rita.get(src.replace("&amp;", "&"))
        assert chart.status_code == 200, src
        assert chart.headers["content-type"].startswith("image/svg+xml")
        assert chart.text.startswith("<svg")
        assert chart.headers["cache-control"] == "private, no-cache"
        tag = chart.headers["etag"]
        again = rita.http.get(src.replace("&amp;", "&"), headers={"If-None-Match": tag})
        assert again.status_code == 304, src
    assert rita.get("/dashboard/metrics/charts/pie.svg").status_code == 404
    assert rita.get("/dashboard/metrics/charts/mttr.svg?window=5y").status_code == 422
    with Browser(live_server.url) as visitor:
        refused = visitor.http.get("/dashboard/metrics/charts/mttr.svg")
        assert refused.status_code == 303  # to the sign-in page, like every dashboard page


def test_a_chart_changes_with_its_data(
    live_server: LiveServer, api: httpx.Client, rita: Browser
) -> None:
    src = "/dashboard/metrics/charts/severity.svg?window=7d"
    before = rita.get(src)
    api.post(f"{API}/incidents", json={"title": "Checkout down", "severity": "sev2"})
    live_server.clock.advance(timedelta(minutes=1))
    after = rita.http.get(src, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200  # new data: a new chart, not a 304
    assert after.headers["etag"] != before.headers["etag"]
