"""The embedded identity provider's process: Canaille (Flask) served by Hypercorn on loopback.

Run by `identity.provider.EmbeddedIdentityProvider.start()` as
`python -m finefinance_platform.identity.server --state <home>/identity --port N`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

# Canaille puts the standard OpenID claims in tokens (its USERINFO_MAPPING has a fixed list of
# them) and has no setting for custom ones. The platform's policy reads `role` and `customer_id` /
# `advisor_id` (the claims Keycloak's mappers give in production), so they are registered here,
# under their own scope `finefinance`, and filled from the user's `title` (the role) and
# `employee_number` (the customer or advisor id).
CUSTOM_CLAIMS = {
    "ROLE": "{{ user.title or '' }}",
    "CUSTOMER_ID": "{% if user.title == 'customer' %}{{ user.employee_number }}{% endif %}",
    "ADVISOR_ID": "{% if user.title == 'advisor' %}{{ user.employee_number }}{% endif %}",
}
SCOPE = "finefinance"
TOKEN_LIFETIME_SECONDS = 3600


def canaille_config(state: dict, port: int, database: Path) -> dict:
    return {
        "SECRET_KEY": state["secret_key"],
        "SERVER_NAME": f"127.0.0.1:{port}",
        "PREFERRED_URL_SCHEME": "http",
        "OAUTH2_TOKEN_EXPIRES_IN": {
            grant: TOKEN_LIFETIME_SECONDS for grant in ("authorization_code", "password", "refresh_token", "implicit")
        },
        "CANAILLE": {"NAME": "FineFinance sign-in", "LOGGING": {"version": 1, "disable_existing_loggers": False}},
        "CANAILLE_SQL": {"DATABASE_URI": f"sqlite:///{database}"},
        "CANAILLE_OIDC": {"ACTIVE_JWKS": [state["jwk"]]},
    }


def create_provider_app(state: dict, port: int, database: Path):
    """Canaille's Flask app with the platform's claims; also used in-process to administer it."""
    import logging

    import canaille
    import canaille.oidc.userinfo as userinfo

    # Canaille's schema migrations (Flask-Alembic) log each step at INFO on every start, unless the
    # `alembic` logger already has a handler: give it one for warnings only
    migrations = logging.getLogger("alembic")
    migrations.setLevel(logging.WARNING)
    if not migrations.handlers:
        migrations.addHandler(logging.StreamHandler())

    claims = [name.lower() for name in CUSTOM_CLAIMS]
    if "role" not in userinfo.UserInfo.REGISTERED_CLAIMS:
        userinfo.UserInfo.REGISTERED_CLAIMS = [*userinfo.UserInfo.REGISTERED_CLAIMS, *claims]
        userinfo.UserInfo.SCOPES_CLAIMS_MAPPING = {**userinfo.UserInfo.SCOPES_CLAIMS_MAPPING, SCOPE: claims}
    app = canaille.create_app(config=canaille_config(state, port, database), env_file=None)
    app.config["CANAILLE_OIDC"]["USERINFO_MAPPING"].update(CUSTOM_CLAIMS)
    return app


async def _serve(app, port: int) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(app, config, shutdown_trigger=stop.wait, mode="wsgi")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    state = json.loads((args.state / "provider.json").read_text())
    app = create_provider_app(state, args.port, args.state / "canaille.sqlite")
    asyncio.run(_serve(app, args.port))


if __name__ == "__main__":
    main()
