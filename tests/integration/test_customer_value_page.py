"""The Customer value page (issue 24) on the small bank's marts: every drill sums to its figure,
an advisor sees their own customers only, a director no customer at all, and the policy refuses
and logs a drill into another advisor's customer.

The value marts are the fixture's (delivery_fixtures.value_marts); the sums are checked twice: on
value_queries for every figure of every month (Decimals, exact), and on the page as it renders.
"""

from __future__ import annotations

import re
from decimal import Decimal

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from helpers.delivery_fixtures import make_delivery_home, signed_in, uid
from streamlit.testing.v1 import AppTest

from finefinance_platform.access.access_log import read
from finefinance_platform.access.policy import CustomerScope, Principal, Role
from finefinance_platform.dashboards import APP
from finefinance_platform.dashboards import value_queries as vq

TIMEOUT = 60
CUSTOMERS = ("alice", "bruno", "chloe", "didier", "emma")
NAMES = ("Alice", "Durand", "Bruno", "Petit", "Chloé", "Moreau", "Didier", "Lefèvre", "Emma", "Roux")
BY = {label: key for key, label in vq.BREAKDOWNS.items()}  # a radio's options as shown -> as set
SCOPES = {
    "bank": CustomerScope(everyone=True),
    "claire": CustomerScope(advisor_id=uid("claire")),
    "hugo": CustomerScope(advisor_id=uid("hugo")),
}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return make_delivery_home(tmp_path_factory.mktemp("value-home"), issue=False)


@pytest.fixture(scope="module")
def con(home):
    with duckdb.connect(str(home.warehouse), read_only=True) as connection:
        yield connection


def figures_of(con, month, scope: CustomerScope) -> list[vq.Figure]:
    """Every figure the page shows for `month`: the KPIs, each tier's, profile's and advisor's
    cells, every cell of the migration matrix (empty ones too)."""
    figures = [vq.Figure(month, measure) for measure in vq.MEASURES]
    cells = ("customers", "contribution", "contribution_12m")
    figures += [vq.Figure(month, m, tier=t) for t in vq.tier_order(con) for m in cells]
    figures += [vq.Figure(month, m, profile=p) for p in ("Bronze", "Gold", "Diamond") for m in cells]
    if scope.everyone:
        advisors = [row[0] for row in con.execute("select advisor_id from marts.dim_advisor").fetchall()]
        figures += [vq.Figure(month, m, advisor_id=a) for a in advisors for m in cells]
        tiers = vq.tier_order(con)
        figures += [vq.Figure(month, "customers", migration=(f, t)) for f in [*tiers, None] for t in [*tiers, None]]
    return figures


@pytest.mark.parametrize("who", list(SCOPES))
def test_every_drill_sums_to_its_figure_exactly(con, home, who):
    scope = SCOPES[who]
    checked = 0
    for month in home.months[-2:]:  # the newest month and one with customers moving
        for figure in figures_of(con, month, scope):
            total = vq.figure_total(con, figure, scope)
            assert isinstance(total, int if figure.measure == "customers" else Decimal), figure
            for by in vq.breakdowns_of(figure, customer_level=not scope.everyone):
                parts = vq.breakdown(con, figure, by, scope)
                zero = 0 if figure.measure == "customers" else Decimal("0.00")
                assert sum((part.value for part in parts), zero) == total, (figure, by, parts)
                checked += 1
        # the migration matrix reconciles with the month's tier counts (by to_tier) and M-1's
        if scope.everyone:
            moves = vq.migrations(con, month)
            tiers = vq.by_tier(con, month, scope).set_index("key")["customers"]
            arrived = moves.dropna(subset=["to_tier"]).groupby("to_tier")["customer_count"].sum()
            assert arrived.to_dict() == tiers.to_dict()
        # each of the scope's customers: the drivers sum to the contribution
        if not scope.everyone:
            for (customer,) in con.execute(
                "select cast(customer_id as varchar) from marts.fct_customer_value v where month_start = ? "
                "and cast(advisor_id as varchar) = ?",
                [month, scope.advisor_id],
            ).fetchall():
                row = vq.customer_value_row(con, customer, month, scope)
                parts = vq.customer_drivers(con, customer, month, scope)
                assert sum((part.value for part in parts), Decimal("0.00")) == row["contribution"]
    assert checked > 100


def test_no_customer_outside_the_scope_is_read(con, home):
    month = home.months[-1]
    claire = SCOPES["claire"]
    for figure in figures_of(con, month, claire):
        if "customer" in vq.breakdowns_of(figure, customer_level=True):
            keys = {part.key for part in vq.breakdown(con, figure, "customer", claire)}
            assert keys <= {uid("alice"), uid("bruno"), uid("emma")}
    # one customer of another advisor: nothing, whatever is asked
    assert vq.customer_value_row(con, uid("chloe"), month, claire) is None
    assert vq.customer_drivers(con, uid("chloe"), month, claire) == [
        vq.Part(name, label, Decimal("0.00") * sign) for name, (label, sign) in vq.DRIVERS.items()
    ]
    assert all(frame.empty for frame in vq.driver_evidence(con, uid("chloe"), month, "cost_to_serve", claire).values())
    with pytest.raises(ValueError):
        vq.breakdown(con, vq.Figure(month), "customer", SCOPES["bank"])


