"""The access policy on the whole role x resource matrix (docs/access.md, "who sees what")."""

from __future__ import annotations

import duckdb
import pytest

from finefinance_platform.access.policy import (
    AccessDenied,
    Action,
    Page,
    Principal,
    Role,
    customer_scope,
    decide,
    pages_for,
)

ALICE, BRUNO, UNKNOWN = "cust-alice", "cust-bruno", "cust-nobody"
CLAIRE, HUGO = "adv-claire", "adv-hugo"  # Alice and Bruno are Claire's customers

PRINCIPALS = {
    "anonymous": Principal.anonymous(),
    "alice": Principal("sub-alice", Role.CUSTOMER, customer_id=ALICE),
    "bruno": Principal("sub-bruno", Role.CUSTOMER, customer_id=BRUNO),
    "claire": Principal("sub-claire", Role.ADVISOR, advisor_id=CLAIRE),
    "hugo": Principal("sub-hugo", Role.ADVISOR, advisor_id=HUGO),
    "director": Principal("sub-director", Role.DIRECTOR),
    "no role": Principal("sub-teller"),
    "operations": Principal("os:root", Role.OPERATIONS),
}

ALICE_DATA = {"customer_id": ALICE, "customer_advisor_id": CLAIRE}
RESOURCES = {
    **{
        f"alice {action}": (action, ALICE_DATA)
        for action in (Action.LIST_STATEMENTS, Action.VIEW_STATEMENT, Action.DOWNLOAD_PDF, Action.DOWNLOAD_CSV)
    },
    "unknown customer's statement": (Action.VIEW_STATEMENT, {"customer_id": UNKNOWN, "customer_advisor_id": None}),
    "statement naming no customer": (Action.VIEW_STATEMENT, {}),
    "customer list": (Action.VIEW_CUSTOMER_LIST, {}),
    "risk scores": (Action.VIEW_RISK_SCORES, {}),
    "risk distribution": (Action.VIEW_RISK_DISTRIBUTION, {}),
    "claire's book": (Action.VIEW_PORTFOLIO, {"advisor_id": CLAIRE}),
    "every advisor's totals": (Action.VIEW_ADVISOR_TOTALS, {}),
    "kpis": (Action.VIEW_KPIS, {}),
    "today's activity": (Action.VIEW_TODAYS_ACTIVITY, {}),
    "alerts": (Action.VIEW_ALERTS, {}),
    "export": (Action.EXPORT_STATEMENTS, {}),
    "customer value": (Action.VIEW_CUSTOMER_VALUE, {}),
    "value of claire's book by tier": (Action.DRILL_CUSTOMER_VALUE, {"advisor_id": CLAIRE, "by": "tier"}),
    "value of alice by driver": (
        Action.DRILL_CUSTOMER_VALUE,
        {**ALICE_DATA, "advisor_id": CLAIRE, "by": "driver"},
    ),
    "value of the bank by advisor": (Action.DRILL_CUSTOMER_VALUE, {"by": "advisor"}),
    "value of the bank by customer": (Action.DRILL_CUSTOMER_VALUE, {"by": "customer"}),
    **{f"page {page}": (Action.OPEN_PAGE, {"page": page}) for page in Page},
    "unknown path": (Action.REQUEST, {}),
}
ALICE_STATEMENT = {f"alice {a}" for a in ("list_statements", "view_statement", "download_pdf", "download_csv")}

# what each may do; everything else in RESOURCES is refused
ALLOWED = {
    "anonymous": set(),
    "alice": ALICE_STATEMENT | {"customer list", "page statement_explorer"},
    "bruno": {"customer list", "page statement_explorer"},
    "claire": ALICE_STATEMENT
    | {"customer list", "risk scores", "risk distribution", "claire's book", "today's activity", "alerts"}
    | {"page statement_explorer", "page risk_scoring", "page advisor_portfolio", "page today"}
    | {"customer value", "value of claire's book by tier", "value of alice by driver", "page customer_value"},
    "hugo": {"customer list", "risk scores", "risk distribution", "today's activity", "alerts"}
    | {"page statement_explorer", "page risk_scoring", "page advisor_portfolio", "page today"}
    | {"customer value", "page customer_value"},
    "director": {"risk distribution", "every advisor's totals", "kpis", "today's activity"}
    | {"page kpi_trends", "page risk_scoring", "page advisor_portfolio", "page today"}
    | {"customer value", "value of claire's book by tier", "value of the bank by advisor", "page customer_value"},
    "no role": set(),
    "operations": ALICE_STATEMENT
    | {"unknown customer's statement", "customer list", "risk scores", "export", "alerts"},
}

