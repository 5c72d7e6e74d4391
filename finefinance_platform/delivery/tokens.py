"""Bearer tokens for the statement service: a signed JWT (HS256) naming one customer, with an expiry.

The signing secret comes from FINEFINANCE_STATEMENT_SECRET. The embedded demo, with nothing set,
generates one once and keeps it in `<FINEFINANCE_HOME>/statement_secret` (mode 0600): never in the
repository, and the same for `finefinance token` and `finefinance serve`.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets

import jwt

from finefinance_platform.settings import FineFinanceError, Settings, SettingsError

ALGORITHM = "HS256"
ISSUER = "finefinance"
AUDIENCE = "finefinance-statements"
DEFAULT_TTL = dt.timedelta(hours=1)
MIN_SECRET_LENGTH = 32  # HS256 wants a key at least as long as its 256-bit hash
SECRET_FILE = "statement_secret"


class TokenError(FineFinanceError):
    """Missing, malformed, tampered or expired token (the HTTP service answers 401)."""


def statement_secret(settings: Settings) -> str:
    if settings.statement_secret:
        if len(settings.statement_secret) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"FINEFINANCE_STATEMENT_SECRET is too short ({len(settings.statement_secret)} characters): "
                f"use at least {MIN_SECRET_LENGTH} random characters"
            )
        return settings.statement_secret
    path = settings.home / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting together agree on one secret; 0600 from the first byte
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text().strip()
        if len(secret) < MIN_SECRET_LENGTH:
            raise SettingsError(f"{path} holds no usable secret: delete it to generate a new one") from None
        return secret
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret


def issue_token(customer_id: str, secret: str, ttl: dt.timedelta = DEFAULT_TTL, now: dt.datetime | None = None) -> str:
    if ttl <= dt.timedelta(0):
        raise SettingsError(f"token lifetime must be positive, got {ttl}")
    now = now or dt.datetime.now(dt.UTC)
    claims = {"sub": str(customer_id), "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, secret: str) -> str:
    """The customer id the token was issued for; TokenError for anything else."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],  # never trust the token's own `alg` (no `none`, no key confusion)
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["sub", "exp", "iat", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token: {exc}") from exc
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise TokenError("invalid token: no customer")
    return subject
