"""The embedded identity provider tried as an attacker would (issue 22): a signed-in person tries
every page of the provider to change who they are, guesses passwords at both doors, starts two
providers for one home at once, and reads the home's files as another local user would."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from helpers.delivery_fixtures import make_delivery_home, provider_processes, uid

from finefinance_platform.identity import throttle as throttle_module
from finefinance_platform.identity.provider import DemoUser, EmbeddedIdentityProvider, customer_username
from finefinance_platform.identity.server import ALLOWED_PAGES
from finefinance_platform.identity.throttle import FIRST_WAIT, FREE_FAILURES, MAX_WAIT, SignInThrottle

FINEFINANCE = str(Path(sys.executable).parent / "finefinance")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = make_delivery_home(tmp_path_factory.mktemp("identity-attacks"))
    yield home
    EmbeddedIdentityProvider(home.settings()).stop()


@pytest.fixture(scope="module")
def provider(home):
    provider = EmbeddedIdentityProvider(home.settings())
    provider.start()
    return provider


def cli(home, *args: str, umask: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FINEFINANCE, *args], env={**os.environ, **home.env()}, capture_output=True, text=True, timeout=180,
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
    )  # fmt: skip


def demo_customer(provider, key: str) -> str:
    user = DemoUser(customer_username(uid(key)), "customer", uid(key), key.title())
    provider.ensure_users([user])
    return user.username


def sign_in_at_the_provider(provider, username: str, password: str) -> tuple[httpx.Client, httpx.Response]:
    """The provider's own sign-in pages, as a browser fills them (CSRF tokens included)."""
    client = httpx.Client(base_url=provider.issuer(), follow_redirects=True, timeout=30)
    page = client.get("/login")
    page = client.post("/login", data={"csrf_token": CSRF.search(page.text)[1], "login": username})
    answer = client.post("/auth/password", data={"csrf_token": CSRF.search(page.text)[1], "password": password})
    return client, answer


def token_claims(provider, username: str, password: str) -> dict:
    identity = provider.settings.identity
    answer = httpx.post(
        f"{provider.issuer()}/oauth/token",
        data={"grant_type": "password", "username": username, "password": password,
              "scope": "openid profile finefinance"},
        auth=(identity.api_audience, provider.state()["api_client_secret"]),
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    return json.loads(base64.urlsafe_b64decode(answer.json()["access_token"].split(".")[1] + "=="))


def every_page_of_the_provider(provider, username: str) -> list[str]:
    """Every route Canaille has (not only the ones we know of), its parameters filled in with the
    attacker's own name, the `admin` group, the dashboards' client and junk."""
    from finefinance_platform.identity.provider import _admin_app

    app = _admin_app(str(provider.root), provider.status().port)
    clients = provider.settings.identity.dashboard_client_id
    fill = {
        "user": username, "edited_user": username, "puppet": "director", "username": username, "group": "admin",
        "client": clients, "client_id": clients,
        "email": "a@example.org", "identifier": "x", "data": "x", "hash": "x", "token": "x", "filename": "x.css",
        "consent": "x",
    }  # fmt: skip
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ALLOWED_PAGES:
            continue
        path = rule.rule
        for argument in rule.arguments:
            path = re.sub(rf"<[^>]*\b{argument}>", fill[argument], path)
        paths.append(path)
    return sorted(set(paths))


def test_a_signed_in_customer_cannot_change_who_they_are_on_any_page_of_the_provider(provider, home):
    username = demo_customer(provider, "alice")
    client, signed_in = sign_in_at_the_provider(provider, username, provider.demo_password(username))
    assert signed_in.url.path == f"/profile/{username}/auth/password"  # signed in: the one page they have
    # what an attacker sends to each page: the fields the claims come from, a group, an admin flag
    become_director = {
        "csrf_token": CSRF.search(signed_in.text)[1], "action": "edit-profile", "title": "director",
        "employee_number": uid("chloe"), "user_name": "director", "groups": "admin", "name": "admin",
        "display_name": "admin", "description": "admin", "lock_date": "",
    }  # fmt: skip
    pages = every_page_of_the_provider(provider, username)
    assert len(pages) > 50  # profile, settings, groups, users, clients, invitations, registration, …
    answered = {}
    for path in pages:
        for method in ("GET", "POST"):
            answer = client.request(method, path, data=become_director if method == "POST" else None)
            answered[f"{method} {path}"] = answer.status_code
    assert {request: code for request, code in answered.items() if code not in (404, 405)} == {}
    # the page they have takes a password and nothing else, whatever else is posted
    password_page = f"/profile/{username}/auth/password"
    client.post(password_page, data={**become_director, "action": "edit-password"})
    # dynamic client registration, as JSON
    assert client.post("/oauth/register", json={"redirect_uris": ["http://evil.example/cb"]}).status_code == 404

    claims = token_claims(provider, username, provider.demo_password(username))
    assert (claims["sub"], claims["role"], claims["customer_id"]) == (username, "customer", uid("alice"))
    assert "advisor_id" not in claims
    with provider.admin() as (models, backend):
        user = backend.get(models.User, user_name=username)
        assert (user.title, user.employee_number, user.groups) == ("customer", uid("alice"), [])
        assert backend.query(models.Group) == []


def test_a_person_changes_their_password_and_nothing_else(provider):
    username = demo_customer(provider, "didier")
    client, page = sign_in_at_the_provider(provider, username, provider.demo_password(username))
    new_password = "a-new-and-long-password-42"  # pragma: allowlist secret
    changed = client.post(
        page.url.path,
        data={"csrf_token": CSRF.search(page.text)[1], "action": "edit-password", "password1": new_password,
              "password2": new_password, "title": "director", "employee_number": uid("hugo")},
    )  # fmt: skip
    assert changed.status_code == 200
    claims = token_claims(provider, username, new_password)
    assert (claims["role"], claims["customer_id"]) == ("customer", uid("didier"))


def test_the_sign_in_pages_cannot_be_framed_or_cached(provider):
    for path in ("/login", "/.well-known/openid-configuration"):
        answer = httpx.get(f"{provider.issuer()}{path}")
        assert answer.status_code == 200
        assert answer.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"


# -- guessing passwords -------------------------------------------------------------------------------


def password_grant(provider, username: str, password: str, source: str = "127.0.0.1") -> int:
    """The password grant's answer, asked from the loopback address `source` (each its own client)."""
    identity = provider.settings.identity
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source)) as client:
        return client.post(
            f"{provider.issuer()}/oauth/token",
            data={"grant_type": "password", "username": username, "password": password, "scope": "openid"},
            auth=(identity.api_audience, provider.state()["api_client_secret"]),
        ).status_code


