"""The Keycloak realm (deploy/keycloak/finefinance-realm.json) as Keycloak would import it, and the tokens it would
issue, checked by the platform's own code.

Keycloak cannot run here (no Docker), so its rules are modelled from its source (keycloak/keycloak). The compose
image is quay.io/keycloak/keycloak:26.4, tag 26.4.x; that tag's tree could not be fetched (the repository is over
the size this workplace can copy), so the rules were read from the 26.x versions of the files in the public source
index (they carry 26.x features: organizations, admin permissions, "to be removed in Keycloak 27"). The places are
named by file and method rather than by line, which differ between those versions and the tag:

- services/.../services/managers/RealmManager.java, importRealm(rep): creates `offline_access` (setupOfflineTokens,
  a realm *optional* scope) unless the representation declares it, and Keycloak's built-in scopes
  (createDefaultClientScopes) only `if (rep.getClientScopes() == null)`. A realm that declares any client scope
  gets none of `basic`, `profile`, `email`, `roles`, `web-origins`, `acr`, ...
- model/storage-private/.../datastore/DefaultExportImportManager.java, importRealm: creates the declared scopes
  (createClientScopes), then `defaultDefaultClientScopes` / `defaultOptionalClientScopes`, looked up among the
  *declared* scopes only (another name: "Referenced client scope '%s' doesn't exist", skipped), then the clients.
- server-spi-private/.../models/utils/RepresentationToModel.java, createClient: setProtocol fires
  ClientProtocolUpdatedEvent, on which AbstractLoginProtocolFactory.addDefaultClientScopes gives the client the
  realm's default and optional scopes of its protocol; then updateClientScopes: when the client declares
  defaultClientScopes or optionalClientScopes, exactly those, each looked up by name (addClientScopeToClient: a
  missing one is "Referenced client scope '%s' doesn't exist. Ignoring", skipped).
- services/.../protocol/oidc/TokenManager.java, isValidScope (called by AuthorizationEndpointChecker.checkValidScope,
  whose refusal is `invalid_scope`): `openid` is removed from the requested scopes (TokenUtil.isOIDCRequest); every
  other requested name must be one of getRequestedClientScopes (the client's default scopes, plus its optional
  scopes the request names); none at all is a refusal too.
- TokenManager.initToken: the access token gets jti, typ (`Bearer`), iat, azp, iss, scope, sid, exp; `sub` only
  for a transient session. Otherwise `sub` comes from the `oidc-sub-mapper` of the `basic` scope
  (OIDCLoginProtocolFactory.addBasicClientScope, mappers/SubMapper.java, an access-token mapper only).
  AccessTokenResponseBuilder.generateIDToken: the ID token's sub (the user id), aud (the client), azp, nonce, typ `ID`.
- mappers/AbstractOIDCProtocolMapper.java: a mapper writes into the access token only if its config has
  `access.token.claim` "true", into the ID token only if `id.token.claim` "true" (OIDCAttributeMapperHelper);
  mappers/AudienceProtocolMapper.java adds `included.client.audience` (else `included.custom.audience`) to `aud`;
  the realm-role mapper writes the user's realm roles, composites expanded (the realm's default role and its
  `offline_access`, `uma_authorization` beside the granted one), a list when `multivalued`.

Any mapper type the model does not know fails the test, so a new mapper cannot be silently left out.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import tomllib
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from finefinance_platform.access.policy import Principal, Role
from finefinance_platform.access.tokens import AccessTokenVerifier, TokenError
from finefinance_platform.dashboards import write_auth_secrets
from finefinance_platform.settings import REPO_ROOT

REALM_FILE = REPO_ROOT / "deploy" / "keycloak" / "finefinance-realm.json"
OIDC = "openid-connect"
# the values compose gives the realm's placeholders (docker-compose.yml, .env.example)
PLACEHOLDERS = {
    "FINEFINANCE_OIDC_DASHBOARD_CLIENT_ID": "finefinance-dashboards",
    "FINEFINANCE_OIDC_DASHBOARD_CLIENT_SECRET": "dashboard-secret",
    "FINEFINANCE_OIDC_API_AUDIENCE": "finefinance-statements",
    "FINEFINANCE_OIDC_API_CLIENT_SECRET": "api-secret",
    "FINEFINANCE_DASHBOARD_PUBLIC_URL": "https://dashboards.bank.example",
    "FINEFINANCE_CUSTOMER_APP_URL": "https://app.bank.example",
}
DASHBOARDS, API = PLACEHOLDERS["FINEFINANCE_OIDC_DASHBOARD_CLIENT_ID"], PLACEHOLDERS["FINEFINANCE_OIDC_API_AUDIENCE"]
# what customers' applications may ask the statement API's client for (docs/access.md: they sign in through it)
API_REQUESTS = ("openid", "openid finefinance", "openid profile finefinance")

# RealmManager.importRealm with no clientScopes in the representation: OIDCLoginProtocolFactory.
# createDefaultClientScopesImpl (realm default: True, optional: False). Only `basic`'s mappers are modelled.
BUILT_IN_SCOPES = {
    "profile": True, "email": True, "address": False, "phone": False, "roles": True, "web-origins": True,
    "microprofile-jwt": False, "acr": True, "basic": True, "organization": False,
}  # fmt: skip
BASIC_MAPPERS = [
    {"name": "sub", "protocolMapper": "oidc-sub-mapper", "config": {"access.token.claim": "true"}},
    {
        "name": "auth_time",
        "protocolMapper": "oidc-usersessionmodel-note-mapper",
        "config": {"user.session.note": "AUTH_TIME", "claim.name": "auth_time", "jsonType.label": "long",
                   "id.token.claim": "true", "access.token.claim": "true"},
    },
]  # fmt: skip


def _resolve(value, placeholders=PLACEHOLDERS):
    """Keycloak's import replaces ${VAR} from the environment (keycloak.import's placeholder substitution)."""
    text = json.dumps(value)
    for name, replacement in placeholders.items():
        text = text.replace("${" + name + "}", replacement)
    return json.loads(text)


# ------------------------------------------------------------------------------------------- import model


@dataclass
class Client:
    client_id: str
    default_scopes: list[str]
    optional_scopes: list[str]
    mappers: list[dict]
    enabled: bool


@dataclass
class ImportedRealm:
    name: str
    scopes: dict[str, dict]  # name -> representation (mappers None: a built-in whose mappers are not modelled)
    default_scopes: list[str]  # the realm's defaults for clients created later
    optional_scopes: list[str]
    clients: dict[str, Client]
    roles: set[str]
    access_token_lifespan: int
    warnings: list[str] = field(default_factory=list)


def import_realm(rep: dict) -> ImportedRealm:
    """What Keycloak's import creates from the representation (module docstring: the rules and their sources)."""
    scopes: dict[str, dict] = {}
    default, optional, warnings = [], [], []
    declared = rep.get("clientScopes")
    names = [scope["name"] for scope in declared or []]
    assert len(names) == len(set(names)), "a scope declared twice fails the import (unique name per realm)"
    # RealmManager.importRealm -> setupOfflineTokens: offline_access, a realm optional scope, unless declared
    if "offline_access" not in names:
        scopes["offline_access"] = {"name": "offline_access", "protocol": OIDC, "protocolMappers": []}
        optional.append("offline_access")
    # RealmManager.importRealm: `if (rep.getClientScopes() == null) createDefaultClientScopes(realm)`
    if declared is None:
        for name, is_default in BUILT_IN_SCOPES.items():
            scopes[name] = {
                "name": name,
                "protocol": OIDC,
                "protocolMappers": BASIC_MAPPERS if name == "basic" else None,
            }
            (default if is_default else optional).append(name)
    # DefaultExportImportManager.importRealm: createClientScopes, then the realm's defaults among those created
    for scope in declared or []:
        scopes[scope["name"]] = scope
    for key, target in (("defaultDefaultClientScopes", default), ("defaultOptionalClientScopes", optional)):
        for name in rep.get(key) or []:
            if name in names:
                target.append(name)
            else:
                warnings.append(f"Referenced client scope '{name}' doesn't exist")
    clients = {}
    for client_rep in rep.get("clients") or []:
        protocol = client_rep.get("protocol") or OIDC
        # createClient -> setProtocol -> ClientProtocolUpdatedEvent -> addDefaultClientScopes (same protocol only)
        client_default = [n for n in default if scopes[n].get("protocol", OIDC) == protocol]
        client_optional = [n for n in optional if scopes[n].get("protocol", OIDC) == protocol]
        # updateClientScopes: declared lists replace them; each name looked up, a missing one ignored
        if client_rep.get("defaultClientScopes") is not None or client_rep.get("optionalClientScopes") is not None:
            wanted = {n: False for n in client_rep.get("optionalClientScopes") or []}
            wanted.update({n: True for n in client_rep.get("defaultClientScopes") or []})
            client_default, client_optional = [], []
            for name, is_default in wanted.items():
                if name not in scopes:
                    warnings.append(f"Referenced client scope '{name}' doesn't exist. Ignoring")
                    continue
                (client_default if is_default else client_optional).append(name)
        clients[client_rep["clientId"]] = Client(
            client_id=client_rep["clientId"],
            default_scopes=client_default,
            optional_scopes=client_optional,
            mappers=client_rep.get("protocolMappers") or [],
            enabled=client_rep.get("enabled", True),
        )
    roles = {role["name"] for role in (rep.get("roles") or {}).get("realm", [])}
    return ImportedRealm(
        name=rep["realm"],
        scopes=scopes,
        default_scopes=default,
        optional_scopes=optional,
        clients=clients,
        roles=roles,
        access_token_lifespan=rep.get("accessTokenLifespan", 300),
        warnings=warnings,
    )