def test_a_drivers_rows_are_the_statement_lines_behind_it(con, home):
    month = home.months[-1]
    claire = SCOPES["claire"]
    card = vq.driver_evidence(con, uid("bruno"), month, "card_income", claire)
    payments = card["Card payments (interchange)"]
    # the grocery payment booked on the last day, and the concert tickets booked on the 2nd
    assert sorted(payments["description"]) == ["Concert tickets", "Grocery store"]
    assert round(payments["amount"].sum(), 2) == 295.30
    balances = vq.driver_evidence(con, uid("alice"), month, "deposit_margin", claire)["Month-end balances in credit"]
    assert sorted(balances["closing_balance"].round(2)) == [2000.00, 9334.04]


# -- the page --------------------------------------------------------------------------------------


@pytest.fixture()
def as_user(home, monkeypatch):
    for name, value in home.env().items():
        monkeypatch.setenv(name, value)

    def run(claims: dict, **query) -> AppTest:
        app = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        app.user = claims
        app.run()
        app.query_params.update(query)
        app.switch_page("pages/customer_value.py")
        app.run()
        assert not app.exception, [e.value for e in app.exception]
        return app

    return run


def select(app: AppTest, key: str, *, row: int | None = None, cell: tuple[int, str] | None = None) -> AppTest:
    """What the browser sends when a person clicks a row or a cell of table `key`."""
    app.session_state[key] = {
        "selection": {
            "rows": [] if row is None else [row],
            "columns": [],
            "cells": [] if cell is None else [list(cell)],
        }
    }
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def opened(app: AppTest) -> list[tuple[str, str]]:
    """Each breakdown shown: (its figure, the sum of its parts), as the page writes them."""
    found = []
    for markdown in app.markdown:
        match = re.match(r"\*\*(.+): (.+)\*\*, by .+ \(\d+ parts, summing to (.+)\)$", markdown.value)
        if match:
            found.append((match.group(2), match.group(3)))
    return found


def everything_shown(app: AppTest) -> str:
    """Every text and table the page rendered (the browser test checks what was sent)."""
    texts = [str(e.value) for e in [*app.markdown, *app.caption, *app.title, *app.subheader, *app.error, *app.info]]
    texts += [f"{m.label} {m.value}" for m in app.metric]
    texts += [d.value.to_csv() for d in app.dataframe]
    texts += [str(option) for widget in [*app.selectbox, *app.radio] for option in widget.options]
    for chart in app.get("vega_lite_chart") + app.get("arrow_vega_lite_chart"):
        texts += [chart.proto.spec]
        texts += [pa.ipc.open_stream(d.data.data).read_all().to_pandas().to_csv() for d in chart.proto.datasets]
    return "\n".join(texts)


def test_an_advisor_sees_their_book_by_tier_and_only_their_customers(as_user, home):
    app = as_user(signed_in("advisor", "claire"))
    assert [t.value for t in app.title] == ["Customer value"]
    assert {m.label: m.value for m in app.metric}["Customers"] == "3"
    # every tier's count, the first one by each breakdown (every cell and breakdown: the test above)
    tiers = app.dataframe(key="tiers").value
    for row in range(len(tiers)):
        select(app, "tiers", cell=(row, "customers"))
        radio = app.radio(key="tier_by")
        for option in radio.options if row == 0 else radio.options[:1]:
            radio.set_value(BY[option]).run()
            assert not app.error, [e.value for e in app.error]
            [(figure, summed)] = opened(app)
            assert figure == summed
    # the tier's customers, one of them opened to her drivers, one driver to its statement lines
    select(app, "tiers", cell=(0, "customers"))
    of_tier = app.dataframe(key="tier_customers").value
    select(app, "tier_customers", row=0)
    drivers = app.dataframe(key="tier_customer_drivers").value
    assert list(drivers["driver"]) == [label for label, _ in vq.DRIVERS.values()]
    select(app, "tier_customer_drivers", row=list(vq.DRIVERS).index("cost_to_serve"))
    assert any(m.value.startswith("*Statement lines*") for m in app.markdown)
    shown = everything_shown(app)
    assert of_tier.iloc[0]["name"] in shown
    for other in ("Chloé", "Moreau", "Didier", "Lefèvre", uid("chloe"), uid("didier")):
        assert other not in shown
    # the action list and the movers are Claire's customers only
    for key in ("movers", "actions"):
        if key in [d.key for d in app.dataframe]:
            assert set(app.dataframe(key=key).value["name"]) <= {"Alice Durand", "Bruno Petit", "Emma Roux"}
    hugo = as_user(signed_in("advisor", "hugo"))
    select(hugo, "kpis", row=list(vq.MEASURES).index("contribution"))
    hugo.radio(key="kpi_by").set_value("customer").run()
    assert set(hugo.dataframe[1].value["customer"]) == {"Chloé Moreau", "Didier Lefèvre"}
    assert not [name for name in ("Alice", "Bruno", "Emma") if name in everything_shown(hugo)]