CASES = [(who, what) for who in PRINCIPALS for what in RESOURCES]


@pytest.mark.parametrize(("who", "what"), CASES, ids=[f"{who} / {what}" for who, what in CASES])
def test_the_matrix(who, what):
    action, resource = RESOURCES[what]
    decision = decide(PRINCIPALS[who], action, **resource)
    assert decision.allowed == (what in ALLOWED[who]), decision.reason
    assert decision.reason  # a refusal always says why (for the log)


def test_the_matrix_is_complete():
    assert len(CASES) == len(PRINCIPALS) * len(RESOURCES) == 8 * 27
    assert all(ALLOWED[who] <= set(RESOURCES) for who in ALLOWED)


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"sub": "s1", "role": "customer", "customer_id": "c1"}, Principal("s1", Role.CUSTOMER, customer_id="c1")),
        ({"sub": "s2", "role": "advisor", "advisor_id": "a1"}, Principal("s2", Role.ADVISOR, advisor_id="a1")),
        # an id of the other kind is dropped: a customer never acts as an advisor
        (
            {"sub": "s3", "role": "customer", "customer_id": "c1", "advisor_id": "a1"},
            Principal("s3", Role.CUSTOMER, customer_id="c1"),
        ),
        ({"sub": "s4", "role": "director", "customer_id": "c1"}, Principal("s4", Role.DIRECTOR)),
        ({"sub": "s5", "role": "customer"}, Principal("s5")),  # a customer without their id: nothing
        ({"sub": "s6", "role": "advisor", "advisor_id": "  "}, Principal("s6")),
        ({"sub": "s7", "role": "operations"}, Principal("s7")),  # operations is never granted by a token
        ({"sub": "s8", "role": "admin"}, Principal("s8")),
        ({"sub": "s9"}, Principal("s9")),
        # Keycloak's realm-role mapper: a list, with roles of its own beside the platform's
        (
            {"sub": "k1", "role": ["offline_access", "advisor", "default-roles-finefinance"], "advisor_id": "a9"},
            Principal("k1", Role.ADVISOR, advisor_id="a9"),
        ),
        ({"sub": "k2", "role": ["advisor", "director"], "advisor_id": "a9"}, Principal("k2")),  # two: refused
        ({"sub": "k3", "role": ["offline_access"]}, Principal("k3")),
        ({"sub": "k4", "role": ["operations"]}, Principal("k4")),
        ({"role": "director"}, Principal.anonymous()),  # no subject: not signed in
        ({"sub": "", "role": "director"}, Principal.anonymous()),
    ],
)
def test_principal_from_claims(claims, expected):
    assert Principal.from_claims(claims) == expected


def test_pages_per_role_in_navigation_order():
    assert pages_for(PRINCIPALS["alice"]) == (Page.STATEMENTS,)
    assert pages_for(PRINCIPALS["claire"]) == (Page.STATEMENTS, Page.TODAY, Page.RISK, Page.PORTFOLIO, Page.VALUE)
    assert pages_for(PRINCIPALS["director"]) == (Page.KPIS, Page.TODAY, Page.PORTFOLIO, Page.RISK, Page.VALUE)
    assert pages_for(PRINCIPALS["anonymous"]) == pages_for(PRINCIPALS["no role"]) == ()


def test_customer_scope_filters_rows_in_sql():
    con = duckdb.connect()
    con.execute(
        "create table c as select * from (values ('cust-alice', 'adv-claire'), ('cust-bruno', 'adv-claire'), "
        "('cust-chloe', 'adv-hugo')) t(customer_id, advisor_id)"
    )

    def visible(who: str) -> list[str]:
        condition, params = customer_scope(PRINCIPALS[who]).sql()
        return [
            row[0] for row in con.execute(f"select customer_id from c where {condition} order by 1", params).fetchall()
        ]

    assert visible("alice") == ["cust-alice"]
    assert visible("claire") == ["cust-alice", "cust-bruno"]
    assert visible("hugo") == ["cust-chloe"]
    assert visible("operations") == ["cust-alice", "cust-bruno", "cust-chloe"]
    for who in ("director", "anonymous", "no role"):
        with pytest.raises(AccessDenied):
            customer_scope(PRINCIPALS[who])
