"""A local Jira (REST API v2, and v3's Cloud search) that the official ``jira`` client can
work with, recording every call.

Enough of Jira for Tocsin: ``serverInfo``, ``field``, issue create and get, comments
(list, add), ``transitions`` (list, do) and search by label (``/rest/api/2/search`` on
Server / Data Center, ``search/jql`` on Cloud). Basic or bearer auth is
checked. ``script`` holds answers for the next matching calls: ``(method, path suffix,
status)`` answers ``status`` without acting, ``(method, path suffix, "drop")`` acts and
then closes the connection without an answer (an unknown outcome).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.receivers import free_port

_STATUSES = {
    "To Do": "new",
    "In Progress": "indeterminate",
    "Done": "done",
}
_TRANSITIONS = {"Start": "In Progress", "Done": "Done", "Reopen": "To Do"}


@dataclass
class JiraCall:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int

    @property
    def name(self) -> str:
        """``"POST /rest/api/2/issue"`` with issue keys kept."""
        return f"{self.method} {self.path}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@dataclass
class JiraApi:
    email: str = "tocsin@example.com"
    token: str = "jira-token-123"
    cloud: bool = True
    port: int = field(default_factory=free_port)
    calls: list[JiraCall] = field(default_factory=list)
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    script: list[tuple[str, str, int | str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(10001)
        self._numbers: dict[str, itertools.count[int]] = {}
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def writes(self) -> list[str]:
        """The calls that changed something and were answered 2xx, in order."""
        return [
            c.name
            for c in self.calls
            if c.method in ("POST", "PUT") and 200 <= c.status < 300 and "search" not in c.path
        ]

    def comments(self, key: str) -> list[str]:
        return [c["body"] for c in self.issues[key]["comments"]]

    def status(self, key: str) -> str:
        return str(self.issues[key]["fields"]["status"]["name"])

    def move(self, key: str, status: str) -> None:
        """Someone changes the issue's status in Jira."""
        self.issues[key]["fields"]["status"] = _status(status)

    def start(self) -> JiraApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                outcome = api._answer(self.command, self.path, dict(self.headers.items()), raw)
                if outcome is None:  # act, then hang up without an answer
                    self.close_connection = True
                    self.connection.close()
                    return
                status, body = outcome
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ------------------------------------------------------------ dispatch

    def _authorized(self, headers: dict[str, str]) -> bool:
        given = headers.get("Authorization", "")
        basic = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        return given in (f"Basic {basic}", f"Bearer {self.token}")

    def _answer(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any] | None:
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        body = json.loads(raw) if raw else None
        with self._lock:
            scripted = next(
                (s for s in self.script if s[0] == method and path.endswith(s[1])), None
            )
            if scripted is not None:
                self.script.remove(scripted)
            if not self._authorized(headers):
                outcome: tuple[int, Any] | None = (401, {"errorMessages": ["Unauthorized"]})
            elif scripted is not None and scripted[2] != "drop":
                outcome = (int(scripted[2]), {"errorMessages": ["scripted failure"]})
            else:
                outcome = self._route(method, path, query, body)
            status = outcome[0] if outcome is not None else 0
            self.calls.append(JiraCall(method, path, query, body, status))
            if scripted is not None and scripted[2] == "drop":
                return None
            return outcome

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        if path == "/rest/api/2/serverInfo":
            return 200, {
                "baseUrl": self.url,
                "version": "1001.0.0" if self.cloud else "9.12.0",
                "versionNumbers": [1001, 0, 0] if self.cloud else [9, 12, 0],
                "deploymentType": "Cloud" if self.cloud else "Server",
                "serverTitle": "Jira",
            }
        if path == "/rest/api/2/field":
            return 200, [
                {"id": "summary", "name": "Summary", "clauseNames": ["summary"]},
                {"id": "status", "name": "Status", "clauseNames": ["status"]},
                {"id": "labels", "name": "Labels", "clauseNames": ["labels"]},
                {"id": "duedate", "name": "Due date", "clauseNames": ["due", "duedate"]},
            ]
        if path in ("/rest/api/2/search", "/rest/api/2/search/jql", "/rest/api/3/search/jql"):
            jql = (query.get("jql") or [""])[0] or (body or {}).get("jql", "")
            return 200, self._search(jql, path.endswith("/jql"))
        if method == "POST" and path == "/rest/api/2/issue":
            return self._create(body or {})
        match = re.fullmatch(r"/rest/api/2/issue/([A-Z0-9_]+-\d+)(/comment|/transitions)?", path)
        if match is None:
            return 404, {"errorMessages": [f"no such resource {path}"]}
        key, tail = match.group(1), match.group(2)
        issue = self.issues.get(key)
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist or you do not have permission"]}
        if tail is None and method == "GET":
            return 200, self._issue_json(issue)
        if tail == "/comment" and method == "GET":
            comments = issue["comments"]
            return 200, {"comments": comments, "total": len(comments), "startAt": 0}
        if tail == "/comment" and method == "POST":
            comment = {"id": str(next(self._ids)), "body": (body or {}).get("body", "")}
            issue["comments"].append(comment)
            return 201, comment
        if tail == "/transitions" and method == "GET":
            return 200, {
                "transitions": [
                    {"id": str(i), "name": name, "to": _status(to)}
                    for i, (name, to) in enumerate(_TRANSITIONS.items(), start=11)
                    if to != issue["fields"]["status"]["name"]
                ]
            }
        if tail == "/transitions" and method == "POST":
            wanted = str(((body or {}).get("transition") or {}).get("id"))
            names = {str(i): to for i, to in enumerate(_TRANSITIONS.values(), start=11)}
            if wanted not in names or names[wanted] == issue["fields"]["status"]["name"]:
                return 400, {"errorMessages": ["Transition id is not valid for this issue"]}
            issue["fields"]["status"] = _status(names[wanted])
            return 204, None
        return 405, {"errorMessages": ["method not allowed"]}

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
        fields = dict(body.get("fields") or {})
        project = (fields.get("project") or {}).get("key")
        errors = {}
        if not project:
            errors["project"] = "project is required"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        if (fields.get("issuetype") or {}).get("name") not in ("Task", "Bug", "Incident"):
            errors["issuetype"] = "Specify a valid issue type"
        if errors:
            return 400, {"errorMessages": [], "errors": errors}
        number = next(self._numbers.setdefault(project, itertools.count(1)))
        key = f"{project}-{number}"
        fields["status"] = _status("To Do")
        issue = {"id": str(next(self._ids)), "key": key, "fields": fields, "comments": []}
        self.issues[key] = issue
        return 201, {"id": issue["id"], "key": key, "self": f"{self.url}/rest/api/2/issue/{key}"}

    def _issue_json(self, issue: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": issue["id"],
            "key": issue["key"],
            "self": f"{self.url}/rest/api/2/issue/{issue['key']}",
            "fields": issue["fields"],
        }

    def _search(self, jql: str, cloud: bool) -> dict[str, Any]:
        match = re.search(r'labels\s*=\s*"([^"]+)"', jql)
        label = match.group(1) if match else None
        found = [
            self._issue_json(i)
            for i in self.issues.values()
            if label is not None and label in (i["fields"].get("labels") or [])
        ]
        if cloud:
            return {"issues": found, "isLast": True}
        return {"issues": found, "total": len(found), "startAt": 0, "maxResults": 50}


def _status(name: str) -> dict[str, Any]:
    return {"name": name, "statusCategory": {"key": _STATUSES[name], "name": name}}
