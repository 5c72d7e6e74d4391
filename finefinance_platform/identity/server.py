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

# Deny by default: a person may sign in, sign out and change their own password; nothing else of
# Canaille's is served (every other page answers 404). Each page the platform keeps, and why:
ALLOWED_PAGES = {
    "oidc.home.openid_configuration_endpoint": "discovery: the clients find the endpoints and keys here",
    "oidc.endpoints.jwks": "the public keys the services check token signatures with",
    "oidc.endpoints.authorize": "the dashboards' authorization code flow (PKCE)",
    "oidc.endpoints.issue_token": "codes exchanged for tokens; the demo's password grant (`finefinance token`)",
    "oidc.endpoints.end_session": "signing out of the dashboards ends the provider's session too",
    "core.auth.login": "the sign-in page (user name)",
    "core.auth.password.password": "the sign-in page (password)",
    "core.auth.logout": "signing out at the provider",
    "core.account.index": "the provider's home, which sends a signed-in person to their password page",
    "core.account.auth.profile_auth_password": "a person changes their own password (the only field they may write)",
    "static": "the sign-in pages' stylesheets, scripts and fonts",
}
# What each person may do at the provider (Canaille's ACL). The claims the platform trusts come from
# `title` (role) and `employee_number` (customer or advisor id): only the platform writes them, in
# its own process (`EmbeddedIdentityProvider.ensure_users`). Canaille's default lets people edit
# both on their profile page and create groups, and makes any member of a group named `admin` an
# administrator: there is no administrator ACL here at all.
ACL = {
    "DEFAULT": {
        "PERMISSIONS": ["use_oidc", "edit_self"],  # edit_self: the password page; WRITE limits it to that
        "READ": ["user_name"],
        "WRITE": ["password"],
    }
}
# Answers of the provider are never framed (clickjacking of the sign-in page), never sniffed into
# another type, and never kept by a cache (they carry codes, tokens and personal data).
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def canaille_config(state: dict, port: int, database: Path) -> dict:
    return {
        "SECRET_KEY": state["secret_key"],
        "SERVER_NAME": f"127.0.0.1:{port}",
        "PREFERRED_URL_SCHEME": "http",
        "OAUTH2_TOKEN_EXPIRES_IN": {
            grant: TOKEN_LIFETIME_SECONDS for grant in ("authorization_code", "password", "refresh_token", "implicit")
        },
        "CANAILLE": {
            "NAME": "FineFinance sign-in",
            "LOGGING": {"version": 1, "disable_existing_loggers": False},
            "ACL": ACL,
            "ENABLE_REGISTRATION": False,
            "ENABLE_PASSWORD_RECOVERY": False,  # no mail here: a reset link would go nowhere
            "HIDE_INVALID_LOGINS": True,  # a wrong name and a wrong password read the same
            "AUTHENTICATION_FACTORS": ["password"],
        },
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

    _unique_access_tokens()
    claims = [name.lower() for name in CUSTOM_CLAIMS]
    if "role" not in userinfo.UserInfo.REGISTERED_CLAIMS:
        userinfo.UserInfo.REGISTERED_CLAIMS = [*userinfo.UserInfo.REGISTERED_CLAIMS, *claims]
        userinfo.UserInfo.SCOPES_CLAIMS_MAPPING = {**userinfo.UserInfo.SCOPES_CLAIMS_MAPPING, SCOPE: claims}
    app = canaille.create_app(config=canaille_config(state, port, database), env_file=None)
    app.config["CANAILLE_OIDC"]["USERINFO_MAPPING"].update(CUSTOM_CLAIMS)
    _deny_by_default(app)
    return app


def _unique_access_tokens() -> None:
    """Canaille's access tokens carry no `jti`: two asked for one person within a second are the same
    string, and the unique key of its token table answers the second request with a 500. This is
    Canaille's `generate_access_token` (0.3.6) with a `jti` added; Authlib resolves the generator by
    its import path when the app is made, so it is replaced before."""
    import uuid

    import canaille.oidc.provider as oidc

    if getattr(oidc.generate_access_token, "unique", False):
        return
    canaille_generator = oidc.generate_access_token

    def generate_access_token(client, grant_type, user, scope):
        if grant_type == "client_credentials":
            return canaille_generator(client, grant_type, user, scope)
        jwk, alg = oidc._get_signing_key(client)
        claims = {**oidc.UserInfo(oidc.generate_user_claims(user)).filter(scope), "jti": str(uuid.uuid4())}
        return oidc.generate_id_token(
            token={},
            user_info=claims,
            aud=[audience.client_id for audience in client.audience],
            key=jwk,
            iss=oidc.get_issuer(),
            kid=jwk.kid,
            alg=alg,
            exp=oidc.authorization._token_generators["default"]._get_expires_in(client, grant_type),
        )

    generate_access_token.unique = True
    oidc.generate_access_token = generate_access_token


def _deny_by_default(app) -> None:
    import flask
    from canaille.backends import Backend

    from finefinance_platform.identity.throttle import SignInThrottle, guard_password_checks

    @app.before_request
    def only_the_allowed_pages():
        if flask.request.endpoint not in ALLOWED_PAGES:
            flask.abort(404)
        if flask.request.endpoint == "core.account.index" and flask.g.get("session"):
            # Canaille's home sends people to their profile page, which is not served here
            page = flask.url_for("core.account.auth.profile_auth_password", edited_user=flask.g.session.user)
            return flask.redirect(page)
        return None

    @app.after_request
    def security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        if flask.request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
        return response

    # the provider's process has one backend; so do the platform's own administration calls, which
    # check no password
    guard_password_checks(Backend.instance, SignInThrottle(), lambda: flask.request.remote_addr)


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
