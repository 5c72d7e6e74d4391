"""The embedded identity provider: start, stop, status, its two clients, demo users and their tokens.

Like the embedded PostgreSQL it listens on 127.0.0.1 only and keeps its state under
`<FINEFINANCE_HOME>/identity/`: `provider.json` (0600: its signing key, the clients' secrets, the
dashboards' cookie secret and the demo users' password, generated once), `canaille.sqlite` (users,
clients, tokens), `server.json` (pid and port while it runs) and `provider.log`.

Two clients, as at the bank's provider in production:
- the dashboards (`FINEFINANCE_OIDC_DASHBOARD_CLIENT_ID`): authorization code flow with PKCE,
  used by Streamlit's `st.login`;
- the statement API (`FINEFINANCE_OIDC_API_AUDIENCE`): the audience of the access tokens the
  statement service accepts; `finefinance token` obtains one for a demo user with the password grant.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode, urlsafe_b64encode
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from finefinance_platform.errors import FineFinanceError
from finefinance_platform.file_lock import held
from finefinance_platform.settings import Settings
from finefinance_platform.source.embedded_postgres import free_loopback_port, port_is_free

DEFAULT_PORT = 55480
START_TIMEOUT_SECONDS = 60
DEMO_OTHER_CUSTOMERS = 5  # besides every customer of the first advisor


class IdentityError(FineFinanceError):
    """The embedded identity provider cannot be started, reached or administered; the message says why."""


@dataclass(frozen=True)
class ProviderStatus:
    running: bool
    pid: int | None
    port: int | None
    state_dir: Path

    @property
    def issuer(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.running else None

    def describe(self) -> str:
        if not self.running:
            return f"embedded identity provider is stopped (state in {self.state_dir})"
        return f"embedded identity provider (Canaille) is running (pid {self.pid}) at {self.issuer}"


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    id: str | None  # customer or advisor id
    name: str
    advisor: str | None = None  # a customer's advisor's username


class EmbeddedIdentityProvider:
    def __init__(self, settings: Settings):
        if not settings.identity.embedded:
            raise IdentityError(
                f"FINEFINANCE_OIDC_ISSUER is set ({settings.identity.issuer}): people sign in at that provider, "
                "the embedded one is not used"
            )
        self.settings = settings
        self.root = settings.home / "identity"
        self.state_file = self.root / "provider.json"
        self.server_file = self.root / "server.json"
        self.database = self.root / "canaille.sqlite"
        self.log_file = self.root / "provider.log"
        self._holding_lock = False

    # -- state ------------------------------------------------------------------------------------
    def state(self) -> dict:
        """The provider's secrets, generated once (O_EXCL: two processes starting together agree)."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.state_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            for _ in range(50):  # another process may be writing it right now
                text = self.state_file.read_text()
                if text.strip():
                    return json.loads(text)
                time.sleep(0.1)
            raise IdentityError(f"{self.state_file} is empty: delete it to generate new provider keys") from None
        from joserfc.jwk import RSAKey

        key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "use": "sig"}, private=True)
        state = {
            "secret_key": secrets.token_urlsafe(48),
            "jwk": key.as_dict(private=True),
            "dashboard_client_secret": secrets.token_urlsafe(32),
            "api_client_secret": secrets.token_urlsafe(32),
            "cookie_secret": secrets.token_urlsafe(32),
            # each demo user's password is derived from this secret (demo_password()): no two share one
            "demo_password_secret": secrets.token_urlsafe(32),
        }
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle)
        return state

    def demo_password(self, username: str) -> str:
        """The demo user's own password: an HMAC of their name under the provider's secret, so no two
        demo users (the director included) share a password and none is stored in clear."""
        state = self.state()
        if "demo_password_secret" not in state:
            raise IdentityError(
                f"{self.state_file} comes from an older version that gave every demo user one password: "
                f"`finefinance identity stop`, delete {self.root} and start again"
            )
        secret = state["demo_password_secret"].encode()
        digest = hmac.new(secret, username.encode(), hashlib.sha256).digest()
        return "demo-" + urlsafe_b64encode(digest[:12]).decode()

    # -- process ----------------------------------------------------------------------------------
    def status(self) -> ProviderStatus:
        if not self.server_file.exists():
            return ProviderStatus(False, None, None, self.root)
        info = json.loads(self.server_file.read_text())
        pid, port = info["pid"], info["port"]
        if not _is_our_server(pid):
            return ProviderStatus(False, None, None, self.root)
        return ProviderStatus(True, pid, port, self.root)

    @contextmanager
    def _one_at_a_time(self):
        """Starting, stopping and administering the provider hold `identity/provider.lock`:
        `serve` and `dashboard` started together would otherwise both see no provider and both start
        one for the same home, or both create the same demo user. Re-entrant within this object."""
        if self._holding_lock:
            yield
            return
        waiting = "waiting: another command is starting or administering the identity provider"
        with held(self.root / "provider.lock", waiting):
            self._holding_lock = True
            try:
                yield
            finally:
                self._holding_lock = False

    def start(self) -> ProviderStatus:
        """Start the provider if it is not running (idempotent); return where it listens."""
        with self._one_at_a_time():
            return self._start()

    def _start(self) -> ProviderStatus:
        current = self.status()
        if current.running:
            return current
        state = self.state()
        wanted = self.settings.identity.embedded_port or DEFAULT_PORT
        if port_is_free(wanted):
            port = wanted
        elif self.settings.identity.embedded_port:
            raise IdentityError(f"FINEFINANCE_IDENTITY_PORT={wanted} is in use by another program")
        else:
            port = free_loopback_port()
        process = self._launch(port, state)
        if process is None:
            # another provider took the port between our check and our start (two platforms
            # starting at once): ours could not bind it, so it runs on a free port instead
            if self.settings.identity.embedded_port:
                raise IdentityError(f"FINEFINANCE_IDENTITY_PORT={wanted} was taken by another provider while starting")
            port = free_loopback_port()
            process = self._launch(port, state)
            if process is None:
                raise IdentityError(f"port {port} was taken by another provider while starting: try again")
        self.server_file.write_text(json.dumps({"pid": process.pid, "port": port}))
        self.ensure_clients(state)
        return self.status()

    def _launch(self, port: int, state: dict) -> subprocess.Popen | None:
        """Start the server on `port` and wait until it answers with our signing key; None when
        another provider answers there (ours then exits: it could not bind the port)."""
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "finefinance_platform.identity.server", "--state", str(self.root),
                 "--port", str(port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        issuer = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                if _another_provider_answers(issuer, state["jwk"]["kid"]):
                    return None  # it could not bind the port: another provider has it
                raise IdentityError(
                    f"the identity provider exited with {process.returncode} while starting: see {self.log_file}"
                )
            try:
                ours = _publishes_key(issuer, state["jwk"]["kid"])
                break
            except (OSError, ValueError, KeyError):
                if time.monotonic() > deadline:
                    process.terminate()
                    raise IdentityError(
                        f"the identity provider did not answer within {START_TIMEOUT_SECONDS} s: see {self.log_file}"
                    ) from None
                time.sleep(0.2)
        if not ours:
            process.terminate()
            process.wait(timeout=10)
            return None
        return process

    def stop(self) -> ProviderStatus:
        with self._one_at_a_time():
            return self._stop()

    def _stop(self) -> ProviderStatus:
        current = self.status()
        if current.running:
            os.kill(current.pid, 15)
            deadline = time.monotonic() + 10
            while _is_our_server(current.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _is_our_server(current.pid):
                os.kill(current.pid, 9)
        self.server_file.unlink(missing_ok=True)
        return self.status()

    def issuer(self) -> str:
        current = self.status()
        if not current.running:
            raise IdentityError("the embedded identity provider is not running: `finefinance identity start`")
        return current.issuer

    # -- administration (in this process, on the provider's database) ------------------------------
    @contextmanager
    def admin(self):
        """Canaille's models and backend, in an application context on the provider's database."""
        current = self.status()
        if not current.running:
            raise IdentityError("the embedded identity provider is not running: `finefinance identity start`")
        app = _admin_app(str(self.root), current.port)
        from canaille.app import models
        from canaille.backends import Backend

        with app.app_context():
            yield models, Backend.instance

    def ensure_clients(self, state: dict | None = None, dashboard_ports: tuple[int, ...] = ()) -> None:
        """The dashboards' and the statement API's clients (idempotent); `dashboard_ports` adds redirect URIs."""
        state = state or self.state()
        identity = self.settings.identity
        with self._one_at_a_time(), self.admin() as (models, backend):
            api = backend.get(models.Client, client_id=identity.api_audience)
            if api is None:
                api = models.Client(client_id=identity.api_audience)
            api.client_name = "FineFinance statement service"
            api.client_secret = state["api_client_secret"]
            api.grant_types = ["password", "refresh_token"]
            api.response_types = []
            api.scope = ["openid", "profile", "finefinance"]
            api.token_endpoint_auth_method = "client_secret_basic"
            backend.save(api)
            api.audience = [api]
            backend.save(api)

            dashboards = backend.get(models.Client, client_id=identity.dashboard_client_id)
            if dashboards is None:
                dashboards = models.Client(client_id=identity.dashboard_client_id)
            redirects = set(dashboards.redirect_uris or [])
            for port in dashboard_ports:
                redirects.add(identity.dashboard_redirect_uri.replace("{port}", str(port)))
            dashboards.client_name = "FineFinance dashboards"
            # on a trusted domain (127.0.0.1) Canaille asks no consent: the bank's own application
            dashboards.client_uri = "http://127.0.0.1"
            dashboards.client_secret = state["dashboard_client_secret"]
            dashboards.grant_types = ["authorization_code", "refresh_token"]
            dashboards.response_types = ["code"]
            dashboards.scope = ["openid", "profile", "finefinance"]
            dashboards.redirect_uris = sorted(redirects)
            # Streamlit sends people back to its /oauth2callback after signing out at the provider too
            dashboards.post_logout_redirect_uris = sorted(redirects)
            dashboards.token_endpoint_auth_method = "client_secret_basic"
            backend.save(dashboards)
            dashboards.audience = [dashboards]
            backend.save(dashboards)

    def ensure_users(self, users: list[DemoUser]) -> int:
        """Create the demo users that do not exist yet; return how many were created.

        Looking them up means building Canaille's app (about 2 s), which every `finefinance users`
        and every reader's start would wait for: the list last ensured is remembered by a digest
        beside the database, tied to that database file, and not looked up again while both hold."""
        digest = hashlib.sha256(repr(sorted((u.username, u.role, u.id) for u in users)).encode()).hexdigest()
        marker = self.root / "demo_users.sha256"
        if self._users_marker(digest) == _read(marker):
            return 0
        created = 0
        with self._one_at_a_time(), self.admin() as (models, backend):
            for user in users:
                existing = backend.get(models.User, user_name=user.username)
                if existing is not None:
                    if (existing.title, existing.employee_number) != (user.role, user.id):
                        # never let a name clash hand one person's sign-in to another's data
                        raise IdentityError(f"demo user {user.username} exists for another {existing.title}")
                    continue
                first, _, last = user.name.partition(" ")
                backend.save(
                    models.User(
                        user_name=user.username,
                        given_name=first or user.name,
                        family_name=last or user.name,
                        formatted_name=user.name,
                        display_name=user.name,
                        title=user.role,
                        employee_number=user.id,
                        password=self.demo_password(user.username),
                    )
                )
                created += 1
            marker.write_text(self._users_marker(digest))
        return created

    def _users_marker(self, digest: str) -> str:
        # the database's inode: a provider home made anew (or its database replaced) looks again
        inode = self.database.stat().st_ino if self.database.exists() else "none"
        return f"{digest} {inode}"

    def password_token(self, username: str) -> dict:
        """The provider's token response for a demo user (password grant, statement API client)."""
        state = self.state()
        identity = self.settings.identity
        basic = b64encode(f"{identity.api_audience}:{state['api_client_secret']}".encode()).decode()
        body = urllib.parse.urlencode(
            {
                "grant_type": "password",
                "username": username,
                "password": self.demo_password(username),
                "scope": "openid profile finefinance",
            }
        ).encode()
        request = urllib.request.Request(
            f"{self.issuer()}/oauth/token", data=body, headers={"Authorization": f"Basic {basic}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise IdentityError(f"the identity provider refused a token for {username}: {exc.read().decode()}") from exc


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


_admin: dict = {}


def _admin_app(root: str, port: int):
    """Canaille's app for the provider in `root`, made once per process and provider. Canaille keeps
    its database connection in class attributes (one backend per process), so the app is made anew
    whenever another provider (another FINEFINANCE_HOME) was administered in between."""
    from finefinance_platform.identity.server import create_provider_app

    if _admin.get("key") != (root, port):
        state_dir = Path(root)
        state = json.loads((state_dir / "provider.json").read_text())
        _admin.update(key=(root, port), app=create_provider_app(state, port, state_dir / "canaille.sqlite"))
    return _admin["app"]


def _publishes_key(issuer: str, kid: str) -> bool:
    """Does the provider answering at `issuer` sign with the key `kid` (ours)?"""
    with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=2) as response:
        jwks_uri = json.load(response)["jwks_uri"]
    with urllib.request.urlopen(jwks_uri, timeout=2) as response:
        return kid in {key.get("kid") for key in json.load(response).get("keys", [])}


def _another_provider_answers(issuer: str, kid: str) -> bool:
    try:
        return not _publishes_key(issuer, kid)
    except (OSError, ValueError, KeyError):
        return False


def _is_our_server(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"finefinance_platform.identity.server" in cmdline


# -- demo users from the simulated data ----------------------------------------------------------------


def customer_username(customer_id: str) -> str:
    return f"customer-{customer_id[:8]}"


def advisor_username(advisor_id: str) -> str:
    return f"advisor-{advisor_id[:8]}"


DIRECTOR = DemoUser("director", "director", None, "Demo Director")


def demo_users(con) -> list[DemoUser]:
    """One director, every advisor, every customer of the first advisor and a handful of others."""
    advisors = con.execute(
        "select cast(advisor_id as varchar), firstname || ' ' || surname from marts.dim_advisor "
        "order by surname, firstname, advisor_id"
    ).fetchall()
    users = [DIRECTOR] + [DemoUser(advisor_username(a), "advisor", a, name) for a, name in advisors]
    if not advisors:
        return users
    customers = con.execute(
        """
        select cast(customer_id as varchar), firstname || ' ' || surname, cast(advisor_id as varchar),
               row_number() over (partition by advisor_id order by surname, firstname, customer_id) as rank
        from marts.dim_customer order by surname, firstname, customer_id
        """
    ).fetchall()
    first_advisor = advisors[0][0]
    mine = [c for c in customers if c[2] == first_advisor]
    others = [c for c in customers if c[2] != first_advisor and c[3] == 1][:DEMO_OTHER_CUSTOMERS]
    users += [
        DemoUser(customer_username(c), "customer", c, name, advisor_username(advisor))
        for c, name, advisor, _ in mine + others
    ]
    return users


def customer_user(con, customer_id: str) -> DemoUser:
    row = con.execute(
        "select cast(customer_id as varchar), firstname || ' ' || surname from marts.dim_customer "
        "where cast(customer_id as varchar) = ?",
        [customer_id],
    ).fetchone()
    if row is None:
        from finefinance_platform.statements.model import UnknownCustomerError

        raise UnknownCustomerError(f"unknown customer {customer_id!r}: not in marts.dim_customer")
    return DemoUser(customer_username(row[0]), "customer", row[0], row[1])
