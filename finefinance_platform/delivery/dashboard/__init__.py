"""The four dashboards (Streamlit multipage app), reading the marts through `open_marts()` only."""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).parent / "app.py"
PAGES_DIR = Path(__file__).parent / "pages"


def streamlit_command(host: str, port: int) -> list[str]:
    """`streamlit run` for the app: headless (no browser opened), no usage statistics sent."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--client.toolbarMode", "viewer",
    ]  # fmt: skip
