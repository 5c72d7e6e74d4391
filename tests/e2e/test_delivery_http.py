"""The statement service, run for real (`finefinance serve` in a child process), through httpx, with
access tokens of the real embedded identity provider (Canaille); every refusal is in the access log."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import pypdf
import pytest
from helpers.delivery_fixtures import (
    LATE_AMOUNT,
    correct_booking,
    customer_token,
    identity_provider,
    make_delivery_home,
    serve_statements,
    token_signed_by_provider,
    uid,
)

from finefinance_platform.access.access_log import COUNTED, read
from finefinance_platform.identity.provider import advisor_username, customer_username
from finefinance_platform.months import current_month

FINEFINANCE = str(Path(sys.executable).parent / "finefinance")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return make_delivery_home(tmp_path_factory.mktemp("http-home"))


@pytest.fixture(scope="module")
def provider(home):
    with identity_provider(home) as running:
        yield running


@pytest.fixture(scope="module")
def server(home, provider):
    with serve_statements(home) as base:
        yield base


@pytest.fixture()
def client(server):
    with httpx.Client(base_url=server, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def tokens(provider):
    """Real tokens of the provider, one per customer of the small bank."""
    return {key: customer_token(provider, key) for key in ("alice", "bruno", "chloe", "emma")}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


class LogWatch:
    """The rows the access log gained since the watch began, oldest first, but the counts of anonymous
    refusals: the server writes those once their minute is over, during whichever test runs then."""

    def __init__(self, home):
        self.settings = home.settings()
        self.seen = len(read(self.settings))

    def new(self):
        rows = read(self.settings)
        return [row for row in reversed(rows[: len(rows) - self.seen]) if not (row.detail or "").startswith(COUNTED)]


def test_a_customer_lists_their_own_statements(client, home, tokens):
    watch = LogWatch(home)
    response = client.get("/statements", headers=bearer(tokens["alice"]))
    assert response.status_code == 200
    body = response.json()
    assert body["customer_id"] == uid("alice")
    assert [entry["month"] for entry in body["statements"]] == [f"{m:%Y-%m}" for m in reversed(home.months)]
    assert all(set(entry["accounts"]) == {uid("alice-cur"), uid("alice-la")} for entry in body["statements"])
    latest = body["statements"][0]
    assert latest["pdf"] == f"/statements/{home.months[-1]:%Y-%m}.pdf"
    assert [(v["version"], v["replaces_version"], v["pdf"]) for v in latest["versions"]] == [
        (1, None, f"/statements/{home.months[-1]:%Y-%m}.pdf?version=1")
    ]
    [row] = watch.new()
    assert (row.subject, row.role, row.action, row.customer_id, row.outcome, row.channel) == (
        customer_username(uid("alice")), "customer", "list_statements", uid("alice"), "allowed", "http",
    )  # fmt: skip


def test_a_customer_downloads_their_pdf_and_csv(client, home, tokens):
    month = home.months[-1]
    watch = LogWatch(home)
    pdf = client.get(f"/statements/{month:%Y-%m}.pdf", headers=bearer(tokens["alice"]))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == f'attachment; filename="statement-{month:%Y-%m}-v1.pdf"'
    assert pdf.headers["cache-control"] == "no-store"
    text = pypdf.PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "Customer: Alice Durand" in text and "9,334.04 EUR" in text

    response = client.get(f"/statements/{month:%Y-%m}.csv", headers=bearer(tokens["bruno"]))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {row["account_id"] for row in rows} == {uid("bruno-cur")}  # nobody else's lines
    # four months of 1,705.10 net, and the card payment made last month and booked this month
    assert Decimal(rows[-1]["running_balance"]) == Decimal("1705.10") * 4 - LATE_AMOUNT
    assert [(r.action, r.customer_id, r.month_start, r.outcome) for r in watch.new()] == [
        ("download_pdf", uid("alice"), month.isoformat(), "allowed"),
        ("download_csv", uid("bruno"), month.isoformat(), "allowed"),
    ]


def test_the_token_from_the_cli_is_accepted(client, home, provider):
    """`finefinance token` for a customer who has no demo user yet: it is created, and its token works."""
    with provider.admin() as (models, backend):
        for user in backend.query(models.User, employee_number=uid("emma")):
            backend.delete(user)
    assert uid("emma") not in _demo_customer_ids(provider)
    issued = subprocess.run(
        [FINEFINANCE, "token", "--customer-id", uid("emma")],
        env={**os.environ, **home.env()}, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    token = issued.stdout.strip()
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["iss"] == provider.issuer() and claims["aud"] == ["finefinance-statements"]
    assert (claims["role"], claims["customer_id"]) == ("customer", uid("emma"))
    assert claims["exp"] - claims["iat"] == 3600
    response = client.get("/statements", headers=bearer(token))
    assert response.status_code == 200 and response.json()["customer_id"] == uid("emma")
    assert uid("emma") in _demo_customer_ids(provider)


def _demo_customer_ids(provider) -> list[str]:
    with provider.admin() as (models, backend):
        return [user.employee_number for user in backend.query(models.User) if user.title == "customer"]


def test_the_token_command_refuses_an_unknown_customer(home, provider):
    result = subprocess.run(
        [FINEFINANCE, "token", "--customer-id", "no-such-customer"],
        env={**os.environ, **home.env()}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == (
        "error: unknown customer 'no-such-customer': not in marts.dim_customer"
    )


def test_another_customers_month_is_not_found_and_reveals_nothing(client, home, tokens):
    # Emma signs up in the third month; Alice has a statement for the first
    first = f"{home.months[0]:%Y-%m}"
    watch = LogWatch(home)
    theirs = client.get(f"/statements/{first}.pdf", headers=bearer(tokens["emma"]))
    nobodys = client.get("/statements/1999-01.pdf", headers=bearer(tokens["emma"]))
    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.json() == nobodys.json() == {"detail": "statement not found"}
    # the current (open) month: not found either
    assert client.get(f"/statements/{current_month():%Y-%m}.csv", headers=bearer(tokens["alice"])).status_code == 404
    assert [(r.action, r.outcome) for r in watch.new()] == [("download_pdf", "denied")] * 2 + [
        ("download_csv", "denied")
    ]


def test_crafted_parameters_never_name_another_customer(client, home, tokens):
    """The token decides whose statements are served: a customer id in the URL is not a parameter."""
    alice, month = bearer(tokens["alice"]), f"{home.months[-1]:%Y-%m}"
    own_list = client.get("/statements", headers=alice).json()
    own_csv = client.get(f"/statements/{month}.csv", headers=alice).text
    assert client.get(f"/statements?customer_id={uid('bruno')}", headers=alice).json() == own_list
    assert client.get(f"/statements/{month}.csv?customer_id={uid('bruno')}", headers=alice).text == own_csv
    watch = LogWatch(home)
    for path in (f"/customers/{uid('bruno')}/statements", f"/statements/{uid('bruno')}/{month}.pdf"):
        response = client.get(path, headers=alice)
        assert response.status_code == 404 and "Bruno" not in response.text
    assert [(r.action, r.outcome, r.subject) for r in watch.new()] == [
        ("request", "denied", customer_username(uid("alice")))
    ] * 2


def test_a_valid_token_with_an_unknown_or_injected_customer_gets_nothing(client, home, provider):
    for customer_id in ("no-such-customer", "' or 1=1 --", f"{uid('alice')}' or '1'='1"):
        token = token_signed_by_provider(provider, customer_id=customer_id)
        listed = client.get("/statements", headers=bearer(token))
        assert listed.status_code == 200 and listed.json()["statements"] == []
        assert client.get(f"/statements/{home.months[-1]:%Y-%m}.pdf", headers=bearer(token)).status_code == 404


def test_advisors_and_directors_are_refused_by_the_customer_service(client, home, provider):
    watch = LogWatch(home)
    for username in (advisor_username(uid("claire")), "director"):
        token = provider.password_token(username)["access_token"]
        for path in ("/statements", f"/statements/{home.months[-1]:%Y-%m}.pdf"):
            response = client.get(path, headers=bearer(token))
            assert response.status_code == 403, (username, path)
            assert "Alice" not in response.text
    rows = watch.new()
    assert [(r.subject, r.role, r.outcome) for r in rows] == [
        (advisor_username(uid("claire")), "advisor", "denied")
    ] * 2 + [("director", "director", "denied")] * 2


def _tampered(token: str) -> str:
    """A genuine token with its payload rewritten to name Bruno (signature unchanged)."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["customer_id"] = uid("bruno")
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _unsigned(provider) -> str:
    genuine = token_signed_by_provider(provider)
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    return f"{header}.{genuine.split('.')[1]}."


