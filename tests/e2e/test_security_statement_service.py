"""The statement service attacked (issue 22): forged and confused tokens, hostile verify bodies.

Real requests to the real service (`finefinance serve`, uvicorn, in a child process) with tokens of
the real embedded provider (Canaille) or forged ones (a fresh key, another algorithm under the
provider's key id, an ID token's shape). Large bodies go through raw sockets, so the test sees when
the service answers compared with how much of the body it was sent. One service for the module.

Anonymous refusals may be counted rather than written row by row (access_log.py: one row per kind,
client and minute); the assertions on them ask for a row of each kind, not one per request. A
signed-in customer's refusals are written one by one, and asserted so.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import random
import socket
import statistics
import threading
import time
import types
import uuid
import zlib
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from helpers.delivery_fixtures import (
    customer_token,
    identity_provider,
    make_delivery_home,
    serve_statements,
    token_signed_by_provider,
    uid,
)

from finefinance_platform.access import tokens as token_module
from finefinance_platform.access.access_log import read
from finefinance_platform.errors import SettingsError
from finefinance_platform.identity.provider import DemoUser, customer_username
from finefinance_platform.settings import load_identity_settings

SECURITY_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
}
BIG = 48_000_000  # the 48 MB body


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return make_delivery_home(tmp_path_factory.mktemp("security-home"))


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
    with httpx.Client(base_url=server, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def tokens(provider):
    return {key: customer_token(provider, key) for key in ("alice", "bruno")}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


class LogWatch:
    """The rows the access log gained since the watch began, oldest first. Compared as sets of rows,
    not by position: a row counting anonymous refusals carries the time of the last one it counts, so
    it may sort before rows written earlier."""

    def __init__(self, home):
        self.settings = home.settings()
        self.seen = Counter(read(self.settings))

    def new(self):
        gained = Counter(read(self.settings)) - self.seen
        return sorted(gained.elements(), key=lambda row: row.accessed_at)


# -- forged tokens ----------------------------------------------------------------------------------


def b64(data: bytes | str) -> str:
    return base64.urlsafe_b64encode(data.encode() if isinstance(data, str) else data).rstrip(b"=").decode()


def claims_for(provider, **extra) -> dict:
    now = int(time.time())
    return {
        "iss": provider.issuer(), "aud": [provider.settings.identity.api_audience], "sub": "attacker",
        "iat": now, "exp": now + 300, "role": "customer", "customer_id": uid("alice"), **extra,
    }  # fmt: skip


def signed_with(algorithm: str, key, kid: str, payload: dict, **header) -> str:
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid, **header})


def assembled(header, payload, signature: bytes = b"sig") -> str:
    """A token built by hand: any header or payload, JSON or not."""
    encode = lambda part: b64(part if isinstance(part, bytes | str) else json.dumps(part))  # noqa: E731
    return f"{encode(header)}.{encode(payload)}.{b64(signature)}"


def assert_refused_as_anonymous(response, case) -> None:
    assert response.status_code == 401, (case, response.status_code, response.text[:200])
    assert response.headers["www-authenticate"].startswith("Bearer"), case
    assert "Alice" not in response.text


def assert_logged_invalid_tokens(watch) -> None:
    """Every new row an anonymous refusal of a bad token, and such a row written this minute or the
    last: the log may count repeated anonymous refusals of one kind, client and minute in one row,
    written when the minute is over, after a first row of the kind (an earlier test's, maybe)."""
    rows = watch.new()
    assert all(r.outcome == "denied" and r.subject is None and r.channel == "http" for r in rows), rows
    assert all(r.detail.startswith(("invalid token", "token expired", "counted: invalid token")) for r in rows), [
        r.detail for r in rows
    ]
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).replace(second=0, microsecond=0).isoformat()
    recent = [r for r in read(watch.settings) if r.accessed_at >= since[:19] and r.subject is None]
    assert any("invalid token" in (r.detail or "") for r in recent), "no access-log row for the refused tokens"