def test_guesses_at_both_doors_are_slowed_after_twenty_and_the_owner_gets_back_in_minutes(tmp_path):
    """NIST SP 800-63B rate limiting against the real provider: the token endpoint and the sign-in
    page share the count; past 20 failures even the right password waits; then it works again."""
    home = make_delivery_home(tmp_path / "guessing", publish=False, issue=False)
    provider = EmbeddedIdentityProvider(home.settings())
    provider.start()
    try:
        username = demo_customer(provider, "emma")
        right = provider.demo_password(username)
        wrong = [password_grant(provider, username, f"guess-{n}") for n in range(FREE_FAILURES)]
        assert set(wrong) == {400}
        assert password_grant(provider, username, right) == 200  # 20 typos: the owner still signs in
        wrong = [password_grant(provider, username, f"guess-{n}") for n in range(FREE_FAILURES + 1)]
        # the door is closed now: the right password is refused at both doors, without being compared
        assert password_grant(provider, username, right) == 400
        _, page = sign_in_at_the_provider(provider, username, right)
        assert "Too many failed sign-ins" in page.text
        # a guess while it is closed does not lengthen the wait: the owner is back within FIRST_WAIT
        assert password_grant(provider, username, "one-more-guess") == 400
        time.sleep(FIRST_WAIT + 0.5)
        assert password_grant(provider, username, right) == 200
        _, page = sign_in_at_the_provider(provider, username, right)
        assert page.url.path == f"/profile/{username}/auth/password"

        # one client guessing across accounts (password spraying, from its own address) is slowed too,
        # though no account reached its own limit; other clients are not
        others = [demo_customer(provider, key) for key in ("alice", "bruno", "chloe", "didier", "hugo", "claire")]
        per_account = throttle_module.FREE_FAILURES_PER_CLIENT // len(others) + 1
        assert per_account < FREE_FAILURES and per_account * len(others) > throttle_module.FREE_FAILURES_PER_CLIENT
        for other in others:
            for n in range(per_account):
                password_grant(provider, other, f"spray-{n}", source="127.0.0.3")
        fresh = demo_customer(provider, "zoe")
        assert password_grant(provider, fresh, provider.demo_password(fresh), source="127.0.0.3") == 400
        assert password_grant(provider, fresh, provider.demo_password(fresh), source="127.0.0.4") == 200
    finally:
        provider.stop()


def test_the_throttle_slows_guessers_without_letting_a_stranger_stretch_the_lock():
    now = [0.0]
    throttle = SignInThrottle(clock=lambda: now[0])
    for _ in range(FREE_FAILURES):
        assert throttle.wait("alice", "10.0.0.1") == 0
        throttle.failed("alice", "10.0.0.1")
    assert throttle.wait("alice", "10.0.0.1") == 0  # 20 failures are free
    waits = []
    for _ in range(12):
        throttle.failed("alice", "10.0.0.1")
        waits.append(throttle.wait("alice", "10.0.0.2"))  # per account, from any address
        now[0] += waits[-1]
    assert waits[:3] == [FIRST_WAIT, 2 * FIRST_WAIT, 4 * FIRST_WAIT] and max(waits) == MAX_WAIT
    # at most one guess per wait: 12 guesses took minutes, not a second
    assert sum(waits) > 30 * 60
    # attempts while closed are refused by the caller and never counted: the lock ends on time
    throttle.failed("alice", "10.0.0.1")
    assert throttle.wait("alice", "10.0.0.3") == MAX_WAIT
    now[0] += MAX_WAIT
    assert throttle.wait("alice", "10.0.0.3") == 0
    # an hour later, the account starts afresh; a success clears it at once
    now[0] += 3600
    throttle.failed("alice", None)
    assert throttle.wait("alice", None) == 0
    throttle.succeeded("alice")
    assert throttle._doors.get(("account", "alice")) is None