class InvalidScope(Exception):
    """Keycloak's authorization endpoint answers `invalid_scope` ("Invalid scopes: ...")."""


def requested_client_scopes(client: Client, scope_param: str) -> list[str]:
    """TokenManager.isValidScope, then getRequestedClientScopes: the scopes whose mappers shape the tokens."""
    requested = [name for name in scope_param.split(" ") if name]
    scopes = client.default_scopes + [name for name in requested if name in client.optional_scopes]
    raw = {name for name in requested if name != "openid"}  # `openid` is the protocol's, never a client scope
    if raw and (not scopes or not raw <= set(scopes)):
        raise InvalidScope(f"Invalid scopes: {scope_param} (client {client.client_id} has {scopes})")
    return scopes


# ------------------------------------------------------------------------------------------- token model


@dataclass
class User:
    id: str
    username: str
    first_name: str
    last_name: str
    realm_role: str
    attributes: dict[str, str]


def _realm_roles(realm: ImportedRealm, user: User) -> list[str]:
    """The user's realm roles with composites expanded: the granted one, and the realm's default role
    (default-roles-<realm>, composite of offline_access and uma_authorization) every user holds."""
    assert user.realm_role in realm.roles
    return [f"default-roles-{realm.name}", "offline_access", "uma_authorization", user.realm_role]