def _hs256_with_the_public_key(provider) -> str:
    """Key confusion: HMAC "signed" with the provider's public key as the secret."""
    import hmac
    from hashlib import sha256

    jwk = provider.state()["jwk"]
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": jwk["kid"]}).encode()).rstrip(b"=")
    payload = token_signed_by_provider(provider).split(".")[1].encode()
    mac = hmac.new(jwk["n"].encode(), header + b"." + payload, sha256).digest()
    return f"{header.decode()}.{payload.decode()}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _another_key() -> dict:
    from joserfc.jwk import RSAKey

    return RSAKey.generate_key(2048, private=True).as_dict(private=True)


def _another_clients_token(provider) -> str:
    """A genuine token of the provider, issued to another application: its audience is not the service."""
    with provider.admin() as (models, backend):
        if backend.get(models.Client, client_id="another-application") is None:
            other = models.Client(
                client_id="another-application", client_secret="another-application-secret",  # pragma: allowlist secret
                grant_types=["password"], response_types=[], scope=["openid", "profile", "finefinance"],
                token_endpoint_auth_method="client_secret_post",
            )  # fmt: skip
            backend.save(other)
            other.audience = [other]
            backend.save(other)
    body = {
        "grant_type": "password", "username": "director", "password": provider.demo_password("director"),
        "client_id": "another-application", "client_secret": "another-application-secret",  # pragma: allowlist secret
        "scope": "openid profile finefinance",
    }  # fmt: skip
    token = httpx.post(f"{provider.issuer()}/oauth/token", data=body, timeout=30).json()["access_token"]
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["aud"] == ["another-application"]
    return token


