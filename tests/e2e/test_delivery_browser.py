"""A real browser through the real sign-in: `finefinance dashboard` + the embedded identity provider
(Canaille) + Chromium (Debian package) via Playwright, once per role.

Each role signs in with its demo user's password at the provider's own login page, comes back to
the dashboards and is checked for what it sees and what it cannot reach, by navigation or by URL.
A screenshot per role goes to `test-artifacts/screenshots/` (git-ignored). Chromium comes from the
system (`make test` installs it); Playwright never downloads a browser. Without Chromium this test
fails, saying so: it is never skipped.

Then as an attacker (issue 22): a cookie copied before sign-out, a cookie whose identity token has
expired, another site framing the dashboards, and a statement file asked for before the click.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers.delivery_fixtures import free_port, identity_provider, make_delivery_home, uid, wait_for_http

from finefinance_platform.access.access_log import read
from finefinance_platform.identity.provider import advisor_username, customer_username
from finefinance_platform.settings import REPO_ROOT

# minutes, not seconds: `make test` starts the longest files first, so its two workers finish together
pytestmark = pytest.mark.slow(minutes=1)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
CUSTOMER_NAMES = ("Alice Durand", "Bruno Petit", "Chloé Moreau", "Didier Lefèvre", "Emma Roux")
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return make_delivery_home(tmp_path_factory.mktemp("browser-home"))


@pytest.fixture(scope="module")
def dashboard(home):
    with identity_provider(home) as provider:
        port = free_port()
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "finefinance"), "dashboard", "--port", str(port)],
            env={**os.environ, **home.env()}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{base}/_stcore/health", process)
            yield base, provider
        finally:
            # streamlit runs as our child's child: end the whole session we started
            os.killpg(process.pid, 15)
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package `chromium` (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def sign_in(browser, dashboard, username: str | None):
    """A fresh browser profile; signed in through the provider's login page unless `username` is None."""
    from playwright.sync_api import expect

    base, provider = dashboard
    page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    record_what_the_server_sends(page)
    page.goto(base)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    if username is None:
        return page
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{provider.issuer()}/**")  # the provider's own page, not ours
    page.fill("input[name=login]", username)
    page.get_by_role("button", name="Continue").click()
    page.fill("input[name=password]", provider.demo_password(username))
    page.locator("button[type=submit]").first.click()
    page.wait_for_url(f"{base}/**")
    expect(page.get_by_text(re.compile("^Signed in as "))).to_be_visible()
    return page


def heading(page, text: str):
    return page.get_by_role("heading", name=text, level=1)


def record_what_the_server_sends(page) -> None:
    """Keep every websocket message the dashboards send this browser: tables are drawn on a canvas,
    so what a person could see is what was sent (Arrow tables hold their strings as UTF-8)."""
    page.received = []

    def on_websocket(socket) -> None:
        def keep(payload) -> None:
            page.received.append(payload if isinstance(payload, bytes) else payload.encode())

        socket.on("framereceived", keep)

    page.on("websocket", on_websocket)


def visit(page, url: str) -> None:
    """Open `url` in a new page load: `settle()` then tells what this load was sent."""
    page.received.clear()
    page.goto(url)


def settle(page) -> str:
    """What this browser was sent so far (page and data), once Streamlit has finished the script run."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=TIMEOUT_MS)
    page.wait_for_timeout(500)
    return page.content() + b"".join(page.received).decode("utf-8", errors="replace")


def wait_until_sent(page, text: str) -> str:
    """Wait until `text` reached the browser (a table's data can follow its heading); return all sent."""

    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while text not in (sent := settle(page)):
        assert time.monotonic() < deadline, f"{text!r} never reached the browser"
        page.wait_for_timeout(250)
    return sent


def navigation(page) -> list[str]:
    # each link's text is its icon's name, then its title
    return [link.inner_text().strip().splitlines()[-1] for link in page.get_by_test_id("stSidebarNavLink").all()]


def screenshot(page, role: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"dashboard-{role}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000  # not blank
    return path


def refused_by_url(page, base: str, path: str, own_page: str, forbidden: tuple[str, ...]) -> None:
    """Open another role's page by URL: Streamlit runs the person's own first page instead (checked
    first, so the page is complete), and nothing of the other page is sent."""
    from playwright.sync_api import expect

    visit(page, f"{base}/{path}")
    expect(heading(page, own_page)).to_be_visible()
    text = settle(page)
    assert not [t for t in forbidden if t in text], (path, forbidden)


def test_nobody_signed_in_sees_the_sign_in_page_only(browser, dashboard):
    from playwright.sync_api import expect

    base, _ = dashboard
    page = sign_in(browser, dashboard, None)
    for path in (
        "",
        "statement_explorer",
        "advisor_portfolio",
        "kpi_trends",
        "risk_scoring",
        "?customer=" + uid("alice"),
    ):
        visit(page, f"{base}/{path}")
        # (a page this visitor may not open is first "not found", then the main page: the sign-in)
        expect(page.get_by_role("button", name="Sign in")).to_have_count(1)
        text = settle(page)
        assert not [name for name in CUSTOMER_NAMES if name in text]
        assert "EUR" not in text and navigation(page) == []
    screenshot(page, "not-signed-in")


def test_a_customer_sees_only_their_own_statement(browser, dashboard, home):
    from playwright.sync_api import expect

    base, provider = dashboard
    provider.ensure_users([])  # Alice is a demo user: the first customer of Claire's book
    page = sign_in(browser, dashboard, customer_username(uid("alice")))
    expect(heading(page, "Monthly Statement Explorer")).to_be_visible()
    expect(page.get_by_text("9,334.04 EUR").first).to_be_visible()
    text = wait_until_sent(page, "Dinner share")  # the last line of her statement's table
    assert navigation(page) == []  # one page: Streamlit shows no navigation at all
    assert "Alice Durand" in text and not [n for n in CUSTOMER_NAMES if n != "Alice Durand" and n in text]
    screenshot(page, "customer")
    for path in ("advisor_portfolio", "kpi_trends", "risk_scoring"):
        refused_by_url(page, base, path, "Monthly Statement Explorer", ("189.90", "Bruno Petit", "Didier", "Hugo"))
    # another customer's statement by URL: refused, nothing of his shows
    visit(page, f"{base}/?customer={uid('bruno')}")
    expect(page.get_by_text("No statement to show for this link.")).to_be_visible()
    assert not [t for t in ("Bruno Petit", "1,705.10", "9,334.04") if t in settle(page)]


def test_an_advisor_sees_only_their_own_customers(browser, dashboard, home):
    from playwright.sync_api import expect

    base, _ = dashboard
    page = sign_in(browser, dashboard, advisor_username(uid("hugo")))
    expect(heading(page, "Monthly Statement Explorer")).to_be_visible()
    assert navigation(page) == [
        "Monthly Statement Explorer", "Today", "Customer Health & Risk Scoring", "Advisor Portfolio Summary",
        "Customer value",
    ]  # fmt: skip
    page.get_by_test_id("stSelectbox").first.click()
    options = [o.inner_text() for o in page.get_by_role("option").all()]
    assert options == ["Didier Lefèvre (Bronze)", "Chloé Moreau (Diamond)"]
    page.keyboard.press("Escape")
    claire_customers = ("Alice Durand", "Bruno Petit", "Emma Roux", uid("alice"), uid("bruno"), uid("emma"))
    assert not [name for name in claire_customers if name in settle(page)]
    for path, title in (
        ("risk_scoring", "Customer Health & Risk Scoring"),
        ("advisor_portfolio", "Advisor Portfolio Summary"),
    ):
        visit(page, f"{base}/{path}")
        expect(heading(page, title)).to_be_visible()
        text = wait_until_sent(page, "Didier Lefèvre")  # his own customer, in the page's table
        assert not [name for name in claire_customers if name in text], path
    assert "Budget support (1)" in text
    screenshot(page, "advisor")
    refused_by_url(page, base, "kpi_trends", "Monthly Statement Explorer", ("189.90", "Business KPI Trends"))
    # another advisor's customer by URL: refused, and nothing of hers shows
    visit(page, f"{base}/?customer={uid('alice')}")
    expect(page.get_by_text("No statement to show for this link.")).to_be_visible()
    assert not [name for name in claire_customers if name in settle(page)]
    visit(page, f"{base}/advisor_portfolio?advisor={uid('claire')}")
    expect(page.get_by_text("No book to show for this link.")).to_be_visible()
    denied = [r for r in read(home.settings()) if r.subject == advisor_username(uid("hugo")) and r.outcome == "denied"]
    assert {(r.action, r.customer_id) for r in denied} >= {("view_statement", uid("alice")), ("view_portfolio", None)}


def test_a_director_sees_aggregates_and_no_customer(browser, dashboard, home):
    from playwright.sync_api import expect

    base, provider = dashboard
    page = sign_in(browser, dashboard, "director")
    expect(heading(page, "Business KPI Trends")).to_be_visible()
    expect(page.get_by_text("189.90 EUR").first).to_be_visible()
    assert navigation(page) == [
        "Business KPI Trends", "Today", "Advisor Portfolio Summary", "Customer Health & Risk Scoring",
        "Customer value",
    ]  # fmt: skip
    texts = [settle(page)]
    # each page's own data first (so the page is complete), then what must not be there
    for path, title, shown in (
        ("advisor_portfolio", "Advisor Portfolio Summary", "Hugo Bernard"),  # advisors' totals, by advisor
        ("risk_scoring", "Customer Health & Risk Scoring", "Customers' individual scores are shown"),
    ):
        visit(page, f"{base}/{path}")
        expect(heading(page, title)).to_be_visible()
        texts.append(wait_until_sent(page, shown))
    for text in texts:
        assert not [name for name in CUSTOMER_NAMES if name in text]
        assert uid("alice") not in text
    visit(page, base)  # the director's first page
    expect(heading(page, "Business KPI Trends")).to_be_visible()
    settle(page)
    screenshot(page, "director")
    for path in ("statement_explorer", f"statement_explorer?customer={uid('alice')}", f"?customer={uid('alice')}"):
        refused_by_url(page, base, path, "Business KPI Trends", (*CUSTOMER_NAMES, "Monthly Statement Explorer"))
    # signing out ends the session here and at the provider: back to the sign-in page, and no KPI by URL
    # (wait for the whole sign-out: the app's cookie cleared, then the provider's end-session and back;
    # leaving the page earlier would interrupt it, as it would for a person)
    with page.expect_request(lambda request: request.url.startswith(provider.issuer())):
        page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/**")
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while any(cookie["name"].startswith("_streamlit_user") for cookie in page.context.cookies()):
        assert time.monotonic() < deadline, "the sign-in cookie outlived the sign-out"
        page.wait_for_timeout(100)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    visit(page, f"{base}/kpi_trends")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert "189.90" not in settle(page)


# --- Customer value (issue 24) ---


def click_cell(page, table: int, row: int, x: int = 30) -> None:
    """Click a cell of the `table`-th table (drawn on a canvas): header and rows are 35 px high."""
    grid = page.get_by_test_id("stDataFrame").nth(table)
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + 35 * (row + 1) + 17)


def test_customer_value_as_an_advisor_down_to_a_customers_driver(browser, dashboard):
    from playwright.sync_api import expect

    base, _ = dashboard
    page = sign_in(browser, dashboard, advisor_username(uid("hugo")))
    visit(page, f"{base}/customer_value")
    expect(heading(page, "Customer value")).to_be_visible()
    settle(page)
    click_cell(page, 1, 0)  # the first tier's name: its customers
    expect(page.get_by_text(re.compile("^Customers of tier "))).to_be_visible()
    text = wait_until_sent(page, "Chloé Moreau")  # the highest tier of Hugo's book: the 60,000 loan
    assert re.search(r"summing to [\d,.]+", text)
    claire_customers = ("Alice Durand", "Bruno Petit", "Emma Roux", uid("alice"), uid("bruno"), uid("emma"))
    assert not [name for name in claire_customers if name in text]
    screenshot(page, "advisor-customer-value")
    page.context.close()


def test_customer_value_as_a_director_without_a_customer(browser, dashboard):
    from playwright.sync_api import expect

    base, _ = dashboard
    page = sign_in(browser, dashboard, "director")
    visit(page, f"{base}/customer_value")
    expect(heading(page, "Customer value")).to_be_visible()
    wait_until_sent(page, "Value per advisor")
    click_cell(page, 2, 0)  # the matrix: the first tier's row, its label; then the next cell, by keyboard
    settle(page)
    page.keyboard.press("ArrowRight")
    expect(page.get_by_text(re.compile(r"Customers, \d{4}-\d{2}, moved "))).to_be_visible()
    text = settle(page)
    assert not [name for name in CUSTOMER_NAMES if name in text]
    assert not [customer for customer in ("alice", "bruno", "chloe", "didier", "emma") if uid(customer) in text]
    screenshot(page, "director-customer-value")
    page.context.close()


# --- sessions that end, no framing, files made on the click (issue 22) ---


def with_cookies(browser, cookies: list[dict]):
    """Another browser (an attacker's) holding a copy of someone's cookies."""
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    context.add_cookies(cookies)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    record_what_the_server_sends(page)
    return page


def signed_in_here(page, base: str) -> bool:
    """Open the dashboards: True if they show someone signed in, False if the sign-in page."""
    from playwright.sync_api import expect

    visit(page, base)
    signed_in = page.get_by_text(re.compile("^Signed in as "))
    expect(signed_in.or_(page.get_by_role("button", name="Sign in"))).to_be_visible()
    if signed_in.count():
        return True
    text = settle(page)
    assert not [name for name in CUSTOMER_NAMES if name in text] and "EUR" not in text and navigation(page) == []
    return False


def forge_expiry(cookies: list[dict], home, exp: float) -> list[dict]:
    """The same cookies with the identity's `exp` changed and the cookie signed again, as Streamlit
    signs it: what a browser holds `now - exp` seconds after (or before) the ID token expires."""
    import json
    import tomllib

    from itsdangerous import URLSafeTimedSerializer

    secrets = tomllib.loads((home.home / "dashboard" / "secrets.toml").read_text())
    signer = URLSafeTimedSerializer(secrets["auth"]["cookie_secret"], salt="_streamlit_user")
    forged = []
    for cookie in cookies:
        assert cookie["name"] != "_streamlit_user_1", "a chunked identity cookie: forge each chunk"
        if cookie["name"] == "_streamlit_user":
            claims = json.loads(signer.loads(cookie["value"]))
            lifetime = claims["exp"] - claims["iat"]
            claims.update(exp=int(exp), iat=int(exp - lifetime))
            cookie = {**cookie, "value": signer.dumps(json.dumps(claims))}
        forged.append(cookie)
    return forged


def test_a_cookie_copied_before_sign_out_no_longer_signs_in_after_it(browser, dashboard):
    base, provider = dashboard
    page = sign_in(browser, dashboard, advisor_username(uid("hugo")))
    copied = page.context.cookies()
    thief = with_cookies(browser, copied)
    assert signed_in_here(thief, base)  # the copy works while the session lasts: it is a real copy
    thief.context.close()
    with page.expect_request(lambda request: request.url.startswith(provider.issuer())):
        page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/**")
    thief = with_cookies(browser, copied)
    assert not signed_in_here(thief, base)
    assert not signed_in_here(thief, f"{base}/risk_scoring")


def test_a_session_whose_identity_token_has_expired_is_signed_out(browser, dashboard, home):
    """The ID token lives an hour (identity/server.py); rather than wait, the cookie Streamlit
    signed is re-signed with its `exp` moved: an hour ahead it still signs in (the forgery is
    faithful), three hours in the past it does not."""
    base, _ = dashboard
    page = sign_in(browser, dashboard, "director")
    cookies = page.context.cookies()
    page.context.close()
    later = with_cookies(browser, forge_expiry(cookies, home, time.time() + 3600))
    assert signed_in_here(later, base)
    later.context.close()
    expired = with_cookies(browser, forge_expiry(cookies, home, time.time() - 3 * 3600))
    assert not signed_in_here(expired, f"{base}/kpi_trends")
    assert not signed_in_here(expired, base)
    assert expired.get_by_text("Your session has ended: sign in again.").count() == 1


def test_a_session_ends_at_its_token_expiry_and_at_sign_out(tmp_path):
    """sessions.py on its own, the clock given: what current_principal() asks at every run."""
    from finefinance_platform.dashboards import sessions
    from finefinance_platform.settings import load_settings

    settings = load_settings({**os.environ, "FINEFINANCE_HOME": str(tmp_path)})
    now = 1_800_000_000
    claims = {"iss": "https://idp", "sub": "director", "iat": now - 600, "exp": now + 3000, "nonce": "n1"}
    assert sessions.ended(claims, now, settings) is None
    assert sessions.ended({**claims, "exp": now - 1}, now, settings) == sessions.EXPIRED  # hours ago or just now
    assert sessions.ended({**claims, "exp": now}, now, settings) == sessions.EXPIRED
    assert sessions.ended({k: v for k, v in claims.items() if k != "exp"}, now, settings) == sessions.EXPIRED
    assert sessions.ended({**claims, "exp": "never"}, now, settings) == sessions.EXPIRED
    sessions.sign_out({**claims, "nonce": "old", "exp": now + 10}, now, settings)
    sessions.sign_out(claims, now, settings)
    assert sessions.ended(claims, now, settings) == sessions.SIGNED_OUT
    # the same person's next sign-in (another nonce and iat) is a new session
    assert sessions.ended({**claims, "iat": now + 5, "nonce": "n2"}, now + 5, settings) is None
    path = sessions.deny_list_path(settings)
    assert path.stat().st_mode & 0o777 == 0o600
    # a denied session's row lasts as long as its token could: then its expiry refuses it anyway
    sessions.sign_out({**claims, "nonce": "n3"}, now + 20, settings)
    with sqlite3.connect(path) as con:
        assert con.execute("select count(*) from signed_out").fetchone() == (2,)


def test_no_other_site_can_frame_the_dashboards(browser, dashboard):
    import httpx
    from playwright.sync_api import expect

    base, _ = dashboard
    for path in ("", "statement_explorer", "_stcore/health", "auth/login"):
        headers = httpx.get(f"{base}/{path}", follow_redirects=False, timeout=10).headers
        assert headers.get("x-frame-options") == "DENY", path
        assert headers.get("content-security-policy") == "frame-ancestors 'none'", path
        assert headers.get("x-content-type-options") == "nosniff", path
    # a page of another origin frames the dashboards to trick a click: the browser shows nothing of them.
    # (served from loopback: Chromium refuses a public page's frame of a local address on its own)
    body = f'<iframe src="{base}/" width="1000" height="600"></iframe>'.encode()

    class AttackerPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), AttackerPage) as attacker:
        threading.Thread(target=attacker.serve_forever, daemon=True).start()
        page = browser.new_context().new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"http://localhost:{attacker.server_address[1]}/")  # another origin: another host and port
        page.wait_for_timeout(3_000)  # long enough for the app's first page to draw, were it allowed
        expect(page.frame_locator("iframe").get_by_role("button", name="Sign in")).to_have_count(0)
        assert [frame.url for frame in page.frames if frame.url.startswith(base)] == []
        page.context.close()
        attacker.shutdown()


def test_a_statement_file_is_made_and_logged_only_on_the_click(browser, dashboard, home):
    from playwright.sync_api import expect

    _, provider = dashboard
    provider.ensure_users([])
    alice = customer_username(uid("alice"))
    page = sign_in(browser, dashboard, alice)
    expect(page.get_by_role("button", name="Download PDF")).to_be_visible()
    sent = b"".join(page.received)

    def downloads() -> list:
        return [r for r in read(home.settings()) if r.subject == alice and r.action in ("download_pdf", "download_csv")]

    before = downloads()
    # nothing published ahead of the click: no file URL (that anyone holding it could fetch) and no PDF
    assert re.findall(rb"/media/[\w-]+\.(?:pdf|csv)", sent) == [] and b"%PDF" not in sent
    with page.expect_download() as download, page.expect_response(lambda r: "/media/" in r.url) as served:
        page.get_by_role("button", name="Download PDF").click()
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    assert served.value.headers["cache-control"] == "no-store"  # no copy left in a shared computer's cache
    new = [r for r in downloads() if r not in before]
    assert [(r.action, r.customer_id, r.outcome) for r in new] == [("download_pdf", uid("alice"), "allowed")]
    assert new[0].detail.startswith("version ")
    page.context.close()
