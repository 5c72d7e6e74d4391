"""When a dashboard session ends: when its identity token expires, and at sign-out, on the server.

Streamlit (1.67) keeps the ID token's claims in a signed cookie that lives 30 days
(`AUTH_COOKIE_MAX_AGE_SECONDS`, a constant: no setting) and never looks at the token's `exp`; its
sign-out only asks the browser to delete the cookie, so a copy taken before still signs in. Both
checks are therefore the platform's, made on every script run by `common.current_principal()`:

- the token's `exp` has passed: the session has ended (the person signs in again at the provider);
- the session was signed out: at sign-out, a digest of what makes this sign-in unique (issuer,
  subject, issued-at, nonce, sid) goes to a small deny list, <home>/dashboard/signed_out.sqlite
  (0600). Rows are dropped once their token has expired: by then `exp` refuses the cookie anyway,
  so the list only ever holds sessions that could still be alive.

No clock skew allowance: the provider and the dashboards share the machine (or NTP) and a session
that ends a few seconds early costs a sign-in, one that ends late is what this module prevents.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path

from finefinance_platform.settings import Settings

EXPIRED = "expired"
SIGNED_OUT = "signed out"
DENY_LIST = Path("dashboard") / "signed_out.sqlite"


def deny_list_path(settings: Settings) -> Path:
    return settings.home / DENY_LIST


def session_key(claims: Mapping) -> str:
    """One sign-in, not one person: the nonce (and iat) differ at each sign-in, so signing out
    ends this session and a later sign-in of the same person still works."""
    parts = [claims.get(name) for name in ("iss", "sub", "iat", "nonce", "sid")]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _exp(claims: Mapping) -> float | None:
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)


@contextmanager
def _connect(settings: Settings) -> Iterator[sqlite3.Connection]:
    path = deny_list_path(settings)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # created 0600 before SQLite opens it (SQLite would create it with the umask's mode)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    with closing(sqlite3.connect(path, timeout=10)) as con:
        con.execute("create table if not exists signed_out (session text primary key, exp real not null)")
        yield con


def ended(claims: Mapping, now: float | None, settings: Settings) -> str | None:
    """Why the session of these (signature-checked) claims has ended, or None if it is still alive.

    Claims without a usable `exp` end at once: a session must have an end."""
    now = time.time() if now is None else now
    exp = _exp(claims)
    if exp is None or exp <= now:
        return EXPIRED
    if not deny_list_path(settings).exists():
        return None
    with _connect(settings) as con:
        row = con.execute("select 1 from signed_out where session = ?", (session_key(claims),)).fetchone()
    return SIGNED_OUT if row else None


def sign_out(claims: Mapping, now: float | None, settings: Settings) -> None:
    """Deny this session from now on (until its token expires), and forget the sessions whose
    token has expired since."""
    now = time.time() if now is None else now
    exp = _exp(claims)
    if exp is None or exp <= now:
        return  # already refused by its expiry
    with _connect(settings) as con, con:
        con.execute("delete from signed_out where exp <= ?", (now,))
        con.execute("insert or replace into signed_out (session, exp) values (?, ?)", (session_key(claims), exp))
