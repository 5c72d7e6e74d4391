"""The statement service: a signed-in customer lists and downloads their own statements, nothing else.

Callers present an access token of the identity provider (checked in access/tokens.py: signature
against the provider's keys, issuer, audience, expiry). The token decides whose statements are
served: no URL carries a customer id, so there is no other customer's statement to ask for. The
access policy (access/policy.py) decides every request; every answer about a customer's data, and
every refusal, is a row of audit.access_log. Refusals say nothing: 401 without a valid token, 403
for a signed-in person who is not a customer, and the same 404 for "not yours", "not closed", "no
data" and any unknown path. The marts are read through `open_marts()` (the serving copy), with
parameterized SQL only.

Statements are issued versions (delivery.statement_issues): `/statements/YYYY-MM.pdf` is the latest,
`?version=N` an earlier one; `POST /statements/verify` (the file as the body) says whether a
downloaded PDF or CSV is an authentic issued version of the caller's own statements.

The verify endpoint takes files from the internet, so it is bounded at every step: the body is read
a chunk at a time and refused (413) past MAX_VERIFY_BYTES, at once when its Content-Length says so;
the work (parsing, SQL, rendering again) runs in a worker thread, VERIFY_CONCURRENCY at a time, for
at most VERIFY_SECONDS (503 past either), so the event loop keeps answering everyone else; the
parsing itself is bounded in statements/verify.py (a file past its bounds is 400, not a statement).

Every answer carries SECURITY_HEADERS (a middleware: refusals too): nothing is cached, sniffed or framed.
Every access-log row names the caller's address; refusal reasons are short and fixed, never the
caller's own text.
"""

# no `from __future__ import annotations`: FastAPI must resolve the dependencies declared inside create_app
import functools
import re
import threading
from typing import Annotated

import anyio
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import MutableHeaders

from finefinance_platform.access import access_log
from finefinance_platform.access.policy import Action, Principal, Role, decide
from finefinance_platform.access.tokens import AccessTokenVerifier, IdentityProviderUnavailable, TokenError
from finefinance_platform.months import parse_month
from finefinance_platform.serving.marts import open_marts
from finefinance_platform.settings import Settings
from finefinance_platform.statements.issuing.issued import issued_versions_by_month, load_issued_statement
from finefinance_platform.statements.marts import statement_months
from finefinance_platform.statements.model import StatementError, StatementIntegrityError
from finefinance_platform.statements.render import render
from finefinance_platform.statements.verify import NotAStatementError, NotTheirsError, check_bounds, verify_document

MONTH_PATTERN = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
VERSION_PATTERN = re.compile(r"[1-9]\d{0,5}")
VERIFY_PATH = "/statements/verify"
# the largest statement measured: a month of 3,000 card payments is 584 KB of CSV (167 KB of PDF);
# small-bank statements are 1-3 KB. 2 MB is over three times that month, and a bigger body is not one.
MAX_VERIFY_BYTES = 2_000_000
VERIFY_CONCURRENCY = 2  # verifications at once (a 2-core host); one more is told to come back (503)
VERIFY_SECONDS = 15  # a statement verifies in about a second (rendering its PDF again)
SECURITY_HEADERS = {
    "Cache-Control": "no-store",  # customer data: never kept by a browser or a proxy
    "X-Content-Type-Options": "nosniff",  # a CSV or JSON answer is never run as a script or page
    "X-Frame-Options": "DENY",  # no page of the service inside another site's frame
    "Content-Security-Policy": "frame-ancestors 'none'",
}
MEDIA_TYPES = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}
DOWNLOADS = {"pdf": Action.DOWNLOAD_PDF, "csv": Action.DOWNLOAD_CSV}
NOT_FOUND = "statement not found"


