"""Access tokens of the identity provider, checked the way a resource server must.

The statement service accepts only the provider's own access tokens (JWTs). Every token is checked,
in this order, and anything unexpected (any header, algorithm, key id or claim shape) is a
`TokenError` (401), never an exception of PyJWT or of the JSON decoder (a 500):
- its shape: at most MAX_TOKEN_CHARS, a readable JOSE header naming a key id (`kid`);
- its key: one of the provider's published keys (its JWKS, found through its discovery document).
  Keys are kept KEYS_MAX_AGE_SECONDS, then fetched again; an unknown `kid` (a rotated key) fetches
  them again at once, but at most once every REFETCH_MIN_SECONDS, so tokens with random key ids
  cannot make the service hammer the provider. The discovery document is kept DISCOVERY_MAX_AGE_SECONDS;
- its algorithm: only what the key itself fits (the JWK's `alg` if it names one, else the family of
  its type: RSA -> RS/PS, EC -> the ES of its curve, OKP -> EdDSA). Never the token's own choice: no
  `none`, no HMAC with the public key as secret, no ES256 under an RSA key (PyJWT would raise a
  TypeError there, not an error of its own);
- signature, issuer, audience (the statement API's client id), expiry, with LEEWAY_SECONDS of skew;
- its age: `iat` no older than MAX_TOKEN_AGE_SECONDS (a stolen token with a far expiry ends anyway)
  and not in the future beyond the leeway;
- the shape of the claims naming the caller: `sub`, `customer_id`, `advisor_id` texts, `role` a text
  or a list of texts;
- its type: an access token, not an ID token or a refresh token presented as one:
  * header `typ`, when present, is `JWT` (Canaille, Keycloak) or `at+jwt` (RFC 9068);
  * claim `typ`, when present, is `Bearer`: Keycloak marks its tokens `Bearer`, `ID`, `Refresh`,
    `Offline` or `Logout`, all signed with the realm's keys;
  * no `nonce`, `at_hash` or `c_hash` claim: those belong to ID tokens (OpenID Connect Core 3.1.3.6,
    3.3.2.11), never to access tokens. The audience alone is not enough: an ID token's audience is the
    client that asked for it, and the statement API is itself a client (Keycloak lets customers'
    applications sign in through it), so its ID tokens name the statement API as their audience.
  Canaille's refresh tokens are opaque strings (not JWTs): they fail the shape check.

Refusal reasons are short fixed texts (they go to the access log): never the token's own text.
Only `IdentityProviderUnavailable` (the provider's keys cannot be fetched: a 503) is not a TokenError.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import jwt

from finefinance_platform.access.policy import Principal
from finefinance_platform.errors import FineFinanceError

LEEWAY_SECONDS = 30  # clock skew between the provider and this service
MAX_TOKEN_AGE_SECONDS = 24 * 3600  # tokens live an hour (Canaille, Keycloak's default: 5 min); a day is generous
MAX_TOKEN_CHARS = 16_000  # a JWT with a few claims is ~1 KB; anything far bigger is not one of the provider's
KEYS_MAX_AGE_SECONDS = 300  # keys are fetched again after this: a withdrawn key stops working within 5 minutes
REFETCH_MIN_SECONDS = 30  # at most one fetch of the keys per 30 s, however many unknown key ids come
DISCOVERY_MAX_AGE_SECONDS = 3600
FETCH_TIMEOUT_SECONDS = 10
MAX_DOCUMENT_BYTES = 1_000_000  # the discovery document and the JWKS are a few KB

# the algorithms each key type fits (asymmetric only); an EC key fits exactly the ES of its curve
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "secp256k1": "ES256K"}
OKP_ALGORITHMS = ("EdDSA",)
ACCESS_TOKEN_HEADER_TYPES = ("jwt", "at+jwt", "application/at+jwt")
ID_TOKEN_CLAIMS = ("nonce", "at_hash", "c_hash")
IDENTITY_CLAIMS = ("sub", "customer_id", "advisor_id")


class TokenError(FineFinanceError):
    """Missing, malformed, tampered, expired or foreign token (the HTTP service answers 401)."""


class IdentityProviderUnavailable(FineFinanceError):
    pass


def _fetch_json(url: str) -> dict:
    """A JSON document of the provider (its discovery document or its keys)."""
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310 (https, from the settings)
            document = json.loads(response.read(MAX_DOCUMENT_BYTES + 1)[:MAX_DOCUMENT_BYTES])
    except (OSError, ValueError) as exc:
        raise IdentityProviderUnavailable(f"the identity provider does not answer at {url} ({exc})") from exc
    if not isinstance(document, dict):
        raise IdentityProviderUnavailable(f"{url} is not a JSON object")
    return document


_discovered: dict[str, tuple[float, dict]] = {}
_discovery_lock = threading.Lock()


def discovery(issuer: str) -> dict:
    """The provider's discovery document, kept DISCOVERY_MAX_AGE_SECONDS (a failure is not kept)."""
    issuer = issuer.rstrip("/")
    with _discovery_lock:
        cached = _discovered.get(issuer)
        if cached and time.monotonic() - cached[0] < DISCOVERY_MAX_AGE_SECONDS:
            return cached[1]
        url = f"{issuer}/.well-known/openid-configuration"
        document = _fetch_json(url)
        if str(document.get("issuer", "")).rstrip("/") != issuer:
            raise IdentityProviderUnavailable(f"{url} names issuer {document.get('issuer')!r}, not {issuer!r}")
        if not isinstance(document.get("jwks_uri"), str):
            raise IdentityProviderUnavailable(f"{url} names no jwks_uri")
        _discovered[issuer] = (time.monotonic(), document)
        return document