def test_an_algorithm_the_providers_key_does_not_fit_is_401_never_500(client, home, provider):
    """Alg confusion under the provider's own key id: ES256 made PyJWT raise a TypeError (a 500)."""
    kid = provider.state()["jwk"]["kid"]
    payload = claims_for(provider)
    forged = {
        "ES256": signed_with("ES256", ec.generate_private_key(ec.SECP256R1()), kid, payload),
        "ES512": signed_with("ES512", ec.generate_private_key(ec.SECP521R1()), kid, payload),
        "EdDSA": signed_with("EdDSA", ed25519.Ed25519PrivateKey.generate(), kid, payload),
        "HS256": signed_with("HS256", "a-shared-secret-an-attacker-chose-32b", kid, payload),
        "HS256-public-key": signed_with("HS256", json.dumps(provider.state()["jwk"]["n"]).encode(), kid, payload),
        "none": assembled({"alg": "none", "kid": kid, "typ": "JWT"}, payload, b""),
        "PS256-fresh-key": signed_with("PS256", rsa.generate_private_key(65537, 2048), kid, payload),
        "PS512-fresh-key": signed_with("PS512", rsa.generate_private_key(65537, 2048), kid, payload),
        "RS1": assembled({"alg": "RS1", "kid": kid}, payload),
    }
    watch = LogWatch(home)
    for case, token in forged.items():
        for path in ("/statements", f"/statements/{home.months[-1]:%Y-%m}.pdf"):
            assert_refused_as_anonymous(client.get(path, headers=bearer(token)), case)
    assert_logged_invalid_tokens(watch)


def test_any_header_or_claim_shape_is_401_never_500(client, home, provider):
    kid, key = provider.state()["jwk"]["kid"], provider.state()["jwk"]
    payload = claims_for(provider)
    garbage = {
        "not base64": "%%%.%%%.%%%",
        "header not JSON": f"{b64('not json')}.{b64(json.dumps(payload))}.{b64('s')}",
        "header a JSON list": assembled(["RS256"], payload),
        "header a number": assembled(b"12", payload),
        "kid an object": assembled({"alg": "RS512", "kid": {"$ne": None}}, payload),
        "kid a list": assembled({"alg": "RS512", "kid": [kid]}, payload),
        "no kid": assembled({"alg": "RS512"}, payload),
        "alg a number": assembled({"alg": 256, "kid": kid}, payload),
        "alg a list": assembled({"alg": ["RS512", "none"], "kid": kid}, payload),
        "typ a list": assembled({"alg": "RS512", "kid": kid, "typ": ["JWT"]}, payload),
        "payload not JSON": f"{b64(json.dumps({'alg': 'RS512', 'kid': kid}))}.{b64('{{{')}.{b64('s')}",
        "two parts": f"{b64(json.dumps({'alg': 'RS512', 'kid': kid}))}.{b64(json.dumps(payload))}",
        "four parts": assembled({"alg": "RS512", "kid": kid}, payload) + ".x",
        "20 KB": assembled({"alg": "RS512", "kid": kid, "x": "a" * 20_000}, payload),
        "deep JSON": f"{b64('[' * 100_000 + ']' * 100_000)}.{b64(json.dumps(payload))}.{b64('s')}",
        # signed by the provider's own key: the claims are what is malformed
        "role an object": token_signed_by_provider(provider, role={"customer": True}),
        "role a list of objects": token_signed_by_provider(provider, role=[{"a": 1}, "customer"]),
        "customer_id an object": token_signed_by_provider(provider, customer_id={"id": uid("alice")}),
        "iat a text": token_signed_by_provider(provider, iat="yesterday"),
        "iat a boolean": token_signed_by_provider(provider, iat=True),
        "exp a list": token_signed_by_provider(provider, exp=[1]),
        "aud an object": token_signed_by_provider(provider, aud={"finefinance-statements": 1}),
        "sub a number": token_signed_by_provider(provider, sub=42),
    }
    assert jwt.PyJWK(key).key  # the provider's key is usable: the refusals are about the tokens
    watch = LogWatch(home)
    for case, token in garbage.items():
        assert_refused_as_anonymous(client.get("/statements", headers=bearer(token)), case)
    assert_logged_invalid_tokens(watch)