class SecurityHeaders:
    """ASGI middleware: SECURITY_HEADERS on every answer, whoever wrote it (refusals, 404s, 413s)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (BodyTooLarge) past `limit` bytes: by its Content-Length before any
    of it is read, else (chunked) as soon as the chunks read pass the limit."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or len(declared) > 12 or int(declared) > limit):
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _action_of(path: str) -> Action:
    if path.rstrip("/") == "/statements":
        return Action.LIST_STATEMENTS
    if path.rstrip("/") == VERIFY_PATH:
        return Action.VIEW_STATEMENT  # verifying a file shows whose statement it is: decided as viewing it
    for fmt, action in DOWNLOADS.items():
        if path.startswith("/statements/") and path.endswith(f".{fmt}"):
            return action
    return Action.REQUEST


def create_app(settings: Settings, issuer: str | None = None) -> FastAPI:
    """The service for tokens of `issuer` (default: FINEFINANCE_OIDC_ISSUER, else the embedded provider)."""
    if issuer is None:
        if settings.identity.embedded:
            from finefinance_platform.identity.provider import EmbeddedIdentityProvider

            issuer = EmbeddedIdentityProvider(settings).issuer()
        else:
            issuer = settings.identity.issuer
    verifier = AccessTokenVerifier(issuer, settings.identity.api_audience)
    bearer = HTTPBearer(auto_error=False)
    app = FastAPI(title="FineFinance statements", version="1", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SecurityHeaders)
    # held by the thread doing a verification until it ends, even after its request gave up waiting
    verify_slots = threading.BoundedSemaphore(VERIFY_CONCURRENCY)
    limiters: dict[str, anyio.CapacityLimiter] = {}  # created on the event loop, on first use

    def log(request: Request, principal: Principal, action: Action, outcome: str, **fields) -> None:
        access_log.record(
            principal, action, outcome, channel="http", settings=settings, client=_client(request), **fields
        )

    async def log_off_loop(request: Request, principal: Principal, action: Action, outcome: str, **fields) -> None:
        """`log` from an async endpoint: the write (SQLite, or Snowflake) must not block the event loop."""
        await anyio.to_thread.run_sync(functools.partial(log, request, principal, action, outcome, **fields))

    def caller(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Principal:
        action = _action_of(request.url.path)
        if credentials is None:
            log(request, Principal.anonymous(), action, "denied", detail="no bearer token")
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        try:
            return verifier.principal(credentials.credentials)
        except IdentityProviderUnavailable as exc:
            # its keys cannot be fetched: nothing can be verified, and the caller is not to blame
            log(request, Principal.anonymous(), action, "denied", detail=str(exc)[:300])
            raise HTTPException(503, "sign-in is unavailable, try again later") from exc
        except TokenError as exc:
            log(request, Principal.anonymous(), action, "denied", detail=str(exc)[:300])
            raise HTTPException(
                401, "invalid token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from exc

    def customer(request: Request, principal: Annotated[Principal, Depends(caller)]) -> Principal:
        """The signed-in customer; anyone else is refused (403) before any data is read."""
        if principal.role is not Role.CUSTOMER:
            log(request, principal, _action_of(request.url.path), "denied",
                detail=f"role {principal.role} is not a customer")  # fmt: skip
            raise HTTPException(403, "the statement service serves customers their own statements")
        return principal

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}  # on the event loop itself: it answers while worker threads are busy

    @app.get("/statements")
    def list_statements(request: Request, principal: Annotated[Principal, Depends(customer)]) -> dict:
        with open_marts(settings) as con:
            months = statement_months(con, principal.customer_id)
            versions = issued_versions_by_month(con, principal.customer_id)
        log(request, principal, Action.LIST_STATEMENTS, "allowed", customer_id=principal.customer_id,
            detail=f"{len(months)} statements")  # fmt: skip
        return {
            "customer_id": principal.customer_id,
            "statements": [
                {
                    **entry,
                    "pdf": f"/statements/{entry['month']}.pdf",
                    "csv": f"/statements/{entry['month']}.csv",
                    "versions": [
                        {
                            "version": record.version,
                            "issued_on": record.issued_at.date().isoformat(),
                            "replaces_version": record.replaces_version,
                            "reason": record.reason,
                            "pdf": f"/statements/{entry['month']}.pdf?version={record.version}",
                            "csv": f"/statements/{entry['month']}.csv?version={record.version}",
                        }
                        for record in versions.get(parse_month(entry["month"]), [])
                    ],
                }
                for entry in months
            ],
        }

    def download(request: Request, month_text: str, fmt: str, version_text: str | None, principal: Principal):
        action, customer_id = DOWNLOADS[fmt], principal.customer_id
        month = parse_month(month_text) if MONTH_PATTERN.fullmatch(month_text) else None
        version = int(version_text) if version_text and VERSION_PATTERN.fullmatch(version_text) else None
        decision = decide(principal, action, customer_id=customer_id)
        refusal = None
        if not decision:
            refusal = decision.reason
        elif month is None:
            refusal = "not a month"
        elif version_text is not None and version is None:
            refusal = "not a version"
        if refusal:
            log(request, principal, action, "denied", customer_id=customer_id, month_start=month, detail=refusal)
            raise HTTPException(404, NOT_FOUND)
        try:
            with open_marts(settings) as con:
                statement = load_issued_statement(con, customer_id, month, version)
        except StatementIntegrityError:
            raise  # a broken mart or an altered issue is a server error (500), not "no such statement"
        except StatementError as exc:
            # unknown customer, no statement that month, no such version, month not closed: the same answer
            log(request, principal, action, "denied", customer_id=customer_id, month_start=month, detail=str(exc))
            raise HTTPException(404, NOT_FOUND) from exc
        body = render(statement, fmt)
        issued = statement.issue.version
        log(
            request,
            principal,
            action,
            "allowed",
            customer_id=customer_id,
            month_start=month,
            detail=f"version {issued}",
        )
        return Response(
            body,
            media_type=MEDIA_TYPES[fmt],
            headers={
                "Content-Disposition": f'attachment; filename="statement-{month:%Y-%m}-v{issued}.{fmt}"',
                "X-Statement-Version": str(issued),
            },
        )

    @app.get("/statements/{month}.pdf")
    def statement_pdf(
        request: Request, month: str, principal: Annotated[Principal, Depends(customer)], version: str | None = None
    ) -> Response:
        return download(request, month, "pdf", version, principal)

    @app.get("/statements/{month}.csv")
    def statement_csv(
        request: Request, month: str, principal: Annotated[Principal, Depends(customer)], version: str | None = None
    ) -> Response:
        return download(request, month, "csv", version, principal)

    @app.post(VERIFY_PATH)
    async def verify(request: Request, principal: Annotated[Principal, Depends(customer)]) -> dict:
        """Is the body (a statement PDF or CSV) an authentic issued version of the caller's statements?"""
        customer_id, action = principal.customer_id, Action.VIEW_STATEMENT

        async def refuse(status: int, detail: str, answer: str, headers: dict | None = None):
            await log_off_loop(
                request, principal, action, "denied", customer_id=customer_id, detail=f"verify: {detail}"
            )
            raise HTTPException(status, answer, headers=headers)

        decision = decide(principal, action, customer_id=customer_id)
        if not decision:
            await refuse(404, decision.reason, NOT_FOUND)
        try:
            data = await read_body(request, MAX_VERIFY_BYTES)
        except BodyTooLarge:
            await refuse(413, f"body over {MAX_VERIFY_BYTES} bytes", f"a statement is at most {MAX_VERIFY_BYTES} bytes")
        if not verify_slots.acquire(blocking=False):
            await refuse(503, "busy", "too many verifications at once, try again", {"Retry-After": "5"})

        def work():
            try:
                check_bounds(data)  # a hostile file is refused before a database connection is even opened
                with open_marts(settings) as con:
                    return verify_document(con, data, customer_id=customer_id)
            finally:
                verify_slots.release()  # here, not in the caller: a verification that outlives its request still counts

        limiter = limiters.setdefault("verify", anyio.CapacityLimiter(VERIFY_CONCURRENCY))
        try:
            with anyio.fail_after(VERIFY_SECONDS):
                result = await anyio.to_thread.run_sync(work, abandon_on_cancel=True, limiter=limiter)
        except TimeoutError:
            await refuse(503, f"not done within {VERIFY_SECONDS} s", "verification took too long, try again later")
        except NotTheirsError as exc:
            # another customer's statement, an unknown account or nobody's: the same 404 as every refusal
            await refuse(404, str(exc)[:200], NOT_FOUND)
        except NotAStatementError as exc:
            await refuse(400, str(exc)[:200], "not a FineFinance statement")
        await log_off_loop(request, principal, action, "allowed", customer_id=customer_id, month_start=result.month,
                           detail=f"verify: {result.message}"[:500])  # fmt: skip
        return result.as_dict()

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    def anything_else(request: Request, path: str, principal: Annotated[Principal, Depends(caller)]) -> Response:
        """Every other path, authenticated first (an anonymous caller learns nothing): 404, logged."""
        log(request, principal, Action.REQUEST, "denied", detail=f"no such resource: {('/' + path)[:80]!r}")
        raise HTTPException(404, "not found")

    return app