def algorithms_for(jwk: dict) -> tuple[str, ...]:
    """The signature algorithms a published key fits: its own `alg`, else its type's family."""
    kty = jwk.get("kty")
    if kty == "RSA":
        family: tuple[str, ...] = RSA_ALGORITHMS
    elif kty == "EC" and jwk.get("crv") in EC_ALGORITHMS:
        family = (EC_ALGORITHMS[jwk["crv"]],)
    elif kty == "OKP":
        family = OKP_ALGORITHMS
    else:
        return ()  # `oct` (a shared secret) or unknown: never a key of a resource server
    alg = jwk.get("alg")
    if alg is not None:
        return (alg,) if alg in family else ()
    return family


class SigningKeys:
    """The provider's published signing keys by key id: kept KEYS_MAX_AGE_SECONDS, fetched again
    on an unknown key id at most once every REFETCH_MIN_SECONDS (whatever the number of requests)."""

    def __init__(self, jwks_uri: str):
        self.jwks_uri = jwks_uri
        self._keys: dict[str, tuple[jwt.PyJWK, tuple[str, ...]]] = {}
        self._fetched_at = float("-inf")  # last successful fetch
        self._attempted_at = float("-inf")  # last fetch, successful or not (the rate limit)
        self._lock = threading.Lock()

    def get(self, kid: str) -> tuple[jwt.PyJWK, tuple[str, ...]] | None:
        """(key, the algorithms it fits), or None when the provider publishes no such key."""
        with self._lock:
            now = time.monotonic()
            may_fetch = now - self._attempted_at >= REFETCH_MIN_SECONDS
            expired = now - self._fetched_at >= KEYS_MAX_AGE_SECONDS
            if may_fetch and (expired or kid not in self._keys):
                self._attempted_at = now
                self._keys = self._fetch()
                self._fetched_at = now
            elif expired:
                # keys too old to trust, and the provider was asked moments ago without success
                raise IdentityProviderUnavailable("the identity provider's keys have expired and cannot be fetched")
            return self._keys.get(kid)

    def _fetch(self) -> dict[str, tuple[jwt.PyJWK, tuple[str, ...]]]:
        entries = _fetch_json(self.jwks_uri).get("keys")
        if not isinstance(entries, list):
            raise IdentityProviderUnavailable(f"{self.jwks_uri} holds no keys")
        keys = {}
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str) or entry.get("use", "sig") != "sig":
                continue
            algorithms = algorithms_for(entry)
            try:
                key = jwt.PyJWK(entry, algorithms[0]) if algorithms else None
            except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                key = None  # a key this service cannot use: tokens signed with it are refused
            if key is not None:
                keys[entry["kid"]] = (key, algorithms)
        return keys