# -- one provider per home --------------------------------------------------------------------------


def test_commands_started_together_start_one_provider_for_the_home(tmp_path):
    home = make_delivery_home(tmp_path / "together", issue=False)  # with marts: each start makes the demo users
    provider = EmbeddedIdentityProvider(home.settings())
    try:
        starts = [
            subprocess.Popen([FINEFINANCE, "identity", "start"], env={**os.environ, **home.env()},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)
        ]  # fmt: skip
        outputs = [process.communicate(timeout=180) for process in starts]
        assert [process.returncode for process in starts] == [0, 0, 0], outputs
        status = provider.status()
        assert status.running and provider_processes(provider.root) == [status.pid]
        assert password_grant(provider, "director", provider.demo_password("director")) == 200
        stopped = cli(home, "identity", "stop")
        assert stopped.returncode == 0 and provider_processes(provider.root) == []
    finally:
        provider.stop()


# -- files another local user could read ------------------------------------------------------------


def loose_entries(root: Path) -> list[str]:
    """Entries another local user could read, write or list (a folder's search bit alone is a
    passage: the embedded PostgreSQL's user needs it when the platform runs as root)."""
    return [
        f"{oct(stat.S_IMODE(path.lstat().st_mode))} {path}"
        for path in [root, *root.rglob("*")]
        if not path.is_symlink() and path.lstat().st_mode & (0o066 if path.is_dir() else 0o077)
    ]


def test_nothing_under_the_home_is_readable_by_another_local_user(tmp_path):
    """Commands run under a permissive umask (022, as most shells have) still leave nothing that
    another local user could read: the provider's database and keys, the access log, the warehouse,
    the exported statements."""
    home = make_delivery_home(tmp_path / "private")
    # the fixture wrote the warehouse from the test process; a home made by an older version or by
    # `mkdir` is loose in the same way: the first command repairs it and says so
    (home.home / "loose.txt").write_text("customer data")
    os.chmod(home.home / "loose.txt", 0o644)
    os.chmod(home.home, 0o755)
    first = cli(home, "identity", "start", umask=0o022)
    assert first.returncode == 0, first.stderr
    assert re.search(r"made \d+ files and folders under .* private \(0600/0700\)", first.stderr)
    token = cli(home, "users", umask=0o022)
    assert token.returncode == 0, token.stderr
    assert cli(home, "access-log", umask=0o022).returncode == 0
    month = f"{home.months[-1]:%Y-%m}"
    exported = cli(home, "statements", "export", "--month", month, umask=0o022)
    assert exported.returncode == 0, exported.stderr
    try:
        assert (home.home / "identity" / "canaille.sqlite").exists()
        assert list((home.home / "statements").rglob("*.pdf"))
        assert loose_entries(home.home) == []
        # the next command has nothing to repair and says nothing about it
        assert "private (0600/0700)" not in cli(home, "identity", "status", umask=0o022).stderr
    finally:
        cli(home, "identity", "stop")


def test_tokens_asked_within_one_second_are_all_issued(provider):
    """Canaille's tokens had no jti: a second token for one person in the same second was the same
    string, and the provider answered 500 on its unique key."""
    username = demo_customer(provider, "bruno")
    answers = [password_grant(provider, username, provider.demo_password(username)) for _ in range(6)]
    assert answers == [200] * 6


def test_the_embedded_postgres_keeps_working_in_a_private_home(tmp_path):
    """Run as root (CI), PostgreSQL runs as the unprivileged `pgserver` user and must pass through
    the home to its data folder: the repair keeps that passage (search only) and nothing more."""
    from finefinance_platform.source.embedded_postgres import free_loopback_port

    root = tmp_path / "with-postgres"
    port = free_loopback_port()

    class home:  # what cli() needs of a home
        env = staticmethod(lambda: {"FINEFINANCE_HOME": str(root), "FINEFINANCE_SOURCE_PORT": str(port)})

    try:
        assert cli(home, "source", "start", umask=0o022).returncode == 0
        assert loose_entries(root) == []  # pgserver opened the home to reading: closed again at once
        (root / "loose.txt").write_text("x")
        os.chmod(root / "loose.txt", 0o644)
        status = cli(home, "source", "status", umask=0o022)  # repairs the home while PostgreSQL runs
        assert status.returncode == 0, status.stderr
        assert "private (0600/0700)" in status.stderr
        assert loose_entries(root) == []
        again = cli(home, "source", "status")
        assert again.returncode == 0 and "is running" in again.stdout, again.stdout + again.stderr
    finally:
        stopped = cli(home, "source", "stop")
    assert stopped.returncode == 0, stopped.stderr  # pg_ctl could still reach its data folder
