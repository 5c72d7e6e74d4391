"""What `streamlit run` starts for the dashboards: app.py as an `st.App`, with response headers
Streamlit has no setting for.

Streamlit 1.67 serves on Starlette and has no option for response headers; its public `st.App`
takes a Starlette middleware list, and `streamlit run` on a file that defines `app = st.App(...)`
serves that app (same routes, sign-in and config flags). The one middleware here:
- forbids framing: a page of another site cannot show the dashboards (or their Sign in / Sign out
  buttons) inside a frame and trick a click (clickjacking). Both headers: `frame-ancestors` for
  today's browsers, `X-Frame-Options` for those that predate CSP 2;
- `nosniff` everywhere, and `no-store` on /media/, where the statement a person downloads is served
  (Streamlit sends no Cache-Control there: a shared computer's cache must not keep it).
"""

from __future__ import annotations

import streamlit as st
from starlette.middleware import Middleware

from finefinance_platform.dashboards import APP

HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
]
NO_STORE = [(b"cache-control", b"no-store")]


class SecurityHeadersMiddleware:
    """Adds the headers to every HTTP response (pages, assets, files, sign-in redirects)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":  # the websocket and lifespan carry no page
            await self.app(scope, receive, send)
            return

        added = HEADERS + (NO_STORE if "/media/" in scope["path"] else [])
        names = {name for name, _ in added}

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = [(name, value) for name, value in message.get("headers", []) if name.lower() not in names]
                message = {**message, "headers": headers + added}
            await send(message)

        await self.app(scope, receive, send_with_headers)


app = st.App(APP, middleware=[Middleware(SecurityHeadersMiddleware)])
