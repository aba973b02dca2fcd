"""Many readers at once, more than the database connection pool holds: each request
reads its caller and its data in one transaction on one connection, so none of them
waits for a connection another request holds (before, each took two, and 16 concurrent
clients could hold every pooled connection while each waited for one more)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from tests.conftest import LiveServer

CLIENTS = 40


def test_concurrent_readers_beyond_the_pool_are_all_answered(live_server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {live_server.admin_token}"}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=10) as api:
        declared = api.post("/api/v1/incidents", json={"title": "API down", "severity": "SEV2"})
        assert declared.status_code == 201, declared.text
        ref = declared.json()["id"]

    def read(n: int) -> int:
        path = ("/api/v1/incidents", f"/api/v1/incidents/{ref}/timeline")[n % 2]
        # The timeout is well below the pool's 30 s wait for a free connection.
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=10) as client:
            return client.get(path).status_code

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(read, range(CLIENTS * 4)))
    assert statuses == [200] * (CLIENTS * 4)
