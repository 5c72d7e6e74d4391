"""The dashboards (Streamlit multipage app) behind sign-in, reading the marts through `open_marts()` only;
the customer value backtest (`finefinance value backtest`) beside the Customer value page."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from finefinance_platform.errors import SettingsError
from finefinance_platform.settings import Settings

APP = Path(__file__).parent / "app.py"
# what `streamlit run` starts: app.py as an st.App with the response headers Streamlit has no option for
LAUNCHER = Path(__file__).parent / "launcher.py"
PAGES_DIR = Path(__file__).parent / "pages"


def streamlit_command(host: str, port: int, secrets_file: Path) -> list[str]:
    """`streamlit run` for the app: headless (no browser opened), no usage statistics sent."""
    return [
        sys.executable, "-m", "streamlit", "run", str(LAUNCHER),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--client.toolbarMode", "viewer",
        "--secrets.files", str(secrets_file),
    ]  # fmt: skip


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def write_auth_secrets(settings: Settings, issuer: str) -> Path:
    """Streamlit's `[auth]` section (st.login, OIDC) in <home>/dashboard/secrets.toml, mode 0600.

    Streamlit reads its sign-in settings only from a secrets file; the values come from the
    settings (production: the environment) or, for the embedded provider, from its generated state.
    """
    identity = settings.identity
    client_secret, cookie_secret = identity.dashboard_client_secret, identity.cookie_secret
    if identity.embedded:
        from finefinance_platform.identity.provider import EmbeddedIdentityProvider

        state = EmbeddedIdentityProvider(settings).state()
        client_secret, cookie_secret = state["dashboard_client_secret"], state["cookie_secret"]
    for name, value in (
        ("FINEFINANCE_OIDC_DASHBOARD_CLIENT_SECRET", client_secret),
        ("FINEFINANCE_DASHBOARD_COOKIE_SECRET", cookie_secret),
    ):
        if not value:
            raise SettingsError(f"{name} is not set: the dashboards cannot sign people in at {issuer}")
    path = settings.home / "dashboard" / "secrets.toml"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = "\n".join(
        [
            "# written by `finefinance dashboard` from the settings: do not edit, do not commit",
            "[auth]",
            f"redirect_uri = {_toml(identity.dashboard_redirect_uri)}",
            f"cookie_secret = {_toml(cookie_secret)}",
            f"client_id = {_toml(identity.dashboard_client_id)}",
            f"client_secret = {_toml(client_secret)}",
            f"server_metadata_url = {_toml(issuer.rstrip('/') + '/.well-known/openid-configuration')}",
            # the platform's claims (role, customer_id, advisor_id) come with their own scope;
            # prompt=login: a shared computer at a branch never reuses the last person's session
            'client_kwargs = { scope = "openid profile finefinance", prompt = "login" }',
            "",
        ]
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path
