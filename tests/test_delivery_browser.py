"""A real browser on the real dashboard: `finefinance dashboard` + Chromium (Debian package) via Playwright.

Chromium comes from the system (`apt-get install -y chromium`, as `.ci/run` does); Playwright never
downloads a browser here. Without Chromium this test fails, saying so: it is never skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from delivery_fixtures import free_port, make_delivery_home, wait_for_http

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PAGES = [
    ("", "Monthly Statement Explorer", "9,334.04 EUR"),
    ("risk_scoring", "Customer Health & Risk Scoring", "Riskiest customers"),
    ("advisor_portfolio", "Advisor Portfolio Summary", "Budget support (1)"),
    ("kpi_trends", "Business KPI Trends", "189.90 EUR"),
]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    home = make_delivery_home(tmp_path_factory.mktemp("browser-home"))
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "finefinance"), "dashboard", "--port", str(port)],
        env={**os.environ, **home.env()}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/_stcore/health", process)
        yield base
    finally:
        # streamlit runs as our child's child: end the whole session we started
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


def test_the_dashboard_in_chromium(dashboard, tmp_path):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package `chromium` (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            for path, heading, text in PAGES:
                page.goto(f"{dashboard}/{path}")
                expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible(timeout=60_000)
                expect(page.get_by_text(text).first).to_be_visible(timeout=30_000)
                assert not page.get_by_text("Traceback").count()
                screenshot = tmp_path / f"dashboard-{path or 'statement_explorer'}.png"
                page.screenshot(path=str(screenshot), full_page=True)
                assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
                assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one
        finally:
            browser.close()
    print(f"screenshots in {tmp_path}")
