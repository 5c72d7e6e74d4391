"""The access policy: one function decides every access, for every channel (docs/access.md).

| role     | may see                                                          | may not see                      |
|----------|------------------------------------------------------------------|----------------------------------|
| customer | their own statements (every version), their own accounts         | anyone else's data; other pages  |
| advisor  | their own customers: statements, risk scores, action lists,      | another advisor's customers      |
|          | today's alerts; their own book's totals; today's activity        | (not even their names or ids)    |
| director | KPI trends, totals per advisor, distributions of risk scores,    | any single customer's data       |
|          | today's activity and the count of today's alerts                 |                                  |
| (none)   | the sign-in page                                                 | everything else                  |

The role and the person's customer or advisor id come from the identity token's claims (`role`,
`customer_id`, `advisor_id`). A token with an unknown role, or a customer/advisor role without its
id, is signed in but may see nothing. Readers never filter by what a page happens to show: they
ask `decide()` for the resource (with the customer's advisor, looked up in the marts) and read
through `customer_scope()`, so a crafted URL or query parameter meets the same refusal.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from finefinance_platform.errors import FineFinanceError


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    ADVISOR = "advisor"
    DIRECTOR = "director"
    # the platform's operator at the shell (CLI statement and export): whoever can run them can
    # read the warehouse file anyway; their reads are logged like everyone else's
    OPERATIONS = "operations"


class Action(enum.StrEnum):
    LIST_STATEMENTS = "list_statements"
    VIEW_STATEMENT = "view_statement"
    DOWNLOAD_PDF = "download_pdf"
    DOWNLOAD_CSV = "download_csv"
    EXPORT_STATEMENTS = "export_statements"
    VIEW_CUSTOMER_LIST = "view_customer_list"
    VIEW_RISK_SCORES = "view_risk_scores"  # one line per customer
    VIEW_RISK_DISTRIBUTION = "view_risk_distribution"  # counts only
    VIEW_PORTFOLIO = "view_portfolio"  # one advisor's book: totals and action lists
    VIEW_ADVISOR_TOTALS = "view_advisor_totals"  # every advisor's totals, no customer
    VIEW_KPIS = "view_kpis"
    VIEW_TODAYS_ACTIVITY = "view_todays_activity"  # the bank's bookings today, per category: no customer
    VIEW_ALERTS = "view_alerts"  # one line per event, of customer_scope() only
    VIEW_CUSTOMER_VALUE = "view_customer_value"  # value tiers: an advisor's own book, a director's aggregates
    DRILL_CUSTOMER_VALUE = "drill_customer_value"  # a figure opened to what it is made of (see decide)
    OPEN_PAGE = "open_page"
    REQUEST = "request"  # anything else asked of a service (an unknown path): always refused


# actions on one customer's data: the resource names the customer and the customer's advisor
CUSTOMER_ACTIONS = frozenset(
    {
        Action.LIST_STATEMENTS,
        Action.VIEW_STATEMENT,
        Action.DOWNLOAD_PDF,
        Action.DOWNLOAD_CSV,
    }
)


class Page(enum.StrEnum):
    STATEMENTS = "statement_explorer"
    RISK = "risk_scoring"
    PORTFOLIO = "advisor_portfolio"
    KPIS = "kpi_trends"
    TODAY = "today"
    VALUE = "customer_value"


PAGES_BY_ROLE: dict[Role, tuple[Page, ...]] = {
    Role.CUSTOMER: (Page.STATEMENTS,),
    Role.ADVISOR: (Page.STATEMENTS, Page.TODAY, Page.RISK, Page.PORTFOLIO, Page.VALUE),
    Role.DIRECTOR: (Page.KPIS, Page.TODAY, Page.PORTFOLIO, Page.RISK, Page.VALUE),
    Role.OPERATIONS: (),
}


# breakdowns of a value figure that name customers (a director's drill never reaches them)
CUSTOMER_LEVEL_BREAKDOWNS = frozenset({"customer", "statement_lines"})


class AccessDenied(FineFinanceError):
    """A refusal; its message is for the log, never shown with anything about the resource."""


@dataclass(frozen=True)
class Principal:
    """Who is asking, as the identity provider names them."""

    subject: str | None  # None: nobody signed in
    role: Role | None = None  # None: signed in with no usable role
    customer_id: str | None = None
    advisor_id: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.subject is not None

    @classmethod
    def anonymous(cls) -> Principal:
        return cls(subject=None)

    @classmethod
    def from_claims(cls, claims: Mapping) -> Principal:
        """The principal of verified token claims; a malformed role gives a principal that may see nothing."""
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            return cls.anonymous()
        role = _one_role(claims.get("role"))
        if role is None:
            return cls(subject=subject)
        customer_id = _text(claims.get("customer_id"))
        advisor_id = _text(claims.get("advisor_id"))
        if (role is Role.CUSTOMER and not customer_id) or (role is Role.ADVISOR and not advisor_id):
            return cls(subject=subject)
        return cls(
            subject=subject,
            role=role,
            customer_id=customer_id if role is Role.CUSTOMER else None,
            advisor_id=advisor_id if role is Role.ADVISOR else None,
        )


TOKEN_ROLES = (Role.CUSTOMER, Role.ADVISOR, Role.DIRECTOR)  # operations is never granted by a token


def _one_role(claim) -> Role | None:
    """The platform role in the `role` claim: a string (the embedded provider) or a list of realm
    roles (Keycloak's role mapper, beside roles of its own such as offline_access). Exactly one
    platform role, or none at all: a person holding two is refused rather than guessed."""
    values = claim if isinstance(claim, list) else [claim]
    roles = {Role(value) for value in values if value in {r.value for r in TOKEN_ROLES}}
    return roles.pop() if len(roles) == 1 else None


def _text(value) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def _allow(reason: str = "allowed") -> Decision:
    return Decision(True, reason)


def _deny(reason: str) -> Decision:
    return Decision(False, reason)


def decide(
    principal: Principal,
    action: Action,
    *,
    customer_id: str | None = None,
    customer_advisor_id: str | None = None,
    advisor_id: str | None = None,
    page: Page | None = None,
    by: str | None = None,
) -> Decision:
    """May `principal` do `action` on the resource?

    - customer actions name the customer (`customer_id`) and their advisor (`customer_advisor_id`,
      from the marts; None for a customer that does not exist, which nobody but operations may read);
    - VIEW_PORTFOLIO names the advisor whose book it is (`advisor_id`);
    - OPEN_PAGE names the page;
    - DRILL_CUSTOMER_VALUE names the breakdown (`by`), the book drilled (`advisor_id`, None: every
      advisor's) and, for one customer's figure, the customer and their advisor as for customer actions.
    """
    if not principal.signed_in:
        return _deny("not signed in")
    role = principal.role
    if role is None:
        return _deny("no usable role in the identity token")

    if action is Action.OPEN_PAGE:
        if page in PAGES_BY_ROLE[role]:
            return _allow()
        return _deny(f"page {page} is not for role {role}")

    if action in CUSTOMER_ACTIONS:
        if not customer_id:
            return _deny("no customer named")
        if role is Role.OPERATIONS:
            return _allow("operations")
        if role is Role.CUSTOMER:
            return _allow() if customer_id == principal.customer_id else _deny("another customer's data")
        if role is Role.ADVISOR:
            if customer_advisor_id is not None and customer_advisor_id == principal.advisor_id:
                return _allow()
            return _deny("not a customer of this advisor")
        return _deny(f"role {role} sees no single customer's data")

    if action is Action.EXPORT_STATEMENTS:
        return _allow("operations") if role is Role.OPERATIONS else _deny("exports are run by operations")
    if action is Action.VIEW_CUSTOMER_LIST:
        if role in (Role.CUSTOMER, Role.ADVISOR, Role.OPERATIONS):
            return _allow()  # scoped by customer_scope()
        return _deny(f"role {role} sees no customer names")
    if action is Action.VIEW_RISK_SCORES:  # one line per customer, of customer_scope() only
        return _allow() if role in (Role.ADVISOR, Role.OPERATIONS) else _deny(f"role {role} sees no customer's score")
    if action is Action.VIEW_RISK_DISTRIBUTION:
        return _allow() if role in (Role.ADVISOR, Role.DIRECTOR) else _deny(f"role {role} sees no risk scores")
    if action is Action.VIEW_PORTFOLIO:
        if role is Role.ADVISOR and advisor_id is not None and advisor_id == principal.advisor_id:
            return _allow()
        return _deny("another advisor's book" if role is Role.ADVISOR else f"role {role} sees no advisor's book")
    if action is Action.VIEW_ADVISOR_TOTALS:
        return _allow() if role is Role.DIRECTOR else _deny(f"role {role} sees no other advisor's totals")
    if action is Action.VIEW_KPIS:
        return _allow() if role is Role.DIRECTOR else _deny(f"role {role} sees no KPIs")
    if action is Action.VIEW_TODAYS_ACTIVITY:
        return _allow() if role in (Role.ADVISOR, Role.DIRECTOR) else _deny(f"role {role} sees no bank activity")
    if action is Action.VIEW_ALERTS:  # one line per customer's event, of customer_scope() only
        return _allow() if role in (Role.ADVISOR, Role.OPERATIONS) else _deny(f"role {role} sees no customer's alert")
    if action is Action.VIEW_CUSTOMER_VALUE:
        return _allow() if role in (Role.ADVISOR, Role.DIRECTOR) else _deny(f"role {role} sees no customer value")
    if action is Action.DRILL_CUSTOMER_VALUE:
        return _decide_value_drill(principal, customer_id, customer_advisor_id, advisor_id, by)
    return _deny(f"unknown action {action}")


def _decide_value_drill(
    principal: Principal, customer_id: str | None, customer_advisor_id: str | None, advisor_id: str | None, by
) -> Decision:
    """A value figure opened to its parts: a director to aggregates only (never a customer, never a
    list of customers); an advisor within their own book, down to their own customers' statement lines."""
    role = principal.role
    customer_level = customer_id is not None or by in CUSTOMER_LEVEL_BREAKDOWNS
    if role is Role.DIRECTOR:
        return _deny("role director sees no single customer's data") if customer_level else _allow()
    if role is not Role.ADVISOR:
        return _deny(f"role {role} sees no customer value")
    if advisor_id is not None and advisor_id != principal.advisor_id:
        return _deny("another advisor's book")
    if customer_id is not None and (customer_advisor_id is None or customer_advisor_id != principal.advisor_id):
        return _deny("not a customer of this advisor")
    if advisor_id is None and customer_id is None:
        return _deny("an advisor drills their own book only")
    return _allow()


def require(principal: Principal, action: Action, **resource) -> None:
    decision = decide(principal, action, **resource)
    if not decision:
        raise AccessDenied(decision.reason)


@dataclass(frozen=True)
class CustomerScope:
    """The customers whose rows a principal may read: readers add `sql()` to every customer query."""

    customer_id: str | None = None  # only this customer
    advisor_id: str | None = None  # only this advisor's customers
    everyone: bool = False

    def sql(self, customer_column: str = "customer_id", advisor_column: str = "advisor_id") -> tuple[str, list]:
        """A SQL condition and its parameters (compare as text: ids are uuids or text per warehouse)."""
        if self.everyone:
            return "true", []
        if self.customer_id is not None:
            return f"cast({customer_column} as varchar) = ?", [self.customer_id]
        return f"cast({advisor_column} as varchar) = ?", [self.advisor_id]


def customer_scope(principal: Principal) -> CustomerScope:
    """Whose customer-level rows `principal` may read; AccessDenied for roles that may read none."""
    require(principal, Action.VIEW_CUSTOMER_LIST)
    if principal.role is Role.CUSTOMER:
        return CustomerScope(customer_id=principal.customer_id)
    if principal.role is Role.ADVISOR:
        return CustomerScope(advisor_id=principal.advisor_id)
    return CustomerScope(everyone=True)  # operations


def pages_for(principal: Principal) -> tuple[Page, ...]:
    if not principal.signed_in or principal.role is None:
        return ()
    return PAGES_BY_ROLE[principal.role]