def test_random_key_ids_do_not_make_the_service_fetch_the_keys_each_time(home, provider, monkeypatch):
    """50 tokens with unknown key ids: the keys are fetched at most twice (once, then one refetch for an
    unknown kid); they expire from the cache after KEYS_MAX_AGE_SECONDS. In process (the app through
    Starlette's TestClient) so that the fetches can be counted; the provider is the real one."""
    import urllib.request

    from fastapi.testclient import TestClient

    from finefinance_platform.api.service import create_app

    fetched: list[str] = []
    real_urlopen = urllib.request.urlopen

    def counting_urlopen(url, *args, **kwargs):
        fetched.append(url if isinstance(url, str) else url.full_url)
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", counting_urlopen)
    # the service's caches are per process: start from empty ones (another test of this worker may
    # have fetched the keys of a provider on the same loopback address moments ago)
    monkeypatch.setattr(token_module, "_discovered", {})
    monkeypatch.setattr(token_module, "_signing_keys", {})
    clock = [time.monotonic()]
    # the verifier's clock only (raising=False: a verifier without one still gets its fetches counted)
    clock_module = types.SimpleNamespace(monotonic=lambda: clock[0], time=time.time)
    monkeypatch.setattr(token_module, "time", clock_module, raising=False)
    jwks_fetches = lambda: sum(url.endswith("jwks.json") for url in fetched)  # noqa: E731
    payload = claims_for(provider)
    fresh = rsa.generate_private_key(65537, 2048)
    with TestClient(create_app(home.settings(), issuer=provider.issuer())) as app:
        for _ in range(50):
            token = signed_with("RS256", fresh, uuid.uuid4().hex, payload)
            assert app.get("/statements", headers=bearer(token)).status_code == 401
        assert 1 <= jwks_fetches() <= 2, fetched
        genuine = token_signed_by_provider(provider)
        assert app.get("/statements", headers=bearer(genuine)).status_code == 200
        before = jwks_fetches()
        clock[0] += token_module.KEYS_MAX_AGE_SECONDS + 1  # the cached keys are now too old
        assert app.get("/statements", headers=bearer(genuine)).status_code == 200
        assert jwks_fetches() == before + 1


def test_expired_old_future_and_non_access_tokens_are_401(client, home, provider, tokens):
    now = int(time.time())
    api = provider.settings.identity.api_audience
    # a demo user of its own: the provider fails on two identical tokens issued in the same second
    chloe = DemoUser(customer_username(uid("chloe")), "customer", uid("chloe"), "Chloe Moreau")
    provider.ensure_users([chloe])
    refresh_token = provider.password_token(chloe.username).get("refresh_token")
    cases = {
        "expired": token_signed_by_provider(provider, iat=now - 7200, exp=now - 3600),
        "issued 25 h ago, still unexpired": token_signed_by_provider(provider, iat=now - 25 * 3600, exp=now + 300),
        "issued in an hour": token_signed_by_provider(provider, iat=now + 3600, exp=now + 7200),
        # an ID token as Keycloak issues it to the statement API's client (its audience is the API)
        "ID token (Keycloak)": token_signed_by_provider(
            provider, typ="ID", aud=api, azp=api, nonce="n-0S6_WzA2Mj", at_hash="77QmUPtjPfzWtF2AnpK9RQ"
        ),
        "ID token (nonce and at_hash)": token_signed_by_provider(provider, nonce="abc", at_hash="def"),
        "refresh token (Keycloak)": token_signed_by_provider(provider, typ="Refresh"),
        "offline token (Keycloak)": token_signed_by_provider(provider, typ="Offline"),
        "logout token header": signed_with(
            "RS256",
            jwt.PyJWK(provider.state()["jwk"]).key,
            provider.state()["jwk"]["kid"],
            claims_for(provider),
            typ="logout+jwt",
        ),  # fmt: skip
        "the provider's real refresh token": refresh_token,
    }
    assert refresh_token, "the provider issued no refresh token"
    watch = LogWatch(home)
    for case, token in cases.items():
        assert_refused_as_anonymous(client.get("/statements", headers=bearer(token)), case)
    assert_logged_invalid_tokens(watch)
    # and the provider's genuine access tokens still work (typ JWT, Keycloak's typ Bearer claim too)
    assert client.get("/statements", headers=bearer(tokens["alice"])).status_code == 200
    assert (
        client.get("/statements", headers=bearer(token_signed_by_provider(provider, typ="Bearer"))).status_code == 200
    )