def _bad_tokens(provider, tokens) -> dict[str, dict]:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    signed = lambda **claims: bearer(token_signed_by_provider(provider, **claims))  # noqa: E731
    return {
        "missing": {},
        "empty": {"Authorization": "Bearer"},
        "basic-auth": {"Authorization": "Basic YWxpY2U6cGFzcw=="},
        "garbage": bearer("not-a-jwt"),
        "tampered": bearer(_tampered(tokens["alice"])),
        "alg-none": bearer(_unsigned(provider)),
        "hs256-key-confusion": bearer(_hs256_with_the_public_key(provider)),
        "wrong-key": bearer(
            token_signed_by_provider(provider, key={**_another_key(), "kid": provider.state()["jwk"]["kid"]})
        ),
        "unknown-key": bearer(token_signed_by_provider(provider, key={**_another_key(), "kid": "not-the-providers"})),
        "expired": signed(iat=now - 7200, exp=now - 3600),
        "no-expiry": signed(exp=None),
        "wrong-audience": bearer(_another_clients_token(provider)),
        "wrong-issuer": signed(iss="http://127.0.0.1:1/another-provider"),
    }


def test_without_a_valid_token_everything_is_401_and_logged(client, home, provider, tokens):
    cases = _bad_tokens(provider, tokens)
    paths = ("/statements", f"/statements/{home.months[-1]:%Y-%m}.pdf", "/statements/2025-13.csv", "/anything")
    watch = LogWatch(home)
    for name, headers in cases.items():
        for path in paths:
            response = client.get(path, headers=headers)
            assert response.status_code == 401, (name, path, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert "Alice" not in response.text and "Bruno" not in response.text
    rows = watch.new()
    # nobody signed in: the first refusal of a kind (the action, and the detail up to its colon) from a
    # client in a minute is a row, the others are counted (access/access_log.py): fewer rows than requests
    assert len(rows) < len(cases) * len(paths)
    assert all(r.outcome == "denied" and r.subject is None and r.channel == "http" for r in rows)
    assert [r.action for r in rows[:4]] == ["list_statements", "download_pdf", "download_csv", "request"]
    kinds = {(r.action, r.detail.split(":")[0]) for r in rows}
    categories = {category for _, category in kinds}
    assert {"no bearer token", "invalid token", "token expired"} <= categories
    assert len(kinds) == 4 * len(categories)  # each kind, on each path


@pytest.mark.parametrize("month", ["2025-13", "2025-00", "25-01", "2025-1", "abcd-ef", "2025-01-01", "%2e%2e"])
def test_a_malformed_month_is_404_and_logged(client, home, tokens, month):
    watch = LogWatch(home)
    response = client.get(f"/statements/{month}.pdf", headers=bearer(tokens["alice"]))
    assert response.status_code == 404, response.text
    [row] = watch.new()
    assert (row.outcome, row.customer_id) == ("denied", uid("alice"))


@pytest.mark.parametrize(
    "raw_path",
    [
        "/statements/..%2F..%2Fsecret.pdf",
        "/statements/..%2fprovider.json.csv",
        "/statements/2026-01%2F..%2F..%2Fidentity%2Fprovider.json.pdf",
        "/statements/%2F..%2F..%2Fetc%2Fpasswd.pdf",
        "/statements/2026-01.pdf%00.csv",
        "/statements/2026-01.exe",
        "/statements/2026-01",
        "/../identity/provider.json",
    ],
)
def test_path_tricks_are_404_and_logged(client, home, provider, tokens, raw_path):
    watch = LogWatch(home)
    request = client.build_request("GET", "/", headers=bearer(tokens["alice"]))
    request.url = request.url.copy_with(raw_path=raw_path.encode())
    response = client.send(request)
    assert response.status_code == 404, (raw_path, response.status_code)
    secrets = provider.state()
    assert secrets["api_client_secret"] not in response.text and "root:" not in response.text
    assert [row.outcome for row in watch.new()] == ["denied"]


def test_versions_are_served_and_files_verified(client, home, provider):
    """Emma's bookshop payment of the third month was 82.25, not 80.25. (Last in this module: it
    issues Emma's version 2 of the third and fourth months.)"""
    month = f"{home.months[2]:%Y-%m}"
    correct_booking(home, "emma-card-2", "82.25")
    emma, alice = bearer(customer_token(provider, "emma")), bearer(customer_token(provider, "alice"))
    listed = client.get("/statements", headers=emma).json()["statements"]
    third = next(entry for entry in listed if entry["month"] == month)
    assert [(v["version"], v["replaces_version"]) for v in third["versions"]] == [(1, None), (2, 1)]

    watch = LogWatch(home)
    first = client.get(f"/statements/{month}.csv?version=1", headers=emma)
    latest = client.get(f"/statements/{month}.csv", headers=emma)
    assert (first.headers["x-statement-version"], latest.headers["x-statement-version"]) == ("1", "2")
    assert [r["amount"] for r in csv.DictReader(io.StringIO(first.text))] == ["300.00", "80.25"]
    assert [r["running_balance"] for r in csv.DictReader(io.StringIO(latest.text))] == ["300.00", "217.75"]
    old_pdf = client.get(f"/statements/{month}.pdf?version=1", headers=emma)
    assert "219.75 EUR" in pypdf.PdfReader(io.BytesIO(old_pdf.content)).pages[0].extract_text()
    for bad in ("3", "0", "abc", "1.0"):
        assert client.get(f"/statements/{month}.pdf?version={bad}", headers=emma).status_code == 404
    assert [(r.action, r.outcome, r.detail) for r in watch.new()][:3] == [
        ("download_csv", "allowed", "version 1"),
        ("download_csv", "allowed", "version 2"),
        ("download_pdf", "allowed", "version 1"),
    ]

    verified = client.post("/statements/verify", headers=emma, content=old_pdf.content).json()
    assert (verified["authentic"], verified["version"], verified["latest_version"], verified["replaced"]) == (
        True, 1, 2, True,
    )  # fmt: skip
    assert verified["message"].startswith(f"authentic: version 1 of the statement of customer {uid('emma')}")
    edited = latest.text.replace(",82.25,", ",2.25,").encode()
    assert client.post("/statements/verify", headers=emma, content=edited).json()["authentic"] is False
    assert client.post("/statements/verify", headers=emma, content=latest.content).json()["replaced"] is False

    # someone else's statement: the same 404 as every refusal, logged
    watch = LogWatch(home)
    alices = client.get(f"/statements/{month}.pdf", headers=alice).content
    refused = client.post("/statements/verify", headers=emma, content=alices)
    assert (refused.status_code, refused.json()) == (404, {"detail": "statement not found"})
    assert client.post("/statements/verify", content=alices).status_code == 401
    rows = watch.new()
    assert [(r.action, r.outcome, r.customer_id) for r in rows[1:]] == [
        ("view_statement", "denied", uid("emma")),
        ("view_statement", "denied", None),
    ]
