"""The statement service: a customer lists and downloads their own statements, nothing else.

The bearer token decides whose statements are served: no URL carries a customer id, so there is
no other customer's statement to ask for. Every "not yours", "not closed", "no data" answer is
the same 404, so a caller learns nothing about other customers or months. The marts are read
through `open_marts()` (the serving copy), with parameterized SQL only.
"""

# no `from __future__ import annotations`: FastAPI must resolve the dependencies declared inside create_app
import re
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from finefinance_platform.delivery.serving import open_marts
from finefinance_platform.delivery.statement import (
    StatementError,
    StatementIntegrityError,
    load_statement,
    render,
    statement_months,
)
from finefinance_platform.delivery.tokens import TokenError, statement_secret, verify_token
from finefinance_platform.settings import Settings, get_settings, parse_month

MONTH_PATTERN = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
MEDIA_TYPES = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}
NOT_FOUND = "statement not found"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    secret = statement_secret(settings)
    bearer = HTTPBearer(auto_error=False)
    app = FastAPI(title="FineFinance statements", version="1", docs_url=None, redoc_url=None)

    def current_customer(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
        if credentials is None:
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        try:
            return verify_token(credentials.credentials, secret)
        except TokenError as exc:
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from exc

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/statements")
    def list_statements(customer_id: Annotated[str, Depends(current_customer)]) -> dict:
        with open_marts(settings) as con:
            months = statement_months(con, customer_id)
        return {
            "customer_id": customer_id,
            "statements": [
                {**entry, "pdf": f"/statements/{entry['month']}.pdf", "csv": f"/statements/{entry['month']}.csv"}
                for entry in months
            ],
        }

    def download(month_text: str, fmt: str, customer_id: str) -> Response:
        # checked after authentication: an anonymous caller gets 401 whatever the path
        if not MONTH_PATTERN.fullmatch(month_text):
            raise HTTPException(422, "month must be YYYY-MM")
        month = parse_month(month_text)
        try:
            with open_marts(settings) as con:
                statement = load_statement(con, customer_id, month)
        except StatementIntegrityError:
            raise  # a broken mart is a server error (500), not "no such statement"
        except StatementError as exc:
            # unknown customer, no statement that month, month not closed: all the same answer
            raise HTTPException(404, NOT_FOUND) from exc
        return Response(
            render(statement, fmt),
            media_type=MEDIA_TYPES[fmt],
            headers={
                "Content-Disposition": f'attachment; filename="statement-{month:%Y-%m}.{fmt}"',
                "Cache-Control": "no-store",
            },
        )

    @app.get("/statements/{month}.pdf")
    def statement_pdf(month: str, customer_id: Annotated[str, Depends(current_customer)]) -> Response:
        return download(month, "pdf", customer_id)

    @app.get("/statements/{month}.csv")
    def statement_csv(month: str, customer_id: Annotated[str, Depends(current_customer)]) -> Response:
        return download(month, "csv", customer_id)

    return app
