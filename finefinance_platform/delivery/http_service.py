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
"""

# no `from __future__ import annotations`: FastAPI must resolve the dependencies declared inside create_app
import re
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from finefinance_platform.access import access_log
from finefinance_platform.access.policy import Action, Principal, Role, decide
from finefinance_platform.access.tokens import AccessTokenVerifier, IdentityProviderUnavailable, TokenError
from finefinance_platform.delivery.issues import issued_versions_by_month, load_issued_statement
from finefinance_platform.delivery.serving import open_marts
from finefinance_platform.delivery.statement import (
    StatementError,
    StatementIntegrityError,
    render,
    statement_months,
)
from finefinance_platform.delivery.verify import NotTheirsError, verify_document
from finefinance_platform.months import parse_month
from finefinance_platform.settings import Settings, get_settings

MONTH_PATTERN = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
VERSION_PATTERN = re.compile(r"[1-9]\d{0,5}")
VERIFY_PATH = "/statements/verify"
MAX_VERIFY_BYTES = 20_000_000  # far above any statement; a bigger body is not one
MEDIA_TYPES = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}
DOWNLOADS = {"pdf": Action.DOWNLOAD_PDF, "csv": Action.DOWNLOAD_CSV}
NOT_FOUND = "statement not found"


def _action_of(path: str) -> Action:
    if path.rstrip("/") == "/statements":
        return Action.LIST_STATEMENTS
    if path.rstrip("/") == VERIFY_PATH:
        return Action.VIEW_STATEMENT  # verifying a file shows whose statement it is: decided as viewing it
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
            versions = issued_versions_by_month(con, principal.customer_id)
        log(principal, Action.LIST_STATEMENTS, "allowed", customer_id=principal.customer_id,
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

    def download(month_text: str, fmt: str, version_text: str | None, principal: Principal) -> Response:
        action, customer_id = DOWNLOADS[fmt], principal.customer_id
        month = parse_month(month_text) if MONTH_PATTERN.fullmatch(month_text) else None
        version = int(version_text) if version_text and VERSION_PATTERN.fullmatch(version_text) else None
        decision = decide(principal, action, customer_id=customer_id)
        refusal = None
        if not decision:
            refusal = decision.reason
        elif month is None:
            refusal = f"not a month: {month_text[:40]!r}"
        elif version_text is not None and version is None:
            refusal = f"not a version: {version_text[:40]!r}"
        if refusal:
            log(principal, action, "denied", customer_id=customer_id, month_start=month, detail=refusal)
            raise HTTPException(404, NOT_FOUND)
        try:
            with open_marts(settings) as con:
                statement = load_issued_statement(con, customer_id, month, version)
        except StatementIntegrityError:
            raise  # a broken mart or an altered issue is a server error (500), not "no such statement"
        except StatementError as exc:
            # unknown customer, no statement that month, no such version, month not closed: the same answer
            log(principal, action, "denied", customer_id=customer_id, month_start=month, detail=str(exc))
            raise HTTPException(404, NOT_FOUND) from exc
        body = render(statement, fmt)
        issued = statement.issue.version
        log(principal, action, "allowed", customer_id=customer_id, month_start=month, detail=f"version {issued}")
        return Response(
            body,
            media_type=MEDIA_TYPES[fmt],
            headers={
                "Content-Disposition": f'attachment; filename="statement-{month:%Y-%m}-v{issued}.{fmt}"',
                "Cache-Control": "no-store",
                "X-Statement-Version": str(issued),
            },
        )

    @app.get("/statements/{month}.pdf")
    def statement_pdf(
        month: str, principal: Annotated[Principal, Depends(customer)], version: str | None = None
    ) -> Response:
        return download(month, "pdf", version, principal)

    @app.get("/statements/{month}.csv")
    def statement_csv(
        month: str, principal: Annotated[Principal, Depends(customer)], version: str | None = None
    ) -> Response:
        return download(month, "csv", version, principal)

    @app.post(VERIFY_PATH)
    async def verify(request: Request, principal: Annotated[Principal, Depends(customer)]) -> dict:
        """Is the body (a statement PDF or CSV) an authentic issued version of the caller's statements?"""
        customer_id = principal.customer_id
        decision = decide(principal, Action.VIEW_STATEMENT, customer_id=customer_id)
        data = await request.body()
        if not decision or len(data) > MAX_VERIFY_BYTES:
            log(principal, Action.VIEW_STATEMENT, "denied", customer_id=customer_id,
                detail=decision.reason if not decision else f"verify: body of {len(data)} bytes")  # fmt: skip
            raise HTTPException(404, NOT_FOUND)
        try:
            with open_marts(settings) as con:
                result = verify_document(con, data, customer_id=customer_id)
        except NotTheirsError as exc:
            # another customer's statement (or one that names nobody): the same 404 as every refusal
            log(principal, Action.VIEW_STATEMENT, "denied", customer_id=customer_id, detail=f"verify: {exc}")
            raise HTTPException(404, NOT_FOUND) from exc
        log(principal, Action.VIEW_STATEMENT, "allowed", customer_id=customer_id, month_start=result.month,
            detail=f"verify: {result.message}"[:500])  # fmt: skip
        return result.as_dict()

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    def anything_else(path: str, principal: Annotated[Principal, Depends(caller)]) -> Response:
        """Every other path, authenticated first (an anonymous caller learns nothing): 404, logged."""
        log(principal, Action.REQUEST, "denied", detail=f"no such resource: /{path[:80]}")
        raise HTTPException(404, "not found")

    return app