def test_a_director_drills_every_figure_and_never_reaches_a_customer(as_user, home):
    app = as_user(signed_in("director"))
    assert {m.label: m.value for m in app.metric}["Customers"] == "5"
    seen = [everything_shown(app)]
    tables = {key: app.dataframe(key=key).value for key in ("kpis", "tiers", "matrix", "profiles", "advisors")}
    # every KPI, every row of the tier, profile and advisor tables (a measure each), every cell of
    # the migration matrix that counts someone and one that does not; the first by every breakdown
    cells = [("kpis", {"row": row}) for row in range(len(tables["kpis"]))]
    for key in ("tiers", "profiles", "advisors"):
        measures = list(tables[key].columns[1:])
        cells += [(key, {"cell": (row, measures[row % len(measures)])}) for row in range(len(tables[key]))]
    matrix = tables["matrix"]
    counted = [(row, c) for row in range(len(matrix)) for c in matrix.columns[1:] if matrix.iloc[row][c]]
    empty = [(row, c) for row in range(len(matrix)) for c in matrix.columns[1:] if not matrix.iloc[row][c]]
    cells += [("matrix", {"cell": cell}) for cell in counted + empty[:1]]
    opened_count = 0
    for index, (key, selection) in enumerate(cells):
        for other in tables:  # one figure open at a time
            app.session_state[other] = {"selection": {"rows": [], "columns": [], "cells": []}}
        select(app, key, **selection)
        radios = [r for r in app.radio if r.key.endswith("_by")]
        assert len(radios) == 1, key
        assert BY["customer"] not in radios[0].options
        for option in radios[0].options if index == 1 else radios[0].options[:1]:
            radios[0].set_value(BY[option]).run()
            assert not app.error, [e.value for e in app.error]
            [(figure, summed)] = opened(app)
            assert figure == summed
            opened_count += 1
            seen.append(everything_shown(app))
    assert opened_count >= len(cells)
    text = "\n".join(seen)
    for customer in CUSTOMERS:
        assert uid(customer) not in text
    for name in NAMES:
        assert name not in text, name
    # the matrix as the mart has it: last month, Bruno's tier moved or not, every customer counted
    assert int(matrix.drop(columns=matrix.columns[0]).to_numpy().sum()) == 5


def test_a_drill_into_another_advisors_customer_is_refused_and_logged(as_user, home, con):
    # a crafted link, as the page would receive it
    hugo = as_user(signed_in("advisor", "hugo", subject="hugo-value-link"), customer=uid("alice"))
    assert [e.value for e in hugo.error] == ["Nothing to show for this link."]
    assert not [name for name in ("Alice", "Durand") if name in everything_shown(hugo)]
    # the same request through the function the page calls
    month = home.months[-1]
    principal = Principal("hugo-value-direct", Role.ADVISOR, advisor_id=uid("hugo"))
    from finefinance_platform.dashboards.queries import customer_advisor

    settings = home.settings()
    decision = vq.authorize_drill(
        principal, month, "contribution of one customer", "driver", advisor_id=uid("hugo"),
        customer_id=uid("alice"), customer_advisor_id=customer_advisor(con, uid("alice")), settings=settings,
    )  # fmt: skip
    assert not decision and decision.reason == "not a customer of this advisor"
    # his own customer is allowed; a director's drill to a customer is refused
    assert vq.authorize_drill(
        principal, month, "contribution of one customer", "driver", advisor_id=uid("hugo"),
        customer_id=uid("chloe"), customer_advisor_id=customer_advisor(con, uid("chloe")), settings=settings,
    )  # fmt: skip
    director = Principal("director-value", Role.DIRECTOR)
    assert not vq.authorize_drill(director, month, "contribution", "customer", settings=settings)
    assert vq.authorize_drill(director, month, "contribution", "advisor", settings=settings)

    rows = read(home.settings())
    logged = [
        (r.subject, r.action, r.outcome, r.customer_id)
        for r in rows
        if r.subject in ("hugo-value-link", "hugo-value-direct", "director-value")
        and r.action == "drill_customer_value"
    ]
    assert ("hugo-value-link", "drill_customer_value", "denied", uid("alice")) in logged
    assert ("hugo-value-direct", "drill_customer_value", "denied", uid("alice")) in logged
    assert ("hugo-value-direct", "drill_customer_value", "allowed", uid("chloe")) in logged
    assert ("director-value", "drill_customer_value", "denied", None) in logged
    assert ("director-value", "drill_customer_value", "allowed", None) in logged
    denied = next(r for r in rows if r.subject == "hugo-value-direct" and r.outcome == "denied")
    assert denied.detail.startswith("not a customer of this advisor: ") and denied.month_start == month.isoformat()


def test_an_advisors_own_customer_by_link_opens_to_a_driver(as_user, home):
    claire = as_user(signed_in("advisor", "claire"), customer=uid("bruno"), driver="card_income")
    assert not claire.error
    text = everything_shown(claire)
    assert "Bruno Petit" in text and "Grocery store" in text
    assert pd.Series([m.value for m in claire.markdown]).str.startswith("**Card income: ").any()