def test_a_configured_issuer_must_be_https():
    with pytest.raises(SettingsError, match="FINEFINANCE_OIDC_ISSUER"):
        load_identity_settings({"FINEFINANCE_OIDC_ISSUER": "http://login.bank.example/realms/finefinance"})
    assert load_identity_settings({"FINEFINANCE_OIDC_ISSUER": "https://login.bank.example/realms/x"}).issuer
    assert load_identity_settings({}).embedded  # unset: the embedded provider, on loopback


# -- the verify endpoint ----------------------------------------------------------------------------


def raw_post(base: str, path: str, headers: dict, body_chunks=None, wait: float = 20.0) -> dict:
    """POST over a raw socket: headers first, then `body_chunks` from another thread while this one
    waits for the answer. Returns status, headers, seconds to the answer and body bytes sent by then."""
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=wait)
    head = f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nConnection: close\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    sent, stop = [0], threading.Event()

    def send_body():
        try:
            for chunk in body_chunks:
                if stop.is_set():
                    return
                sock.sendall(chunk)
                sent[0] += len(chunk)
        except OSError:
            pass  # the service closed the connection: it stopped reading, as it should

    started = time.monotonic()
    sock.sendall(head.encode())
    sender = threading.Thread(target=send_body, daemon=True) if body_chunks is not None else None
    if sender:
        sender.start()
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    finally:
        elapsed, sent_then = time.monotonic() - started, sent[0]
        stop.set()
        sock.close()
        if sender:
            sender.join(timeout=10)
    status_line, _, rest = answer.partition(b"\r\n")
    header_lines = rest.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    return {
        "status": int(status_line.split()[1]),
        "headers": {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)},
        "seconds": elapsed,
        "sent": sent_then,
    }


