"""Access tokens of the identity provider, checked the way a resource server must.

The statement service accepts only the provider's own access tokens (JWTs): the signature against
the provider's published keys (its JWKS, found through its discovery document), the issuer, the
audience (the statement API's client id), the expiry. Only asymmetric algorithms are accepted, so a
token can never be signed with a shared secret or with `none`. PyJWT does the checking; this
module only finds the keys and turns the verified claims into a `Principal`.
"""

from __future__ import annotations

import functools
import json
import urllib.request

import jwt

from finefinance_platform.access.policy import Principal
from finefinance_platform.errors import FineFinanceError

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
LEEWAY_SECONDS = 30  # clock skew between the provider and this service


class TokenError(FineFinanceError):
    """Missing, malformed, tampered, expired or foreign token (the HTTP service answers 401)."""


class IdentityProviderUnavailable(FineFinanceError):
    pass


@functools.cache
def discovery(issuer: str) -> dict:
    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (an http(s) URL from the settings)
            document = json.load(response)
    except OSError as exc:
        raise IdentityProviderUnavailable(f"the identity provider {issuer} does not answer ({exc})") from exc
    if document.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
        raise IdentityProviderUnavailable(f"{url} names issuer {document.get('issuer')!r}, not {issuer!r}")
    return document


@functools.cache
def _jwks_client(jwks_uri: str) -> jwt.PyJWKClient:
    # keys cached for 5 minutes; an unknown `kid` (a rotated key) refetches them
    return jwt.PyJWKClient(jwks_uri, cache_keys=True, lifespan=300)


class AccessTokenVerifier:
    def __init__(self, issuer: str, audience: str):
        self.issuer = issuer.rstrip("/")
        self.audience = audience

    def claims(self, token: str) -> dict:
        try:
            jwks = _jwks_client(discovery(self.issuer)["jwks_uri"])
            key = jwks.get_signing_key_from_jwt(token)
            return jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,  # never the token's own choice: no `none`, no HS with a public key
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["sub", "exp", "iat", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired") from exc
        except jwt.PyJWKClientError as exc:
            raise TokenError(f"invalid token: no key of the provider signed it ({exc})") from exc
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from exc

    def principal(self, token: str) -> Principal:
        return Principal.from_claims(self.claims(token))
