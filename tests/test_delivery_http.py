"""The statement service, run for real (`finefinance serve` in a child process), through httpx."""

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
import jwt
import pypdf
import pytest
from delivery_fixtures import TEST_SECRET, make_delivery_home, serve_statements, uid

from finefinance_platform.delivery.tokens import AUDIENCE, ISSUER, issue_token
from finefinance_platform.settings import current_month

FINEFINANCE = str(Path(sys.executable).parent / "finefinance")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return make_delivery_home(tmp_path_factory.mktemp("http-home"))


@pytest.fixture(scope="module")
def server(home):
    with serve_statements(home) as base:
        yield base


@pytest.fixture()
def client(server):
    with httpx.Client(base_url=server, timeout=30) as http:
        yield http


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def token_for(key: str, **kwargs) -> str:
    return issue_token(uid(key), TEST_SECRET, **kwargs)


def test_a_customer_lists_their_own_statements(client, home):
    response = client.get("/statements", headers=bearer(token_for("alice")))
    assert response.status_code == 200
    body = response.json()
    assert body["customer_id"] == uid("alice")
    assert [entry["month"] for entry in body["statements"]] == [f"{m:%Y-%m}" for m in reversed(home.months)]
    assert all(set(entry["accounts"]) == {uid("alice-cur"), uid("alice-la")} for entry in body["statements"])
    assert body["statements"][0]["pdf"] == f"/statements/{home.months[-1]:%Y-%m}.pdf"


def test_a_customer_downloads_their_pdf_and_csv(client, home):
    month = home.months[-1]
    pdf = client.get(f"/statements/{month:%Y-%m}.pdf", headers=bearer(token_for("alice")))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == f'attachment; filename="statement-{month:%Y-%m}.pdf"'
    assert pdf.headers["cache-control"] == "no-store"
    text = pypdf.PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "Customer: Alice Durand" in text and "9,334.04 EUR" in text

    response = client.get(f"/statements/{month:%Y-%m}.csv", headers=bearer(token_for("bruno")))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {row["account_id"] for row in rows} == {uid("bruno-cur")}  # nobody else's lines
    assert Decimal(rows[-1]["running_balance"]) == Decimal("1705.10") * 4


def test_the_token_from_the_cli_is_accepted(client, home):
    issued = subprocess.run(
        [FINEFINANCE, "token", "--customer-id", uid("chloe"), "--ttl-minutes", "2"],
        env={**os.environ, **home.env()}, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    response = client.get("/statements", headers=bearer(issued.stdout.strip()))
    assert response.status_code == 200 and response.json()["customer_id"] == uid("chloe")


def test_another_customers_month_is_not_found_and_reveals_nothing(client, home):
    # Emma signs up in the third month; Alice has a statement for the first
    first = f"{home.months[0]:%Y-%m}"
    theirs = client.get(f"/statements/{first}.pdf", headers=bearer(token_for("emma")))
    nobodys = client.get("/statements/1999-01.pdf", headers=bearer(token_for("emma")))
    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.json() == nobodys.json() == {"detail": "statement not found"}
    # the current (open) month: not found either
    assert client.get(f"/statements/{current_month():%Y-%m}.csv", headers=bearer(token_for("alice"))).status_code == 404


def test_a_valid_token_for_an_unknown_or_injected_customer_gets_nothing(client, home):
    for subject in ("no-such-customer", "' or 1=1 --", f"{uid('alice')}' or '1'='1"):
        token = issue_token(subject, TEST_SECRET)
        listed = client.get("/statements", headers=bearer(token))
        assert listed.status_code == 200 and listed.json()["statements"] == []
        assert client.get(f"/statements/{home.months[-1]:%Y-%m}.pdf", headers=bearer(token)).status_code == 404


def _forge(claims: dict, secret: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def _claims(key: str, **changes) -> dict:
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": uid(key), "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + dt.timedelta(minutes=5)}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _tampered() -> str:
    """Alice's genuine token with its payload rewritten to name Bruno (signature unchanged)."""
    header, payload, signature = token_for("alice").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = uid("bruno")
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _unsigned() -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = json.dumps({**_claims("alice"), "iat": 0, "exp": 4102444800}).encode()
    return f"{header}.{base64.urlsafe_b64encode(body).rstrip(b'=').decode()}."


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Bearer"}, id="empty"),
        pytest.param({"Authorization": "Basic YWxpY2U6cGFzcw=="}, id="basic-auth"),
        pytest.param({"Authorization": "Bearer not-a-jwt"}, id="garbage"),
        pytest.param(bearer(_tampered()), id="tampered"),
        pytest.param(bearer(_unsigned()), id="alg-none"),
        pytest.param(
            bearer(_forge(_claims("alice"), secret="another-secret-of-the-same-length-0123456")), id="wrong-key"
        ),
        pytest.param(bearer(token_for("alice", now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))), id="expired"),
        pytest.param(bearer(_forge(_claims("alice", exp=None))), id="no-expiry"),
        pytest.param(bearer(_forge(_claims("alice", aud="another-service"))), id="wrong-audience"),
        pytest.param(bearer(_forge(_claims("alice", iss="someone-else"))), id="wrong-issuer"),
    ],
)
def test_without_a_valid_token_everything_is_401(client, home, headers):
    for path in ("/statements", f"/statements/{home.months[-1]:%Y-%m}.pdf", "/statements/2025-13.csv"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401, (path, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "Alice" not in response.text


@pytest.mark.parametrize("month", ["2025-13", "2025-00", "25-01", "2025-1", "abcd-ef", "2025-01-01", "%2e%2e"])
def test_a_malformed_month_is_422(client, month):
    response = client.get(f"/statements/{month}.pdf", headers=bearer(token_for("alice")))
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    "raw_path",
    [
        "/statements/..%2F..%2Fsecret.pdf",
        "/statements/..%2fstatement_secret.csv",
        "/statements/2026-01%2F..%2F..%2Fstatement_secret.pdf",
        "/statements/%2F..%2F..%2Fetc%2Fpasswd.pdf",
        "/statements/2026-01.pdf%00.csv",
        "/statements/2026-01.exe",
        "/statements/2026-01",
    ],
)
def test_path_tricks_are_404_or_422(client, raw_path):
    request = client.build_request("GET", "/", headers=bearer(token_for("alice")))
    request.url = request.url.copy_with(raw_path=raw_path.encode())
    response = client.send(request)
    assert response.status_code in (404, 422), (raw_path, response.status_code)
    assert TEST_SECRET not in response.text and "root:" not in response.text
