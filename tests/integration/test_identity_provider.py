"""The embedded identity provider through the CLI: start, status, demo users, stop (its own command
and `finefinance stop`, which stops the source too), and the claims its tokens carry."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.delivery_fixtures import make_delivery_home, uid

from finefinance_platform.identity.provider import (
    DemoUser,
    EmbeddedIdentityProvider,
    IdentityError,
    advisor_username,
    customer_username,
)

FINEFINANCE = str(Path(sys.executable).parent / "finefinance")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = make_delivery_home(tmp_path_factory.mktemp("identity-home"))
    yield home
    EmbeddedIdentityProvider(home.settings()).stop()


def cli(home, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FINEFINANCE, *args], env={**os.environ, **home.env()}, capture_output=True, text=True, timeout=180
    )


def test_start_status_users_and_stop(home):
    started = cli(home, "identity", "start")
    assert started.returncode == 0, started.stderr
    provider = EmbeddedIdentityProvider(home.settings())
    issuer = provider.issuer()
    assert started.stdout.strip().endswith(f"is running (pid {provider.status().pid}) at {issuer}")
    assert started.stderr == ""  # no library chatter (migrations, warnings) on a clean start
    assert cli(home, "identity", "status").returncode == 0

    listed = cli(home, "users")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == f"sign in to the dashboards (`finefinance dashboard`) at {issuer}"
    assert lines[1].startswith("each demo user has a password of their own")
    rows = [[line.split()[0], *line.split()[2:4]] for line in lines[3:]]
    passwords = [line.split()[1] for line in lines[3:]]
    # each their own, and the one that signs them in
    assert len(set(passwords)) == len(passwords)
    assert passwords == [provider.demo_password(line.split()[0]) for line in lines[3:]]
    # the director, every advisor, every customer of the first advisor by surname (Hugo Bernard:
    # Didier, Chloé) and the first customer of each other advisor (Claire Martin: Alice)
    assert rows == [
        ["director", "director", "-"],
        [advisor_username(uid("hugo")), "advisor", uid("hugo")],
        [advisor_username(uid("claire")), "advisor", uid("claire")],
        [customer_username(uid("didier")), "customer", uid("didier")],
        [customer_username(uid("chloe")), "customer", uid("chloe")],
        [customer_username(uid("alice")), "customer", uid("alice")],
    ]
    assert lines[-1].endswith(f"Alice Durand (customer of {advisor_username(uid('claire'))})")
    sample = cli(home, "users", "--sample", "--role", "advisor").stdout.splitlines()
    assert len(sample) == 3 + 2 and sample[-1].split()[0] == advisor_username(uid("claire"))

    stopped = cli(home, "identity", "stop")
    assert stopped.returncode == 0 and "is stopped" in stopped.stdout
    assert cli(home, "identity", "status").returncode == 3
    # started again on demand (by `users` here) with the same keys and users; `finefinance stop` stops it too
    assert cli(home, "users", "--role", "director").returncode == 0
    assert provider.status().running
    assert "embedded identity provider is stopped" in cli(home, "stop").stdout
    assert not provider.status().running


def test_tokens_carry_the_platforms_claims(home):
    provider = EmbeddedIdentityProvider(home.settings())
    provider.start()
    for username, role, claim, key in (
        (advisor_username(uid("hugo")), "advisor", "advisor_id", "hugo"),
        (customer_username(uid("didier")), "customer", "customer_id", "didier"),
        ("director", "director", None, None),
    ):
        token = provider.password_token(username)["access_token"]
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        assert (claims["sub"], claims["role"], claims["iss"]) == (username, role, provider.issuer())
        assert claims["aud"] == [home.settings().identity.api_audience]
        other = {"advisor_id", "customer_id"} - {claim}
        assert not other & set(claims)  # never the other kind of id
        if claim:
            assert claims[claim] == uid(key)


def test_a_demo_user_name_is_never_handed_to_another_person(home):
    provider = EmbeddedIdentityProvider(home.settings())
    provider.start()
    clash = DemoUser(customer_username(uid("didier")), "customer", uid("emma"), "Emma Roux")
    with pytest.raises(IdentityError, match="exists for another customer"):
        provider.ensure_users([clash])


def test_the_demo_users_last_ensured_are_not_looked_up_again(home):
    """`finefinance users` and every reader's start ensure the demo users: the same list on the same
    database is not looked up again (building Canaille's app takes seconds); another list is."""
    provider = EmbeddedIdentityProvider(home.settings())
    provider.start()
    emma = DemoUser(customer_username(uid("emma")), "customer", uid("emma"), "Emma Roux")
    provider.ensure_users([emma])
    looked_up = []
    real_admin = provider.admin
    provider.admin = lambda: looked_up.append(True) or real_admin()
    assert provider.ensure_users([emma]) == 0 and not looked_up
    clash = DemoUser(customer_username(uid("emma")), "customer", uid("didier"), "Didier Blanc")
    with pytest.raises(IdentityError, match="exists for another customer"):
        provider.ensure_users([clash])  # a changed list is checked against the provider again
    assert looked_up == [True]


def test_a_wrong_password_gets_no_token(home):
    provider = EmbeddedIdentityProvider(home.settings())
    provider.start()
    provider.demo_password = lambda username: "not-the-password"  # pragma: allowlist secret
    with pytest.raises(IdentityError, match="refused a token for director"):
        provider.password_token("director")


def test_two_platforms_starting_on_one_port_each_get_their_own_provider(home, tmp_path):
    """Another platform's provider already answers on the port ours was about to take (two starts
    at once): ours notices the other signing key and runs on a free port, never on the other's."""
    from finefinance_platform.settings import load_settings

    first = EmbeddedIdentityProvider(home.settings())
    port = first.start().port
    other = EmbeddedIdentityProvider(load_settings({"FINEFINANCE_HOME": str(tmp_path)}))
    try:
        assert other._launch(port, other.state()) is None  # the port answers with the other key
        assert first.status().running and first.status().port == port
        started = other.start()
        assert started.running and started.port != port
        assert other.issuer() != first.issuer()
    finally:
        other.stop()