def _apply_mapper(claims: dict, mapper: dict, user: User, realm: ImportedRealm, session: dict) -> None:
    config, kind = mapper.get("config", {}), mapper["protocolMapper"]
    claim = config.get("claim.name")
    assert claim is None or "." not in claim, "a dotted claim name nests objects: not modelled"
    if kind == "oidc-sub-mapper":
        claims["sub"] = user.id
    elif kind == "oidc-audience-mapper":
        audience = config.get("included.client.audience") or config.get("included.custom.audience")
        if audience:  # JsonWebToken.addAudience; one audience is written as a string, more as a list
            current = claims.get("aud")
            values = [] if current is None else current if isinstance(current, list) else [current]
            values += [audience] if audience not in values else []
            claims["aud"] = values[0] if len(values) == 1 else values
    elif kind == "oidc-usermodel-realm-role-mapper":
        assert config.get("multivalued") == "true", "a single-valued role claim is not modelled"
        claims[claim] = _realm_roles(realm, user)
    elif kind == "oidc-usermodel-attribute-mapper":
        assert config.get("multivalued") != "true" and config.get("jsonType.label") == "String"
        builtin = {"username": user.username, "firstName": user.first_name, "lastName": user.last_name}
        value = builtin.get(config["user.attribute"], user.attributes.get(config["user.attribute"]))
        if value is not None:
            claims[claim] = value
    elif kind == "oidc-full-name-mapper":
        claims["name"] = f"{user.first_name} {user.last_name}".strip()
    elif kind == "oidc-usersessionmodel-note-mapper":
        value = session.get(config["user.session.note"])
        if value is not None:
            claims[claim] = int(value) if config.get("jsonType.label") == "long" else value
    else:
        raise AssertionError(f"mapper {kind} ({mapper['name']}) is not modelled: model it before using it")