def chunked(total: int, size: int = 65536):
    block = os.urandom(size)
    for _ in range(total // size):
        yield f"{size:x}\r\n".encode() + block + b"\r\n"
    yield b"0\r\n\r\n"


def test_a_48_mb_body_with_its_length_declared_is_413_before_any_of_it_is_sent(server, home, tokens):
    watch = LogWatch(home)
    headers = {**bearer(tokens["alice"]), "Content-Type": "application/pdf", "Content-Length": str(BIG)}
    answer = raw_post(server, "/statements/verify", headers)  # not one byte of the body is sent
    print(f"413 for a declared 48 MB body after {answer['seconds'] * 1000:.0f} ms")
    assert answer["status"] == 413 and answer["sent"] == 0
    assert {k: answer["headers"].get(k) for k in SECURITY_HEADERS} == SECURITY_HEADERS
    [row] = watch.new()
    assert (row.action, row.outcome, row.customer_id) == ("view_statement", "denied", uid("alice"))
    assert row.detail.startswith("verify: body over")


def test_a_48_mb_chunked_body_is_cut_off_at_the_limit(server, home, tokens):
    watch = LogWatch(home)
    headers = {**bearer(tokens["alice"]), "Transfer-Encoding": "chunked"}
    answer = raw_post(server, "/statements/verify", headers, chunked(BIG))
    print(f"413 for a chunked 48 MB body after {answer['seconds'] * 1000:.0f} ms, {answer['sent']} bytes sent")
    assert answer["status"] == 413
    assert answer["sent"] < BIG / 4  # answered long before the body ended: it was not read whole
    assert [(r.outcome, r.detail[:17]) for r in watch.new()] == [("denied", "verify: body over")]


def identity_pdf(customer: str, month: str, version: str) -> bytes:
    """A small PDF whose metadata names a statement identity, as a forger would write one."""
    keywords = f"finefinance-statement:customer={customer};month={month};version={version}"
    return (
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>"
        b"\nendobj\n3 0 obj\n<< /Keywords (" + keywords.encode() + b") >>\nendobj\ntrailer\n<< /Root 1 0 R /Info "
        b"3 0 R >>\n%%EOF\n"
    )


def test_malformed_identities_are_400_and_other_peoples_404_each_logged(client, home, tokens):
    alice, month = uid("alice"), f"{home.months[-1]:%Y-%m}"
    cases = {
        "month 2025-13": (identity_pdf(alice, "2025-13", "1"), 400),
        "month 2025-00": (identity_pdf(alice, "2025-00", "1"), 400),
        "a 5,000-digit version": (identity_pdf(alice, month, "9" * 5000), 400),
        "version 0": (identity_pdf(alice, month, "0"), 400),
        "another customer's, month 2025-13": (identity_pdf(uid("bruno"), "2025-13", "1"), 404),
        "another customer's": (identity_pdf(uid("bruno"), month, "1"), 404),
        "nobody's": (identity_pdf("no-such-customer", month, "1"), 404),
    }
    watch = LogWatch(home)
    answers = {}
    for case, (pdf, status) in cases.items():
        response = client.post("/statements/verify", headers=bearer(tokens["alice"]), content=pdf)
        assert response.status_code == status, (case, response.status_code, response.text[:200])
        answers[case] = response.json()
    # another customer's statement and nobody's: the same answer
    assert answers["another customer's"] == answers["nobody's"] == {"detail": "statement not found"}
    rows = watch.new()
    assert [(r.action, r.outcome, r.customer_id) for r in rows] == [("view_statement", "denied", alice)] * len(cases)
    assert all(r.detail.startswith("verify: ") and len(r.detail) < 120 and "9999" not in r.detail for r in rows)


def statement_csv(client, token, month) -> str:
    return client.get(f"/statements/{month}.csv", headers=bearer(token)).text


def test_a_csv_never_tells_whether_an_account_exists(client, home, tokens):
    """Own lines with one more account: another customer's and an unknown one get the same 404."""
    month = f"{home.months[-1]:%Y-%m}"
    own = statement_csv(client, tokens["alice"], month)
    header, first, *_ = own.splitlines()
    cases = {}
    for name, account in (("bruno's", uid("bruno-cur")), ("unknown", str(uuid.uuid4()))):
        cases[f"only {name}"] = f"{header}\n{first.replace(uid('alice-cur'), account)}\n"
        cases[f"own and {name}"] = own + first.replace(uid("alice-cur"), account) + "\n"
    answers = {
        case: client.post("/statements/verify", headers=bearer(tokens["alice"]), content=body.encode())
        for case, body in cases.items()
    }
    assert {case: r.status_code for case, r in answers.items()} == dict.fromkeys(cases, 404)
    assert len({r.content for r in answers.values()}) == 1


def random_accounts_csv(size: int) -> bytes:
    """A CSV with the statement's columns, one random account per line."""
    from finefinance_platform.statements.render import CSV_COLUMNS

    lines, total = [",".join(CSV_COLUMNS)], 0
    while total < size:
        line = f"{uuid.uuid4()},2025-01,{uuid.uuid4()},2025-01-02,2025-01-02,x,card_payment,debit,1.00,1.00,EUR"
        lines.append(line)
        total += len(line) + 1
    return ("\n".join(lines) + "\n").encode()


def test_a_csv_of_many_random_accounts_is_refused_before_any_sql(client, home, tokens):
    body = random_accounts_csv(1_900_000)  # under the body limit: ~15,000 distinct accounts
    watch = LogWatch(home)
    response = client.post("/statements/verify", headers=bearer(tokens["alice"]), content=body)
    assert response.status_code == 400, response.text[:200]
    [row] = watch.new()
    assert row.outcome == "denied" and "accounts" in row.detail
    # the 20 MB of random accounts is past the body limit
    big = client.post("/statements/verify", headers=bearer(tokens["alice"]), content=random_accounts_csv(2_100_000))
    assert big.status_code == 413


def bomb_pdf(streams: int = 5, inflated: int = 60_000_000) -> bytes:
    """A ~300 KB PDF whose FlateDecode streams inflate to streams x `inflated` bytes (zeros), its
    metadata (the Info dictionary) inside the first, an object stream, so a reader must inflate it."""

    def stream(data: bytes, extra: bytes = b"") -> bytes:
        packed = zlib.compress(data, 9)
        return b"<< /Length %d /Filter /FlateDecode %s >>\nstream\n" % (len(packed), extra) + packed + b"\nendstream"

    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [] /Count 0 >>",
        stream(b"4 0 << /Keywords (x) >>" + b" " * inflated, b"/Type /ObjStm /N 1 /First 4"),
        *(stream(b"\0" * inflated) for _ in range(streams - 1)),
    ]
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.fixture(scope="module")
def bomb():
    return bomb_pdf()


