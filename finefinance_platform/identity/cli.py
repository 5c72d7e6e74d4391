"""`finefinance identity start|stop|status`, `finefinance users`, `finefinance token`."""

from __future__ import annotations

import click

from finefinance_platform.settings import Settings, get_settings


def ensure_identity(settings: Settings, dashboard_port: int | None = None) -> str:
    """The issuer people sign in at: the configured provider, or the embedded one, started (with its
    demo users, when there are marts to make them from) if it is not running. Returns its URL."""
    if not settings.identity.embedded:
        return settings.identity.issuer
    from finefinance_platform.identity.provider import EmbeddedIdentityProvider, demo_users
    from finefinance_platform.serving.marts import MartsUnavailableError, open_marts

    provider = EmbeddedIdentityProvider(settings)
    status = provider.start()
    if dashboard_port is not None:
        provider.ensure_clients(dashboard_ports=(dashboard_port,))
    try:
        with open_marts(settings) as con:
            provider.ensure_users(demo_users(con))
    except MartsUnavailableError:
        pass  # no marts yet: the demo users come with them
    return status.issuer


@click.group()
def identity() -> None:
    """The embedded OpenID Connect provider (unless FINEFINANCE_OIDC_ISSUER names another)."""


@identity.command()
def start() -> None:
    """Start the embedded identity provider (idempotent) and create the demo users."""
    from finefinance_platform.identity.provider import EmbeddedIdentityProvider

    settings = get_settings()
    ensure_identity(settings)
    click.echo(EmbeddedIdentityProvider(settings).status().describe())


@identity.command()
def stop() -> None:
    """Stop the embedded identity provider."""
    from finefinance_platform.identity.provider import EmbeddedIdentityProvider

    click.echo(EmbeddedIdentityProvider(get_settings()).stop().describe())


@identity.command()
def status() -> None:
    """Say whether the embedded identity provider runs and where (exit 3 when stopped)."""
    from finefinance_platform.identity.provider import EmbeddedIdentityProvider

    settings = get_settings()
    if not settings.identity.embedded:
        click.echo(f"identity provider: {settings.identity.issuer} (FINEFINANCE_OIDC_ISSUER)")
        return
    state = EmbeddedIdentityProvider(settings).status()
    click.echo(state.describe())
    if not state.running:
        raise SystemExit(3)


SAMPLE_PER_ROLE = 3


def _first_of_each_role(users: list, count: int) -> list:
    seen: dict[str, int] = {}
    kept = []
    for user in users:
        seen[user.role] = seen.get(user.role, 0) + 1
        if seen[user.role] <= count:
            kept.append(user)
    return kept


@click.command()
@click.option("--role", type=click.Choice(["customer", "advisor", "director"]), help="Only users of this role.")
@click.option("--sample", is_flag=True, help=f"Only the first {SAMPLE_PER_ROLE} of each role.")
def users(role: str | None, sample: bool) -> None:
    """The demo users of the embedded provider: role, id, name and how to sign in."""
    from finefinance_platform.identity.provider import EmbeddedIdentityProvider, IdentityError, demo_users
    from finefinance_platform.serving.marts import open_marts

    settings = get_settings()
    if not settings.identity.embedded:
        raise IdentityError(f"people sign in at {settings.identity.issuer}: its users are managed there")
    ensure_identity(settings)
    provider = EmbeddedIdentityProvider(settings)
    with open_marts(settings) as con:
        everyone = demo_users(con)
    matching = [user for user in everyone if role in (None, user.role)]
    listed = _first_of_each_role(matching, SAMPLE_PER_ROLE) if sample else matching
    click.echo(f"sign in to the dashboards (`finefinance dashboard`) at {provider.issuer()}")
    click.echo("each demo user has a password of their own (local demo only: the bank's provider has no demo users)")
    click.echo(f"  {'username':<20} {'password':<22} {'role':<9} {'id':<37} name")
    for user in listed:
        advised = f" (customer of {user.advisor})" if user.advisor else ""
        password = provider.demo_password(user.username)
        click.echo(f"  {user.username:<20} {password:<22} {user.role:<9} {user.id or '-':<37} {user.name}{advised}")
    if len(listed) < len(matching):
        click.echo(f"  ... {len(matching)} demo users in all: `finefinance users`")


@click.command()
@click.option("--customer-id", required=True, help="A customer of the marts (marts.dim_customer.customer_id).")
def token(customer_id: str) -> None:
    """Print an access token for that customer's demo user, from the embedded identity provider.

    For `curl -H "Authorization: Bearer $(finefinance token --customer-id ID)"` against the
    statement service; the demo user is created if it does not exist yet.
    """
    from finefinance_platform.identity.provider import EmbeddedIdentityProvider, IdentityError, customer_user
    from finefinance_platform.serving.marts import open_marts

    settings = get_settings()
    if not settings.identity.embedded:
        raise IdentityError(
            "FINEFINANCE_OIDC_ISSUER is set: tokens come from that provider; `finefinance token` serves the "
            "embedded demo users only"
        )
    ensure_identity(settings)
    provider = EmbeddedIdentityProvider(settings)
    with open_marts(settings) as con:
        user = customer_user(con, customer_id.strip())
    provider.ensure_users([user])
    click.echo(provider.password_token(user.username)["access_token"])