def issue_tokens(realm: ImportedRealm, client_id: str, scope_param: str, user: User, issuer: str) -> tuple[dict, dict]:
    """(access token claims, ID token claims) of an authorization-code sign-in, as TokenManager shapes them."""
    client = realm.clients[client_id]
    assert client.enabled, f"{client_id} is disabled"
    scopes = requested_client_scopes(client, scope_param)
    now = int(time.time())
    session = {"AUTH_TIME": str(now), "id": str(uuid.uuid4())}
    # initToken (no sub: sessions of a code flow are persistent, not transient)
    access = {
        "exp": now + realm.access_token_lifespan,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "iss": issuer,
        "typ": "Bearer",
        "azp": client_id,
        "sid": session["id"],
        "scope": " ".join(
            ["openid"] * ("openid" in scope_param.split())
            + [n for n in scopes if realm.scopes[n].get("attributes", {}).get("include.in.token.scope") == "true"]
        ),
    }
    # generateIDToken
    id_token = {
        "exp": access["exp"],
        "iat": now,
        "jti": str(uuid.uuid4()),
        "iss": issuer,
        "aud": client_id,
        "sub": user.id,
        "typ": "ID",
        "azp": client_id,
        "nonce": "n-" + uuid.uuid4().hex,
        "sid": session["id"],
        "at_hash": "h-" + uuid.uuid4().hex[:22],
    }
    # the mappers of the requested scopes, then the client's own (getRequestedClientScopes includes the client)
    mappers = [m for name in scopes for m in _scope_mappers(realm, name)] + client.mappers
    for mapper in mappers:
        if mapper["config"].get("access.token.claim") == "true":
            _apply_mapper(access, mapper, user, realm, session)
        if mapper["config"].get("id.token.claim") == "true":
            _apply_mapper(id_token, mapper, user, realm, session)
    return access, id_token


def _scope_mappers(realm: ImportedRealm, name: str) -> list[dict]:
    mappers = realm.scopes[name].get("protocolMappers")
    assert mappers is not None, f"the built-in scope {name}'s mappers are not modelled"
    return mappers


# ------------------------------------------------------------------------------------------- a provider


