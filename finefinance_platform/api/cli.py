"""`finefinance serve`: the HTTP statement service."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve customers their statements over HTTP (access tokens of the identity provider)."""
    import uvicorn

    from finefinance_platform.api.service import create_app
    from finefinance_platform.identity.cli import ensure_identity
    from finefinance_platform.settings import get_settings

    settings = get_settings()
    uvicorn.run(create_app(settings, issuer=ensure_identity(settings)), host=host, port=port, log_level="info")
