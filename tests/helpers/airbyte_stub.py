"""A local stand-in for Airbyte's API, so tests run the real dagster-airbyte client and bootstrap.

Answers, on a free loopback port, what those clients call:
- public API (`/api/public/v1`): POST applications/token; GET workspaces/{id}; sources,
  destinations, connections (GET list, POST, GET/PATCH by id); jobs (POST, GET list,
  GET/DELETE by id);
- configuration API (`/api/v1`): POST connections/get (the syncCatalog dagster-airbyte reads).
Every request is recorded (method, path, query, body). Like Airbyte, it masks secrets in what
it returns and wants a bearer token from the client credentials on every other call. A sync
job walks through `job_outcomes` (e.g. ["running", "succeeded"]) one poll at a time.

Stricter than Airbyte, against the specs vendored in tests/data/specs/airbyte (PROVENANCE.md):
- every public-API request must be an operation of `api.yaml`, with only the query parameters
  it declares and a body that validates against its request schema, unknown fields refused;
- every source/destination `configuration` must validate against its connector's
  connectionSpecification, unknown keys refused at every level (the real connector would
  silently ignore them: that is how `number_data_type` went unnoticed);
- refusals are HTTP 400 with one line naming the bad field, as Airbyte answers "Invalid data";
- every 200 answer is checked against the operation's response schema: a stub drifting from the
  API answers 500 instead, so the clients' tests fail.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

PUBLIC = "/api/public/v1"
CONFIG = "/api/v1"
MASK = "**********"
SECRETS = {"password", "private_key", "private_key_password"}
SPECS = Path(__file__).resolve().parents[1] / "data" / "specs" / "airbyte"
API_URI = "urn:airbyte:api.yaml"
# the connectors the stub knows, by (kind, type key value): definition id and vendored spec
CONNECTORS = {
    ("source", "postgres"): ("decd338e-5647-4c0b-adf4-da0e75f5a750", "source-postgres.json"),
    ("destination", "snowflake"): ("424892c4-daac-4491-b35d-c6688ba547ba", "destination-snowflake.json"),
}


class Refused(Exception):
    """A request the real API (or the stricter stub) turns down: HTTP status and one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _strict(schema, in_all_of: bool = False):
    """A copy of a schema where every object with declared properties refuses any other key.

    Members of an allOf are left open (each sees only part of the properties). A required name
    the object does not declare is dropped: with unknown keys refused it could never be sent
    (api.yaml's ApplicationTokenRequestWithGrant requires `grant_type` but declares `grant-type`;
    the server does not enforce it and dagster-airbyte sends neither).
    """
    if isinstance(schema, list):
        return [_strict(item, in_all_of) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copied = {key: _strict(value, key == "allOf") for key, value in schema.items()}
    if isinstance(schema.get("properties"), dict) and not in_all_of:
        copied["additionalProperties"] = False
        if isinstance(copied.get("required"), list):
            copied["required"] = [name for name in copied["required"] if name in schema["properties"]]
    return copied


def _first_error(validator, instance) -> str | None:
    errors = list(validator.iter_errors(instance))
    if not errors:
        return None
    error = max(errors, key=jsonschema.exceptions.relevance)
    # in a oneOf (credentials, ssl_mode, ...) report the branch the value chose, i.e. whose
    # discriminator (const/enum) matched, rather than "not one of" another branch's values
    while error.context:
        branches: dict = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        chosen = [errors for errors in branches.values() if not any(e.validator in ("const", "enum") for e in errors)]
        if len(chosen) != 1:
            break
        error = chosen[0][0]
    return f"{error.json_path}: {error.message}"


@functools.cache
def _api() -> dict:
    return yaml.safe_load((SPECS / "api.yaml").read_text())


@functools.cache
def _api_registry() -> Registry:
    resource = Resource.from_contents(_strict(_api()), default_specification=DRAFT202012)
    return Registry().with_resource(API_URI, resource)


@functools.cache
def _api_validator(schema_ref: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": f"{API_URI}{schema_ref}"}, registry=_api_registry())


@functools.cache
def _connector_validator(filename: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(_strict(json.loads((SPECS / filename).read_text())))


@dataclass(frozen=True)
class Operation:
    method: str
    template: str  # as api.yaml names the path, e.g. /sources/{sourceId}
    pattern: re.Pattern
    parameters: frozenset  # declared query parameter names
    request_ref: str | None  # "#/components/schemas/..." of the JSON body, if any
    response_ref: str | None  # same, of the 200 answer


@functools.cache
def _operations() -> tuple[Operation, ...]:
    operations = []
    for template, item in _api()["paths"].items():
        shared = item.get("parameters", [])
        pattern = re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$")
        for method, operation in item.items():
            if method == "parameters":
                continue
            parameters = [*shared, *operation.get("parameters", [])]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            answer = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
            operations.append(
                Operation(
                    method.upper(),
                    template,
                    pattern,
                    frozenset(p["name"] for p in parameters if p.get("in") == "query"),
                    body.get("schema", {}).get("$ref"),
                    answer.get("schema", {}).get("$ref"),
                )
            )
    return tuple(operations)


def find_operation(method: str, route: str) -> Operation | None:
    """The api.yaml operation for a path under /api/public/v1 (e.g. /sources/123)."""
    # a literal path (/sources/initiateOAuth) wins over a templated one (/sources/{sourceId})
    matches = [op for op in _operations() if op.method == method and op.pattern.match(route)]
    return min(matches, key=lambda op: op.template.count("{"), default=None)


def check_request(operation: Operation, query: dict, body) -> None:
    """Refuses what api.yaml does not declare: unknown query parameters, an invalid body."""
    unknown = sorted(set(query) - operation.parameters)
    if unknown:
        raise Refused(400, f"{operation.method} {operation.template}: unknown query parameter {unknown[0]!r}")
    if operation.request_ref is None:
        return
    if body is None:
        raise Refused(400, f"{operation.method} {operation.template}: a JSON body is required")
    problem = _first_error(_api_validator(operation.request_ref), body)
    if problem:
        raise Refused(400, f"{operation.method} {operation.template} {problem}")


def check_response(operation: Operation, payload) -> str | None:
    """Why a 200 answer does not have the shape api.yaml gives it (None when it does)."""
    if operation.response_ref is None:
        return None
    return _first_error(_api_validator(operation.response_ref), payload)


def check_configuration(kind: str, type_name: str, configuration: dict, definition_id: str | None = None) -> None:
    """Refuses a connector configuration its connectionSpecification does not allow."""
    known = CONNECTORS.get((kind, type_name))
    if known is None:
        raise Refused(400, f"{kind} type {type_name!r}: the stub has no vendored connector spec for it")
    if definition_id is not None and definition_id != known[0]:
        raise Refused(400, f"$.definitionId: {definition_id} is not the {type_name} {kind} ({known[0]})")
    problem = _first_error(_connector_validator(known[1]), configuration)
    if problem:
        raise Refused(400, f"{kind} {type_name} configuration {problem.replace('$', '$.configuration', 1)}")


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
    refusals: list[str] = field(default_factory=list)  # every 4xx line the stub answered
    answer_errors: list[str] = field(default_factory=list)  # its own answers outside the spec

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
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")  # refused below: not a JSON object
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
            "definitionId": CONNECTORS[("destination", destination_type)][0],
            "createdAt": int(time.time()),
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
            "createdAt": int(time.time()),
            "tags": [],
        }
        return connection_id

    # -- the API ----------------------------------------------------------------------------
    def handle(self, method, path, query, body, headers):
        operation = find_operation(method, path.removeprefix(PUBLIC)) if path.startswith(PUBLIC + "/") else None
        try:
            if operation is not None:
                check_request(operation, query, body)
            status, payload = self._answer(method, path, query, body, headers)
        except Refused as refusal:
            status, payload = refusal.status, {"message": str(refusal)}
        if status >= 400:
            self.refusals.append(f"{method} {path}: HTTP {status} {payload.get('message', '') if payload else ''}")
        elif operation is not None and status == 200:
            problem = check_response(operation, payload)
            if problem:
                message = f"stub answer to {method} {operation.template} is outside api.yaml: {problem}"
                self.answer_errors.append(message)
                return 500, {"message": message}
        return status, payload

    def _answer(self, method, path, query, body, headers):
        if path.startswith(PUBLIC + "/") and find_operation(method, path.removeprefix(PUBLIC)) is None:
            return 404, {"message": f"api.yaml has no operation {method} {path.removeprefix(PUBLIC)}"}
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
            return 200, {"workspaceId": self.workspace_id, "name": "stub", "dataResidency": "auto", "notifications": {}}
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
            item = {id_key: item_id, **copy.deepcopy(body), "createdAt": int(time.time())}
            if kind != "connections":
                type_key = f"{kind[:-1]}Type"
                configuration = item["configuration"]
                type_name = configuration.get(type_key) or self._type_of(kind[:-1], body.get("definitionId"))
                check_configuration(kind[:-1], type_name, configuration, body.get("definitionId"))
                configuration.pop(type_key, None)
                item[type_key] = type_name
                item["definitionId"] = CONNECTORS[(kind[:-1], type_name)][0]
                self.stored_secrets[item_id] = copy.deepcopy(configuration)
            else:
                for end in ("sourceId", "destinationId"):
                    if body[end] not in self._collection(f"{end[:-2]}s"):
                        raise Refused(400, f"$.{end}: no {end[:-2]} {body[end]} in the workspace")
                item.update(workspaceId=self.workspace_id, tags=[])
                item.setdefault("status", "active")
                item.setdefault("schedule", {"scheduleType": "manual"})
                item.setdefault("configurations", {"streams": []})
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
                    type_key = f"{kind[:-1]}Type"
                    check_configuration(kind[:-1], item[type_key], {type_key: item[type_key], **value})
                    value.pop(type_key, None)
                    self.stored_secrets[route[1]] = copy.deepcopy(value)
                item[key] = value
            return 200, self._public(kind, item)
        return 405, {}

    @staticmethod
    def _type_of(kind: str, definition_id: str | None) -> str:
        for (known_kind, type_name), (known_id, _) in CONNECTORS.items():
            if known_kind == kind and known_id == definition_id:
                return type_name
        raise Refused(400, f"$.definitionId: {definition_id!r} is no {kind} definition the stub knows")

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