def _b64(number: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes((number.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


class Provider:
    """The realm's signing key and the two documents a resource server reads (discovery, JWKS), served on
    loopback like Keycloak's /realms/<realm>/.well-known/openid-configuration and .../certs."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        numbers = self.key.public_key().public_numbers()
        public = {"kty": "RSA", "n": _b64(numbers.n), "e": _b64(numbers.e)}
        jwks = {
            "keys": [
                {**public, "kid": self.kid, "alg": "RS256", "use": "sig"},
                # Keycloak also publishes an encryption key (RSA-OAEP): a verifier must not take it for a signing key
                {**public, "kid": uuid.uuid4().hex, "alg": "RSA-OAEP", "use": "enc"},
            ]
        }
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                documents = {
                    "/realms/finefinance/.well-known/openid-configuration": {
                        "issuer": provider.issuer,
                        "jwks_uri": f"{provider.issuer}/protocol/openid-connect/certs",
                    },
                    "/realms/finefinance/protocol/openid-connect/certs": jwks,
                }
                body = json.dumps(documents[self.path]).encode() if self.path in documents else b"{}"
                self.send_response(200 if self.path in documents else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}/realms/finefinance"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def sign(self, claims: dict) -> str:
        # Keycloak's JWS header: alg, typ JWT, kid
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})


@pytest.fixture(scope="module")
def provider():
    provider = Provider()
    yield provider
    provider.server.shutdown()
    provider.server.server_close()


@pytest.fixture(scope="module")
def realm_rep() -> dict:
    return _resolve(json.loads(REALM_FILE.read_text()))


@pytest.fixture(scope="module")
def realm(realm_rep) -> ImportedRealm:
    return import_realm(realm_rep)


@pytest.fixture(scope="module")
def dashboards_scope(tmp_path_factory) -> str:
    """The scope the dashboards really request: their own secrets file, written by the platform."""
    identity = SimpleNamespace(
        embedded=False,
        dashboard_client_secret="s",
        cookie_secret="c",
        dashboard_client_id=DASHBOARDS,
        dashboard_redirect_uri=PLACEHOLDERS["FINEFINANCE_DASHBOARD_PUBLIC_URL"] + "/oauth2callback",
    )
    settings = SimpleNamespace(identity=identity, home=tmp_path_factory.mktemp("home"))
    path = write_auth_secrets(settings, "https://login.bank.example/realms/finefinance")
    return tomllib.loads(path.read_text())["auth"]["client_kwargs"]["scope"]


USERS = {
    Role.CUSTOMER: User(str(uuid.uuid4()), "c.dupont", "Claire", "Dupont", "customer", {"customer_id": "cust-1"}),
    Role.ADVISOR: User(str(uuid.uuid4()), "a.martin", "Alain", "Martin", "advisor", {"advisor_id": "adv-7"}),
    Role.DIRECTOR: User(str(uuid.uuid4()), "d.bernard", "Denise", "Bernard", "director", {}),
}


def _expected(role: Role, user: User) -> Principal:
    return Principal(
        user.id, role, customer_id=user.attributes.get("customer_id"), advisor_id=user.attributes.get("advisor_id")
    )


# ------------------------------------------------------------------------------------------- tests


def test_every_scope_a_client_or_the_realm_names_exists_after_import(realm_rep, realm):
    assert realm.warnings == []  # no "Referenced client scope ... doesn't exist"
    for client_rep in realm_rep["clients"]:
        client = realm.clients[client_rep["clientId"]]
        named = (client_rep.get("defaultClientScopes") or []) + (client_rep.get("optionalClientScopes") or [])
        if "defaultClientScopes" not in client_rep and "optionalClientScopes" not in client_rep:
            continue  # admin-cli (disabled) names none: it keeps the realm's defaults
        assert set(named) == set(client.default_scopes + client.optional_scopes), client.client_id
    # the platform's clients get a subject (basic), names (profile) and the platform's claims, nothing else:
    # no offline_access (no offline tokens), no realm default left over
    for client_id in (DASHBOARDS, API):
        assert realm.clients[client_id].default_scopes == ["basic", "profile", "finefinance"]
        assert realm.clients[client_id].optional_scopes == []
    # a client an administrator adds later gets a subject too, but not the platform's claims
    assert realm.default_scopes == ["basic", "profile"] and "finefinance" not in realm.optional_scopes
    assert {m["protocolMapper"] for m in realm.scopes["basic"]["protocolMappers"]} == {
        "oidc-sub-mapper",
        "oidc-usersessionmodel-note-mapper",
    }


def test_every_user_attribute_a_mapper_reads_is_declared_and_edited_by_administrators_only(realm_rep):
    (provider,) = realm_rep["components"]["org.keycloak.userprofile.UserProfileProvider"]
    (config,) = provider["config"]["kc.user.profile.config"]
    attributes = {a["name"]: a for a in json.loads(config)["attributes"]}
    read = {
        m["config"]["user.attribute"]
        for scope in realm_rep["clientScopes"]
        for m in scope["protocolMappers"]
        if "user.attribute" in m["config"]
    }
    assert read == {"username", "firstName", "lastName", "customer_id", "advisor_id"}
    for name in read:
        assert attributes[name]["permissions"]["edit"] == ["admin"], name


def test_the_dashboards_request_is_valid_and_their_id_token_reads_as_each_role(realm, provider, dashboards_scope):
    assert dashboards_scope == "openid profile finefinance"
    for role, user in USERS.items():
        access, id_claims = issue_tokens(realm, DASHBOARDS, dashboards_scope, user, provider.issuer)
        # Streamlit keeps the ID token's claims (st.user); the pages read them through Principal.from_claims
        assert Principal.from_claims(id_claims) == _expected(role, user)
        assert id_claims["name"] == f"{user.first_name} {user.last_name}"  # the sidebar's "Signed in as"
        assert id_claims["preferred_username"] == user.username and isinstance(id_claims["exp"], int)
        # the dashboards' tokens are not for the statement service: wrong audience, or an ID token
        verifier = AccessTokenVerifier(provider.issuer, API)
        for claims in (access, id_claims):
            with pytest.raises(TokenError):
                verifier.principal(provider.sign(claims))


@pytest.mark.parametrize("scope_param", API_REQUESTS)
def test_the_statement_service_accepts_the_access_tokens_of_the_realm(realm, provider, scope_param):
    verifier = AccessTokenVerifier(provider.issuer, API)
    for role, user in USERS.items():
        access, id_claims = issue_tokens(realm, API, scope_param, user, provider.issuer)
        assert verifier.principal(provider.sign(access)) == _expected(role, user)
        assert access["sub"] == user.id and access["aud"] == API and access["typ"] == "Bearer"
        assert access["role"] == ["default-roles-finefinance", "offline_access", "uma_authorization", role.value]
        assert "name" not in access  # names stay in the ID token: the statement service needs none
        # the statement API's own ID token names it as audience, yet is refused (it is no access token)
        assert id_claims["aud"] == API
        with pytest.raises(TokenError, match="ID token|not an access token"):
            verifier.principal(provider.sign(id_claims))


def test_a_scope_the_client_does_not_have_is_refused_as_keycloak_does(realm):
    with pytest.raises(InvalidScope):
        requested_client_scopes(realm.clients[API], "openid email")
    with pytest.raises(InvalidScope):
        requested_client_scopes(realm.clients[DASHBOARDS], "openid offline_access")
    assert requested_client_scopes(realm.clients[DASHBOARDS], "openid") == ["basic", "profile", "finefinance"]


def test_a_realm_without_client_scopes_gets_keycloaks_built_ins():
    realm = import_realm({"realm": "r", "clients": [{"clientId": "c"}]})
    assert {"basic", "profile", "email", "roles", "web-origins", "offline_access"} <= set(realm.scopes)
    assert "basic" in realm.clients["c"].default_scopes and "offline_access" in realm.clients["c"].optional_scopes


def _realm_before_issue_23() -> dict:
    """Today's realm in the shape it had before issue 23 (commit 0252c10): `finefinance` the only
    declared scope, the clients naming the built-ins `openid`, `profile` and `email` as if they existed."""
    old = _resolve(json.loads(REALM_FILE.read_text()))
    old["clientScopes"] = [scope for scope in old["clientScopes"] if scope["name"] == "finefinance"]
    old.pop("defaultDefaultClientScopes", None)
    old.pop("defaultOptionalClientScopes", None)
    for client in old["clients"]:
        client.pop("optionalClientScopes", None)
        if client["clientId"] == DASHBOARDS:
            client["defaultClientScopes"] = ["openid", "profile", "email", "finefinance"]
        elif client["clientId"] == API:
            client["defaultClientScopes"] = ["openid", "profile", "finefinance"]
    return old


def test_the_realm_before_issue_23_signed_nobody_in(provider):
    """What these tests would have caught: the realm declared only `finefinance`, so the import created no
    `basic` or `profile`; the dashboards' request was `invalid_scope`; access tokens had no `sub`."""
    old = import_realm(_realm_before_issue_23())
    assert "Referenced client scope 'profile' doesn't exist. Ignoring" in old.warnings
    assert "basic" not in old.scopes and "profile" not in old.scopes
    with pytest.raises(InvalidScope):
        requested_client_scopes(old.clients[DASHBOARDS], "openid profile finefinance")
    access, _ = issue_tokens(old, API, "openid finefinance", USERS[Role.CUSTOMER], provider.issuer)
    assert "sub" not in access
    with pytest.raises(TokenError, match="sub"):
        AccessTokenVerifier(provider.issuer, API).principal(provider.sign(access))
