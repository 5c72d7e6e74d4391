"""A local stand-in for Airbyte's API, so tests run the real dagster-airbyte client and bootstrap.

Answers, on a free loopback port, what those clients call:
- public API (`/api/public/v1`): POST applications/token; GET workspaces/{id}; sources,
  destinations, connections (GET list, POST, GET/PATCH by id); jobs (POST, GET list,
  GET/DELETE by id);
- configuration API (`/api/v1`): POST connections/get (the syncCatalog dagster-airbyte reads).
Every request is recorded (method, path, query, body). Like Airbyte, it masks secrets in what
it returns and wants a bearer token from the client credentials on every other call. A sync
job walks through `job_outcomes` (e.g. ["running", "succeeded"]) one poll at a time.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PUBLIC = "/api/public/v1"
CONFIG = "/api/v1"
MASK = "**********"
SECRETS = {"password", "private_key", "private_key_password"}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    body: dict | None


def _masked(value):
    if isinstance(value, dict):
        return {k: (MASK if k in SECRETS else _masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


@dataclass
class AirbyteStub:
    workspace_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_id: str = "stub-client"
    client_secret: str = "stub-secret"
    job_outcomes: list[str] = field(default_factory=lambda: ["running", "succeeded"])
    sources: dict = field(default_factory=dict)
    destinations: dict = field(default_factory=dict)
    connections: dict = field(default_factory=dict)
    jobs: dict = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    stored_secrets: dict = field(default_factory=dict)  # what was sent, unmasked, for assertions

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> AirbyteStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def _dispatch(self, method: str):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                query = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(parts.query).items()}
                stub.requests.append(Recorded(method, parts.path, query, body))
                status, payload = stub.handle(method, parts.path, query, body, self.headers)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._dispatch("GET")

            def do_POST(self):
                self._dispatch("POST")

            def do_PATCH(self):
                self._dispatch("PATCH")

            def do_DELETE(self):
                self._dispatch("DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self) -> dict[str, str]:
        return {
            "FINEFINANCE_INGESTION": "airbyte",
            "FINEFINANCE_AIRBYTE_URL": self.url,
            "FINEFINANCE_AIRBYTE_WORKSPACE_ID": self.workspace_id,
            "FINEFINANCE_AIRBYTE_CLIENT_ID": self.client_id,
            "FINEFINANCE_AIRBYTE_CLIENT_SECRET": self.client_secret,
            "FINEFINANCE_AIRBYTE_POLL_INTERVAL": "0.05",
        }

    def calls(self, method: str | None = None, path_prefix: str = "") -> list[Recorded]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method)
            and r.path.startswith(path_prefix)
            and not r.path.endswith("/applications/token")
        ]

    def writes(self) -> list[Recorded]:
        return [
            r
            for r in self.calls()
            if r.method in ("POST", "PATCH", "DELETE") and "/jobs" not in r.path and not r.path.startswith(CONFIG)
        ]

    # -- seeding (a connection as the bootstrap would leave it) -----------------------------
    def add_connection(self, name: str, streams: list[dict], destination_type: str = "snowflake") -> str:
        destination_id = str(uuid.uuid4())
        self.destinations[destination_id] = {
            "destinationId": destination_id,
            "name": "seeded destination",
            "destinationType": destination_type,
            "workspaceId": self.workspace_id,
            "configuration": {"database": "FINEFINANCE", "schema": "RAW"},
        }
        connection_id = str(uuid.uuid4())
        self.connections[connection_id] = {
            "connectionId": connection_id,
            "name": name,
            "sourceId": str(uuid.uuid4()),
            "destinationId": destination_id,
            "workspaceId": self.workspace_id,
            "status": "active",
            "schedule": {"scheduleType": "manual"},
            "namespaceDefinition": "custom_format",
            "namespaceFormat": "raw",
            "prefix": "",
            "configurations": {"streams": streams},
        }
        return connection_id

    # -- the API ----------------------------------------------------------------------------
    def handle(self, method, path, query, body, headers):
        if method == "POST" and path == f"{PUBLIC}/applications/token":
            if (body or {}).get("client_id") != self.client_id or body.get("client_secret") != self.client_secret:
                return 401, {"message": "invalid client credentials"}
            return 200, {"access_token": "stub-token", "token_type": "Bearer", "expires_in": 180}
        if headers.get("Authorization") != "Bearer stub-token":
            return 401, {"message": "missing or invalid bearer token"}

        if path.startswith(CONFIG + "/"):
            if method == "POST" and path == f"{CONFIG}/connections/get":
                connection = self.connections.get(body.get("connectionId"))
                return (200, self._config_connection(connection)) if connection else (404, {})
            return 404, {"message": f"no config endpoint {path}"}

        route = path.removeprefix(PUBLIC).strip("/").split("/")
        if route[0] == "workspaces" and len(route) == 2 and method == "GET":
            if route[1] != self.workspace_id:
                return 404, {"message": "workspace not found"}
            return 200, {"workspaceId": self.workspace_id, "name": "stub", "dataResidency": "auto"}
        if route[0] in ("sources", "destinations", "connections"):
            return self._crud(route, method, query, body)
        if route[0] == "jobs":
            return self._jobs(route, method, query, body)
        return 404, {"message": f"no endpoint {method} {path}"}

    def _collection(self, name: str) -> dict:
        return {"sources": self.sources, "destinations": self.destinations, "connections": self.connections}[name]

    def _crud(self, route, method, query, body):
        kind = route[0]
        items = self._collection(kind)
        id_key = f"{kind[:-1]}Id"
        if len(route) == 1 and method == "GET":
            if query.get("workspaceIds") != self.workspace_id:
                return 400, {"message": "workspaceIds required"}
            return 200, {"data": [self._public(kind, item) for item in items.values()], "next": ""}
        if len(route) == 1 and method == "POST":
            item_id = str(uuid.uuid4())
            item = {id_key: item_id, **copy.deepcopy(body)}
            if kind != "connections":
                type_key = f"{kind[:-1]}Type"
                configuration = item["configuration"]
                item[type_key] = configuration.pop(type_key)
                self.stored_secrets[item_id] = copy.deepcopy(configuration)
            else:
                item["workspaceId"] = self.workspace_id
            items[item_id] = item
            return 200, self._public(kind, item)
        item = items.get(route[1]) if len(route) == 2 else None
        if item is None:
            return 404, {"message": f"{kind} not found"}
        if method == "GET":
            return 200, self._public(kind, item)
        if method == "PATCH":
            for key, value in copy.deepcopy(body).items():
                if key == "configuration":
                    value.pop(f"{kind[:-1]}Type", None)
                    self.stored_secrets[route[1]] = copy.deepcopy(value)
                item[key] = value
            return 200, self._public(kind, item)
        return 405, {}

    @staticmethod
    def _public(kind, item):
        return _masked(item) if kind != "connections" else copy.deepcopy(item)

    def _config_connection(self, connection):
        # the configuration API's view: a syncCatalog of every selected stream
        return {
            "connectionId": connection["connectionId"],
            "name": connection["name"],
            "prefix": connection.get("prefix", ""),
            "sourceId": connection["sourceId"],
            "destinationId": connection["destinationId"],
            "status": connection["status"],
            "syncCatalog": {
                "streams": [
                    {
                        "stream": {
                            "name": stream["name"],
                            "jsonSchema": {
                                "type": "object",
                                "properties": {"updated_at": {"type": "string", "format": "date-time"}},
                            },
                        },
                        "config": {
                            "selected": True,
                            "syncMode": "incremental",
                            "destinationSyncMode": "append_dedup",
                            "cursorField": stream.get("cursorField", []),
                            "primaryKey": stream.get("primaryKey", []),
                        },
                    }
                    for stream in connection["configurations"]["streams"]
                ]
            },
        }

    def _jobs(self, route, method, query, body):
        if len(route) == 1 and method == "POST":
            if body.get("connectionId") not in self.connections or body.get("jobType") != "sync":
                return 400, {"message": "unknown connection or job type"}
            job_id = len(self.jobs) + 1
            self.jobs[job_id] = {
                "jobId": job_id,
                "status": "pending",
                "jobType": "sync",
                "connectionId": body["connectionId"],
                "startTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "_outcomes": list(self.job_outcomes),
            }
            return 200, self._job(job_id)
        if len(route) == 1 and method == "GET":
            rows = [self._job(j) for j, job in self.jobs.items() if job["connectionId"] == query.get("connectionId")]
            return 200, {"data": rows, "next": ""}
        job = self.jobs.get(int(route[1])) if len(route) == 2 else None
        if job is None:
            return 404, {"message": "job not found"}
        if method == "GET":
            if job["_outcomes"]:
                job["status"] = job["_outcomes"].pop(0)
            return 200, self._job(job["jobId"])
        if method == "DELETE":
            job["status"], job["_outcomes"] = "cancelled", []
            return 200, self._job(job["jobId"])
        return 405, {}

    def _job(self, job_id):
        return {k: v for k, v in self.jobs[job_id].items() if not k.startswith("_")}
