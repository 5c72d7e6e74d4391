"""The statement service: a signed-in customer lists and downloads their own statements, nothing else.

Callers present an access token of the identity provider (checked in access/tokens.py: signature
against the provider's keys, issuer, audience, expiry). The token decides whose statements are
served: no URL carries a customer id, so there is no other customer's statement to ask for. The
access policy (access/policy.py) decides every request; every answer about a customer's data, and
every refusal, is a row of audit.access_log. Refusals say nothing: 401 without a valid token, 403
for a signed-in person who is not a customer, and the same 404 for "not yours", "not closed", "no
data" and any unknown path. The marts are read through `open_marts()` (the serving copy), with
parameterized SQL only.
"""

# no `from __future__ import annotations`: FastAPI must resolve the dependencies declared inside create_app
import re
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from finefinance_platform.access import access_log
from finefinance_platform.access.policy import Action, Principal, Role, decide
from finefinance_platform.access.tokens import AccessTokenVerifier, IdentityProviderUnavailable, TokenError
from finefinance_platform.delivery.serving import open_marts
from finefinance_platform.delivery.statement import (
    StatementError,
    StatementIntegrityError,
    load_statement,
    render,
    statement_months,
)
from finefinance_platform.settings import Settings, get_settings, parse_month

MONTH_PATTERN = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
MEDIA_TYPES = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}
DOWNLOADS = {"pdf": Action.DOWNLOAD_PDF, "csv": Action.DOWNLOAD_CSV}
NOT_FOUND = "statement not found"


def _action_of(path: str) -> Action:
    if path.rstrip("/") == "/statements":
        return Action.LIST_STATEMENTS
    for fmt, action in DOWNLOADS.items():
        if path.startswith("/statements/") and path.endswith(f".{fmt}"):
            return action
    return Action.REQUEST


def create_app(settings: Settings | None = None, issuer: str | None = None) -> FastAPI:
    """The service for tokens of `issuer` (default: FINEFINANCE_OIDC_ISSUER, else the embedded provider)."""
    settings = settings or get_settings()
    if issuer is None:
        if settings.identity.embedded:
            from finefinance_platform.identity.provider import EmbeddedIdentityProvider

            issuer = EmbeddedIdentityProvider(settings).issuer()
        else:
            issuer = settings.identity.issuer
    verifier = AccessTokenVerifier(issuer, settings.identity.api_audience)
    bearer = HTTPBearer(auto_error=False)
    app = FastAPI(title="FineFinance statements", version="1", docs_url=None, redoc_url=None, openapi_url=None)

    def log(principal: Principal, action: Action, outcome: str, **fields) -> None:
        access_log.record(principal, action, outcome, channel="http", settings=settings, **fields)

    def caller(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Principal:
        action = _action_of(request.url.path)
        if credentials is None:
            log(Principal.anonymous(), action, "denied", detail="no bearer token")
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        try:
            return verifier.principal(credentials.credentials)
        except IdentityProviderUnavailable as exc:
            # its keys cannot be fetched: nothing can be verified, and the caller is not to blame
            log(Principal.anonymous(), action, "denied", detail=str(exc))
            raise HTTPException(503, "sign-in is unavailable, try again later") from exc
        except TokenError as exc:
            log(Principal.anonymous(), action, "denied", detail=str(exc))
            raise HTTPException(
                401, "invalid token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from exc

    def customer(request: Request, principal: Annotated[Principal, Depends(caller)]) -> Principal:
        """The signed-in customer; anyone else is refused (403) before any data is read."""
        if principal.role is not Role.CUSTOMER:
            log(principal, _action_of(request.url.path), "denied", detail=f"role {principal.role} is not a customer")
            raise HTTPException(403, "the statement service serves customers their own statements")
        return principal

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/statements")
    def list_statements(principal: Annotated[Principal, Depends(customer)]) -> dict:
        with open_marts(settings) as con:
            months = statement_months(con, principal.customer_id)
        log(principal, Action.LIST_STATEMENTS, "allowed", customer_id=principal.customer_id,
            detail=f"{len(months)} statements")  # fmt: skip
        return {
            "customer_id": principal.customer_id,
            "statements": [
                {**entry, "pdf": f"/statements/{entry['month']}.pdf", "csv": f"/statements/{entry['month']}.csv"}
                for entry in months
            ],
        }

    def download(month_text: str, fmt: str, principal: Principal) -> Response:
        action, customer_id = DOWNLOADS[fmt], principal.customer_id
        month = parse_month(month_text) if MONTH_PATTERN.fullmatch(month_text) else None
        decision = decide(principal, action, customer_id=customer_id)
        if not decision or month is None:
            log(principal, action, "denied", customer_id=customer_id, month_start=month,
                detail=decision.reason if not decision else f"not a month: {month_text[:40]!r}")  # fmt: skip
            raise HTTPException(404, NOT_FOUND)
        try:
            with open_marts(settings) as con:
                statement = load_statement(con, customer_id, month)
        except StatementIntegrityError:
            raise  # a broken mart is a server error (500), not "no such statement"
        except StatementError as exc:
            # unknown customer, no statement that month, month not closed: all the same answer
            log(principal, action, "denied", customer_id=customer_id, month_start=month, detail=str(exc))
            raise HTTPException(404, NOT_FOUND) from exc
        body = render(statement, fmt)
        log(principal, action, "allowed", customer_id=customer_id, month_start=month)
        return Response(
            body,
            media_type=MEDIA_TYPES[fmt],
            headers={
                "Content-Disposition": f'attachment; filename="statement-{month:%Y-%m}.{fmt}"',
                "Cache-Control": "no-store",
            },
        )

    @app.get("/statements/{month}.pdf")
    def statement_pdf(month: str, principal: Annotated[Principal, Depends(customer)]) -> Response:
        return download(month, "pdf", principal)

    @app.get("/statements/{month}.csv")
    def statement_csv(month: str, principal: Annotated[Principal, Depends(customer)]) -> Response:
        return download(month, "csv", principal)

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    def anything_else(path: str, principal: Annotated[Principal, Depends(caller)]) -> Response:
        """Every other path, authenticated first (an anonymous caller learns nothing): 404, logged."""
        log(principal, Action.REQUEST, "denied", detail=f"no such resource: /{path[:80]}")
        raise HTTPException(404, "not found")

    return app
