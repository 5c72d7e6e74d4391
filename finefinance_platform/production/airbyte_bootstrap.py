"""`finefinance airbyte bootstrap`: the platform's Airbyte source, destination and connection.

Declarative and idempotent: the desired configuration is built from the settings, compared with
what the workspace holds (found by name), and only what differs is created or patched through
Airbyte's public API (`/api/public/v1`). A second run changes nothing.

Airbyte never returns secrets (it masks them), so a masked value counts as unchanged; rotate a
password or key with `--update-secrets`, which sends them whatever the comparison says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from finefinance_platform.errors import FineFinanceError, SettingsError
from finefinance_platform.ingestion.airbyte import CONNECTION_NAME, RAW_NAMESPACE
from finefinance_platform.production import snowflake_setup as sf
from finefinance_platform.settings import SOURCE_SCHEMAS, Settings
from finefinance_platform.source.tables import SOURCE_TABLES

SOURCE_NAME = "finefinance_postgres"
DESTINATION_NAME = "finefinance_snowflake"
# The connectors the configurations are written for (docs/production.md): source-postgres 3.x
# (3.7.0) and destination-snowflake 4.x (4.0.33). Their ids come from each connector's
# metadata.yaml; tests/data/specs/airbyte holds both connectionSpecifications (PROVENANCE.md).
SOURCE_DEFINITION_ID = "decd338e-5647-4c0b-adf4-da0e75f5a750"
DESTINATION_DEFINITION_ID = "424892c4-daac-4491-b35d-c6688ba547ba"
DEFINITION_IDS = {"source": SOURCE_DEFINITION_ID, "destination": DESTINATION_DEFINITION_ID}
# what Airbyte answers in place of a stored secret
MASKED_SECRET = "**********"
SECRET_KEYS = frozenset({"password", "private_key", "private_key_password"})
# type discriminators: part of a create/patch body, not of the configuration Airbyte stores
TYPE_KEYS = frozenset({"sourceType", "destinationType"})
CURSOR_FIELD = "updated_at"
SYNC_MODE = "incremental_deduped_history"


@dataclass(frozen=True)
class Change:
    kind: str  # source | destination | connection
    name: str
    action: str  # created | updated | unchanged
    fields: tuple[str, ...] = ()  # top-level settings that differed (names only, never values)

    def describe(self) -> str:
        detail = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{self.kind} {self.name}: {self.action}{detail}"


@dataclass
class BootstrapResult:
    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(change.action != "unchanged" for change in self.changes)


class AirbyteApi:
    """Just enough of Airbyte's public API: bearer token from client credentials, JSON in/out."""

    def __init__(self, base_url: str, client_id: str, client_secret: str, timeout: float = 30):
        self.base_url = base_url.rstrip("/")
        self._credentials = {
            "client_id": client_id,
            "client_secret": client_secret,
            "grant-type": "client_credentials",
        }
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers.update({"accept": "application/json", "User-Agent": "finefinance"})
        self._token: str | None = None

    def _authenticate(self) -> None:
        response = self._session.post(
            f"{self.base_url}/applications/token", json=self._credentials, timeout=self.timeout
        )
        if response.status_code != 200:
            raise FineFinanceError(
                f"Airbyte refused the client credentials (FINEFINANCE_AIRBYTE_CLIENT_ID/"
                f"_CLIENT_SECRET) at {self.base_url}: HTTP {response.status_code}"
            )
        self._token = response.json()["access_token"]
        self._session.headers["Authorization"] = f"Bearer {self._token}"

    def request(self, method: str, path: str, body: dict | None = None, params: dict | None = None) -> Any:
        if self._token is None:
            self._authenticate()
        url = f"{self.base_url}/{path.lstrip('/')}"
        try:
            response = self._session.request(method, url, json=body, params=params, timeout=self.timeout)
            if response.status_code == 401:  # tokens are short-lived (minutes): renew once
                self._authenticate()
                response = self._session.request(method, url, json=body, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise FineFinanceError(f"Airbyte API unreachable ({method} {url}): {exc}") from exc
        if response.status_code >= 400:
            raise FineFinanceError(
                f"Airbyte API {method} {url} answered HTTP {response.status_code}: {response.text[:500]}"
            )
        return response.json() if response.content else None

    def list_all(self, path: str, workspace_id: str) -> list[dict]:
        items: list[dict] = []
        offset, limit = 0, 100
        while True:
            page = self.request("GET", path, params={"workspaceIds": workspace_id, "limit": limit, "offset": offset})
            items.extend(page.get("data", []))
            if not page.get("next") or not page.get("data"):
                return items
            offset += limit


# -- desired state -------------------------------------------------------------------------------


def _required(value: Any, name: str) -> Any:
    if not value:
        raise SettingsError(f"`finefinance airbyte bootstrap` needs {name} (see .env.example)")
    return value


def desired_source(settings: Settings) -> dict:
    """The PostgreSQL source, reading as the read-only role `finefinance_reader`."""
    url = urlsplit(settings.source_url(reader=True))
    return {
        "name": SOURCE_NAME,
        "configuration": {
            "sourceType": "postgres",
            "host": settings.airbyte.source_host or url.hostname,
            "port": settings.airbyte.source_port or url.port or 5432,
            "database": url.path.lstrip("/"),
            "schemas": list(SOURCE_SCHEMAS),
            "username": _required(url.username, "a user in FINEFINANCE_SOURCE_READER_URL"),
            "password": _required(url.password, "a password in FINEFINANCE_SOURCE_READER_URL"),
            "ssl_mode": {"mode": "prefer"},
            # cursor-based incremental ("Scan Changes with User Defined Cursor") on updated_at
            "replication_method": {"method": "Standard"},
            "tunnel_method": {"tunnel_method": "NO_TUNNEL"},
        },
    }


def desired_destination(settings: Settings) -> dict:
    """The Snowflake destination: the ingestion user and role, key-pair authentication."""
    snowflake = settings.snowflake
    account = _required(snowflake.account, "FINEFINANCE_SNOWFLAKE_ACCOUNT")
    key_path = _required(snowflake.ingest_private_key_path, "FINEFINANCE_SNOWFLAKE_INGEST_PRIVATE_KEY_PATH")
    if not key_path.is_file():
        raise SettingsError(f"FINEFINANCE_SNOWFLAKE_INGEST_PRIVATE_KEY_PATH={key_path} is not a file")
    credentials = {"auth_type": "Key Pair Authentication", "private_key": key_path.read_text()}
    if snowflake.ingest_private_key_passphrase:
        credentials["private_key_password"] = snowflake.ingest_private_key_passphrase
    return {
        "name": DESTINATION_NAME,
        "configuration": {
            "destinationType": "snowflake",
            "host": snowflake.host or f"{account}.snowflakecomputing.com",
            "role": sf.INGEST_ROLE,
            "warehouse": sf.INGEST_WAREHOUSE,
            "database": snowflake.database,
            "schema": RAW_NAMESPACE.upper(),
            "username": sf.INGEST_USER,
            "credentials": credentials,
            # Airbyte's own loading tables stay out of raw, in the one extra schema the
            # ingestion role may write (sql/snowflake/010_database.sql)
            "raw_data_schema": sf.AIRBYTE_INTERNAL_SCHEMA,
            # no setting for number types: destination-snowflake 4.x writes every number as FLOAT,
            # and staging casts amounts and balances back to exact decimals
        },
    }


def desired_connection(source_id: str, destination_id: str) -> dict:
    """The 8 tables, incremental + dedup on updated_at and the primary key, into `raw`."""
    return {
        "name": CONNECTION_NAME,
        "sourceId": source_id,
        "destinationId": destination_id,
        # Dagster triggers the syncs (the ingestion assets); Airbyte never runs on its own
        "schedule": {"scheduleType": "manual"},
        "namespaceDefinition": "custom_format",
        "namespaceFormat": RAW_NAMESPACE,
        "prefix": "",
        "nonBreakingSchemaUpdatesBehavior": "ignore",
        "status": "active",
        "configurations": {
            "streams": [
                {
                    "name": table.name,
                    "syncMode": SYNC_MODE,
                    "cursorField": [CURSOR_FIELD],
                    "primaryKey": [[column] for column in table.primary_key],
                }
                for table in SOURCE_TABLES
            ]
        },
    }


# -- comparison ----------------------------------------------------------------------------------


def _same(desired: Any, current: Any, update_secrets: bool, key: str | None = None) -> bool:
    if key in SECRET_KEYS and current == MASKED_SECRET:
        return not update_secrets
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(
            _same(value, current.get(name), update_secrets, name)
            for name, value in desired.items()
            if name not in TYPE_KEYS
        )
    return desired == current


def _streams_by_name(connection: dict) -> dict:
    streams = (connection.get("configurations") or {}).get("streams") or []
    return {stream["name"]: stream for stream in streams}


def differing_fields(desired: dict, current: dict, update_secrets: bool = False) -> tuple[str, ...]:
    """Top-level fields (and, for a connection, streams) whose desired value is not the current one."""
    fields: list[str] = []
    for name, value in desired.items():
        if name == "configurations":
            wanted, held = _streams_by_name(desired), _streams_by_name(current)
            if wanted.keys() != held.keys() or not all(
                _same(stream, held[stream_name], update_secrets) for stream_name, stream in wanted.items()
            ):
                fields.append("streams")
        elif not _same(value, current.get(name), update_secrets, name):
            fields.append(name)
    return tuple(fields)


# -- reconcile -----------------------------------------------------------------------------------


def _find_by_name(items: list[dict], name: str, kind: str) -> dict | None:
    matches = [item for item in items if item.get("name") == name]
    if len(matches) > 1:
        ids = ", ".join(str(item.get(f"{kind}Id")) for item in matches)
        raise FineFinanceError(f"the Airbyte workspace holds {len(matches)} {kind}s named {name!r} ({ids}): keep one")
    return matches[0] if matches else None


def _reconcile(
    api: AirbyteApi,
    kind: str,
    desired: dict,
    existing: dict | None,
    workspace_id: str | None,
    update_secrets: bool,
) -> tuple[str, Change]:
    collection, id_key = f"{kind}s", f"{kind}Id"
    if existing is None:
        # a connection belongs to its source's workspace: only sources and destinations name one,
        # and the connector definition their configuration is written for
        body = desired
        if workspace_id is not None:
            body = {**desired, "workspaceId": workspace_id, "definitionId": DEFINITION_IDS[kind]}
        created = api.request("POST", collection, body)
        return created[id_key], Change(kind, desired["name"], "created")
    current = api.request("GET", f"{collection}/{existing[id_key]}")
    type_key = f"{kind}Type"
    wanted_type = desired.get("configuration", {}).get(type_key)
    wrong_type = wanted_type and current.get(type_key) and current[type_key] != wanted_type
    wrong_definition = kind in DEFINITION_IDS and current.get("definitionId") not in (None, DEFINITION_IDS[kind])
    if wrong_type or wrong_definition:
        raise FineFinanceError(
            f"the Airbyte {kind} {desired['name']!r} is a {current.get(type_key)} {kind} "
            f"(definition {current.get('definitionId')}), not {wanted_type} ({DEFINITION_IDS[kind]}): "
            "rename or delete it"
        )
    fields = differing_fields(desired, current, update_secrets)
    if not fields:
        return existing[id_key], Change(kind, desired["name"], "unchanged")
    fixed = [name for name in ("sourceId", "destinationId") if name in fields]
    if fixed:
        # Airbyte cannot re-point a connection; recreating it would drop its sync state
        raise FineFinanceError(
            f"the Airbyte connection {desired['name']!r} ({existing[id_key]}) uses another "
            f"{' and '.join(fixed)} than {SOURCE_NAME}/{DESTINATION_NAME}: delete it in Airbyte, "
            "then run the bootstrap again"
        )
    # a connection's streams travel in `configurations`; every other field under its own name
    sent = ["configurations" if name == "streams" else name for name in fields]
    body = {name: desired[name] for name in sent}
    api.request("PATCH", f"{collection}/{existing[id_key]}", body)
    return existing[id_key], Change(kind, desired["name"], "updated", fields)


def bootstrap(settings: Settings, update_secrets: bool = False, api: AirbyteApi | None = None) -> BootstrapResult:
    airbyte = settings.airbyte
    workspace_id = _required(airbyte.workspace_id, "FINEFINANCE_AIRBYTE_WORKSPACE_ID")
    # build every desired piece before touching Airbyte: a missing setting changes nothing
    source = desired_source(settings)
    destination = desired_destination(settings)
    api = api or AirbyteApi(
        airbyte.rest_api_base_url,
        _required(airbyte.client_id, "FINEFINANCE_AIRBYTE_CLIENT_ID"),
        _required(airbyte.client_secret, "FINEFINANCE_AIRBYTE_CLIENT_SECRET"),
    )
    api.request("GET", f"workspaces/{workspace_id}")  # a wrong workspace id fails here, clearly

    result = BootstrapResult()
    source_id, change = _reconcile(
        api,
        "source",
        source,
        _find_by_name(api.list_all("sources", workspace_id), SOURCE_NAME, "source"),
        workspace_id,
        update_secrets,
    )
    result.changes.append(change)
    destination_id, change = _reconcile(
        api,
        "destination",
        destination,
        _find_by_name(api.list_all("destinations", workspace_id), DESTINATION_NAME, "destination"),
        workspace_id,
        update_secrets,
    )
    result.changes.append(change)
    connection = desired_connection(source_id, destination_id)
    existing = _find_by_name(api.list_all("connections", workspace_id), CONNECTION_NAME, "connection")
    _, change = _reconcile(api, "connection", connection, existing, None, update_secrets)
    result.changes.append(change)
    return result