_signing_keys: dict[str, SigningKeys] = {}
_signing_keys_lock = threading.Lock()


def signing_keys(jwks_uri: str) -> SigningKeys:
    with _signing_keys_lock:
        return _signing_keys.setdefault(jwks_uri, SigningKeys(jwks_uri))


class AccessTokenVerifier:
    def __init__(self, issuer: str, audience: str):
        self.issuer = issuer.rstrip("/")
        self.audience = audience

    def claims(self, token: str) -> dict:
        try:
            return self._claims(token)
        except (TokenError, IdentityProviderUnavailable):
            raise
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenError("invalid token: wrong audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenError("invalid token: wrong issuer") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenError("invalid token: bad signature") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"invalid token: no {exc.claim[:20]} claim") from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenError("invalid token: issued in the future") from exc
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {type(exc).__name__}") from exc
        except Exception as exc:  # noqa: BLE001 (any other failure on attacker-chosen bytes is a bad token, not a 500)
            raise TokenError(f"invalid token: unreadable ({type(exc).__name__})") from exc

    def _claims(self, token: str) -> dict:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
            raise TokenError("invalid token: not a JWT")
        header = jwt.get_unverified_header(token)
        kid, alg, typ = header.get("kid"), header.get("alg"), header.get("typ")
        if not isinstance(kid, str) or not isinstance(alg, str):
            raise TokenError("invalid token: no key id or algorithm")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_HEADER_TYPES):
            raise TokenError("invalid token: not an access token (header typ)")
        found = signing_keys(discovery(self.issuer)["jwks_uri"]).get(kid)
        if found is None:
            raise TokenError("invalid token: no key of the provider has its key id")
        key, algorithms = found
        if alg not in algorithms:
            raise TokenError("invalid token: algorithm not allowed for the provider's key")
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[alg],  # checked above against the key: never the token's own choice
            audience=self.audience,
            issuer=self.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["sub", "exp", "iat", "iss", "aud"]},
        )
        self._check_age(claims)
        self._check_type(claims)
        self._check_identity_shape(claims)
        return claims

    @staticmethod
    def _check_age(claims: dict) -> None:
        issued_at = claims["iat"]
        if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
            raise TokenError("invalid token: iat is not a time")
        now = time.time()
        if issued_at > now + LEEWAY_SECONDS:
            raise TokenError("invalid token: issued in the future")
        if now - issued_at > MAX_TOKEN_AGE_SECONDS + LEEWAY_SECONDS:
            raise TokenError("invalid token: too old")

    @staticmethod
    def _check_type(claims: dict) -> None:
        typ = claims.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() != "bearer"):
            raise TokenError("invalid token: not an access token (typ claim)")
        if any(name in claims for name in ID_TOKEN_CLAIMS):
            raise TokenError("invalid token: an ID token, not an access token")

    @staticmethod
    def _check_identity_shape(claims: dict) -> None:
        """The claims naming who the caller is are texts (the role may be a list of them: Keycloak's realm
        roles); anything else is refused rather than turned into text (`{'id': ...}` is no customer id)."""
        role = claims.get("role")
        roles = role if isinstance(role, list) else [role]
        if not all(value is None or isinstance(value, str) for value in roles):
            raise TokenError("invalid token: claims of an unexpected shape")
        if any(claims.get(name) is not None and not isinstance(claims[name], str) for name in IDENTITY_CLAIMS):
            raise TokenError("invalid token: claims of an unexpected shape")

    def principal(self, token: str) -> Principal:
        claims = self.claims(token)
        try:
            return Principal.from_claims(claims)
        except Exception as exc:  # noqa: BLE001 (e.g. a role claim that is an object: a bad token, not a 500)
            raise TokenError("invalid token: claims of an unexpected shape") from exc