def server_pid(base: str) -> int:
    """The service's process (`finefinance serve --port N`), found by its command line."""
    wanted = f"--port\0{urlsplit(base).port}\0".encode()
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes() + b"\0"
        except OSError:
            continue
        if entry.name.isdigit() and b"serve\0" in cmdline and wanted in cmdline:
            return int(entry.name)
    raise AssertionError(f"no process serves {base}")


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def test_a_decompression_bomb_is_refused_with_bounded_memory(client, server, home, tokens, bomb):
    assert len(bomb) < 400_000
    pid = server_pid(server)
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets the process's peak memory (VmHWM)
    before = memory_kb(pid, "VmRSS")
    watch = LogWatch(home)
    response = client.post("/statements/verify", headers=bearer(tokens["alice"]), content=bomb)
    peak_growth_mb = (memory_kb(pid, "VmHWM") - before) / 1024
    print(f"bomb of {len(bomb)} bytes (300 MB inflated): {response.status_code}, peak memory +{peak_growth_mb:.0f} MB")
    assert response.status_code == 400, response.text[:200]
    assert response.json() == {"detail": "not a FineFinance statement"}
    assert peak_growth_mb < 24  # nothing near the 300 MB it inflates to (nor one 60 MB stream) was held
    [row] = watch.new()
    assert row.outcome == "denied" and "inflate" in row.detail


def test_health_answers_within_100_ms_while_hostile_verifications_run(server, tokens, bomb):
    """4 clients post hostile files without pause (bombs and 1.9 MB CSVs of random accounts) while a
    fifth asks /health 20 times. The median must be under 100 ms (the issue's figure): a single slow
    answer can come from the shared 2-core machine itself, a stalled event loop slows them all."""
    csv_body = random_accounts_csv(1_900_000)
    stop, statuses = threading.Event(), []

    def attack(body: bytes):
        with httpx.Client(base_url=server, timeout=60) as http:
            while not stop.is_set():
                statuses.append(
                    http.post("/statements/verify", headers=bearer(tokens["bruno"]), content=body).status_code
                )

    attackers = [threading.Thread(target=attack, args=(body,)) for body in (bomb, bomb, csv_body, csv_body)]
    for attacker in attackers:
        attacker.start()
    latencies = []
    try:
        time.sleep(0.5)  # the hostile requests are in flight
        with httpx.Client(base_url=server, timeout=30) as http:
            for _ in range(20):
                started = time.perf_counter()
                assert http.get("/health").status_code == 200
                latencies.append(time.perf_counter() - started)
                time.sleep(random.uniform(0.02, 0.08))
    finally:
        stop.set()
        for attacker in attackers:
            attacker.join(timeout=60)
    median, worst = statistics.median(latencies), max(latencies)
    print(f"/health under attack: median {median * 1000:.1f} ms, max {worst * 1000:.1f} ms; verify answers {statuses}")
    assert statuses and set(statuses) <= {400, 503}, statuses  # refused (or told to come back), never a 500
    assert median < 0.100


def test_every_answer_carries_the_security_headers(client, server, home, tokens):
    alice = bearer(tokens["alice"])
    month = f"{home.months[-1]:%Y-%m}"
    answers = {
        200: [client.get("/health"), client.get("/statements", headers=alice)],
        401: [client.get("/statements"), client.get("/statements", headers=bearer("x.y.z"))],
        404: [client.get("/nothing-here", headers=alice), client.get("/statements/1999-01.pdf", headers=alice)],
        400: [client.post("/statements/verify", headers=alice, content=identity_pdf(uid("alice"), "2025-13", "1"))],
    }
    answers[200].append(client.get(f"/statements/{month}.csv", headers=alice))
    for status, responses in answers.items():
        for response in responses:
            assert response.status_code == status, (response.url, response.status_code)
            assert {k: response.headers.get(k) for k in SECURITY_HEADERS} == SECURITY_HEADERS, response.url
    too_large = raw_post(server, "/statements/verify", {**alice, "Content-Length": str(BIG)})
    assert too_large["status"] == 413
    assert {k: too_large["headers"].get(k) for k in SECURITY_HEADERS} == SECURITY_HEADERS
