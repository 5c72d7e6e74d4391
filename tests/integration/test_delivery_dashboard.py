"""Each dashboard page rendered by Streamlit's testing API on the small bank's marts, as each role.

`AppTest.user` stands for the identity token's claims (the real sign-in is in the browser test):
what a role may see is decided on the server, so these runs show what each role is sent.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from helpers.delivery_fixtures import correct_booking, issue_time, make_delivery_home, signed_in, uid
from streamlit.testing.v1 import AppTest

from finefinance_platform.dashboards import APP

TIMEOUT = 60


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return make_delivery_home(tmp_path_factory.mktemp("dashboard-home"))


def app_factory(home, monkeypatch):
    """Factory: the app run on `home` for a person with these claims."""
    for name, value in home.env().items():
        monkeypatch.setenv(name, value)

    def run(claims: dict) -> AppTest:
        test = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        test.user = claims
        test.run()
        assert not test.exception, [e.value for e in test.exception]
        return test

    return run


@pytest.fixture()
def as_user(home, monkeypatch):
    return app_factory(home, monkeypatch)


@pytest.fixture()
def app(as_user):
    """Claire Martin, advisor of Alice, Bruno and Emma."""
    return as_user(signed_in("advisor", "claire"))


@pytest.fixture()
def hugo(as_user):
    """Hugo Bernard, advisor of Chloé and Didier."""
    return as_user(signed_in("advisor", "hugo"))


@pytest.fixture()
def director(as_user):
    return as_user(signed_in("director"))


def open_page(app: AppTest, page: str) -> AppTest:
    app.switch_page(f"pages/{page}.py")
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def test_statement_explorer_shows_and_offers_the_statement(app, home):
    assert not app.exception
    assert texts(app.title) == ["Monthly Statement Explorer"]
    last = home.months[-1]
    # the first customer by surname is Alice Durand; her last month is preselected
    assert app.selectbox(key="customer").value == uid("alice")
    assert app.selectbox(key="statement_month").value == f"{last:%Y-%m}"
    assert texts(app.subheader)[0].startswith("Alice Durand · 1 ")
    shown = [(m.label, m.value) for m in app.metric]
    assert ("Opening balance", "7,000.53 EUR") in shown and ("Closing balance", "9,334.04 EUR") in shown
    assert ("Closing balance", "2,000.00 EUR") in shown  # the Livret A: 4 x 500
    assert [button.label for button in app.get("download_button")] == ["Download PDF", "Download CSV"]
    assert len(app.dataframe) == 2
    assert f"Version 1, issued on {issue_time(last).date()}." in texts(app.caption)
    lines = app.dataframe[0].value
    assert list(lines.columns) == ["Date", "Booked", "Description", "Category", "Credit", "Debit", "Balance"]
    assert list(lines["Description"]) == ["Salary ACME SA", "Streaming subscription", "Monthly savings", "Dinner share"]
    assert list(lines["Balance"]) == ["10,000.53", "9,954.54", "9,454.54", "9,334.04"]


def test_statement_explorer_search_and_pick_another_month(hugo, home):
    assert hugo.selectbox(key="customer").options == ["Didier Lefèvre (Bronze)", "Chloé Moreau (Diamond)"]
    hugo.text_input(key="customer_search").input("lefèvre").run()
    assert hugo.selectbox(key="customer").options == ["Didier Lefèvre (Bronze)"]
    hugo.selectbox(key="statement_month").select(f"{home.months[0]:%Y-%m}").run()
    assert not hugo.exception
    assert ("Closing balance", "-400.00 EUR") in [(m.label, m.value) for m in hugo.metric]

    hugo.text_input(key="customer_search").input("nobody at all").run()
    assert "No customer of yours matches" in hugo.warning[0].value
    # Claire's customers are not even found by name
    hugo.text_input(key="customer_search").input("durand").run()
    assert "No customer of yours matches" in hugo.warning[0].value


def test_an_advisor_sees_only_their_customers(app):
    options = app.selectbox(key="customer").options
    assert options == ["Alice Durand (Gold)", "Bruno Petit (Bronze)", "Emma Roux (Bronze)"]


def test_nobody_signed_in_sees_the_sign_in_page_only(as_user):
    for claims in ({"is_logged_in": False}, {}):
        anonymous = as_user(claims)
        assert texts(anonymous.title) == ["FineFinance"]
        assert [button.label for button in anonymous.button] == ["Sign in"]
        assert not anonymous.metric and not anonymous.dataframe and not anonymous.selectbox
        for page in ("statement_explorer", "advisor_portfolio", "kpi_trends", "risk_scoring"):
            not_in_navigation(anonymous, page)


def test_a_token_without_a_usable_role_sees_nothing(as_user):
    for claims in (signed_in("teller", "x"), signed_in("customer"), signed_in("advisor"), signed_in("operations")):
        nobody = as_user(claims)
        assert "no FineFinance role" in nobody.error[0].value
        assert not nobody.metric and not nobody.dataframe and not nobody.selectbox and not nobody.title


def test_pages_of_other_roles_cannot_be_opened(as_user):
    """Each role's navigation holds its pages only (Streamlit runs no page outside it; opening one by
    URL in the browser is in test_delivery_browser)."""
    for page in ("advisor_portfolio", "kpi_trends", "risk_scoring", "today"):
        not_in_navigation(as_user(signed_in("customer", "bruno")), page)
    not_in_navigation(as_user(signed_in("advisor", "hugo")), "kpi_trends")
    not_in_navigation(as_user(signed_in("director")), "statement_explorer")


def not_in_navigation(app: AppTest, page: str) -> None:
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page(f"pages/{page}.py")


def test_a_crafted_link_to_another_advisors_customer_is_refused_and_logged(as_user, home):
    from finefinance_platform.access.access_log import read

    hugo = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    hugo.user = signed_in("advisor", "hugo", subject="hugo-crafted-link")
    hugo.query_params["customer"] = uid("alice")  # Claire's customer
    hugo.run()
    assert [e.value for e in hugo.error] == ["No statement to show for this link."]
    assert not hugo.metric and not hugo.dataframe and not hugo.selectbox
    assert "Alice" not in " ".join(texts(hugo.markdown) + texts(hugo.subheader))
    # an id that is nobody's gets the same words
    hugo.query_params["customer"] = "' or 1=1 --"
    hugo.run()
    assert [e.value for e in hugo.error] == ["No statement to show for this link."]
    # another advisor's book by URL
    hugo.query_params.clear()
    hugo.query_params["advisor"] = uid("claire")
    hugo.switch_page("pages/advisor_portfolio.py")
    hugo.run()
    assert [e.value for e in hugo.error] == ["No book to show for this link."]
    assert not hugo.dataframe

    rows = [row for row in read(home.settings()) if row.subject == "hugo-crafted-link"]
    assert [(row.action, row.outcome, row.customer_id) for row in rows] == [
        ("view_portfolio", "denied", None),
        ("view_statement", "denied", "' or 1=1 --"),
        ("view_statement", "denied", uid("alice")),
    ]
    assert all(row.role == "advisor" and row.channel == "dashboard" for row in rows)


def test_each_statement_shown_is_logged(as_user, home):
    from finefinance_platform.access.access_log import read

    as_user(signed_in("customer", "chloe", subject="chloe-logged"))
    rows = [row for row in read(home.settings()) if row.subject == "chloe-logged"]
    assert [(row.action, row.outcome, row.customer_id, row.month_start) for row in rows] == [
        ("view_statement", "allowed", uid("chloe"), home.months[-1].isoformat())
    ]


def test_a_customer_sees_only_their_own_statement(as_user, home):
    bruno = as_user(signed_in("customer", "bruno"))
    assert texts(bruno.title) == ["Monthly Statement Explorer"]
    assert not bruno.get("selectbox") or [s.key for s in bruno.selectbox] == ["statement_month"]
    assert texts(bruno.subheader)[0].startswith("Bruno Petit · 1 ")
    shown = " ".join(texts(bruno.markdown) + texts(bruno.subheader))
    for other in ("Alice", "Chloé", "Didier", "Emma"):
        assert other not in shown


def test_risk_page(app):
    open_page(app, "risk_scoring")
    assert texts(app.title) == ["Customer Health & Risk Scoring"]
    shown = metrics(app)
    assert shown["Customers scored"] == "3"  # Claire's three customers
    assert (shown["Low risk"], shown["High risk"], shown["Critical risk"]) == ("3", "0", "0")
    riskiest = app.dataframe[0].value
    assert set(riskiest["name"]) == {"Alice Durand", "Bruno Petit", "Emma Roux"}
    assert len(app.get("vega_lite_chart")) == 1  # the distribution
    rules = " ".join(texts(app.markdown))
    assert "Months in the red" in rules and "Debt against income" in rules


def test_risk_page_of_the_director_is_the_distribution_only(director):
    open_page(director, "risk_scoring")
    shown = metrics(director)
    assert shown["Customers scored"] == "5"
    assert (shown["Low risk"], shown["High risk"], shown["Critical risk"]) == ("4", "1", "0")
    assert len(director.dataframe) == 0  # no customer's line
    assert len(director.get("vega_lite_chart")) == 1


def test_risk_scores_of_hugo(hugo):
    open_page(hugo, "risk_scoring")
    riskiest = hugo.dataframe[0].value
    assert list(riskiest["name"]) == ["Didier Lefèvre", "Chloé Moreau"] and riskiest.iloc[0]["score"] == 73


def test_advisor_page_of_the_director_has_totals_and_no_customer(director, home):
    open_page(director, "advisor_portfolio")
    assert texts(director.title) == ["Advisor Portfolio Summary"]
    portfolios = director.dataframe[0].value.set_index("advisor")
    assert portfolios.loc["Hugo Bernard", "customers"] == 2
    assert portfolios.loc["Hugo Bernard", "loans_outstanding"] == pytest.approx(60000)
    assert portfolios.loc["Claire Martin", "investments_held"] == pytest.approx(30000)
    assert portfolios.loc["Hugo Bernard", "upgrade_candidates"] == 1
    assert len(director.dataframe) == 1
    shown = str(director.dataframe[0].value.to_dict()) + " ".join(texts(director.markdown))
    for customer in ("Alice", "Bruno", "Chloé", "Didier", "Emma"):
        assert customer not in shown


def test_advisor_page_shows_the_advisors_own_book(hugo, app, home):
    open_page(hugo, "advisor_portfolio")
    # Hugo: Chloé to upgrade (high withdrawals and loans), Didier to support
    assert texts(hugo.subheader)[0].startswith("Hugo Bernard · ")
    assert metrics(hugo)["Customers"] == "2"
    assert "#### Upgrade candidates (1)" in texts(hugo.markdown)
    assert list(hugo.dataframe[0].value["name"]) == ["Chloé Moreau"]
    assert list(hugo.dataframe[1].value["name"]) == ["Didier Lefèvre"]
    assert hugo.dataframe[1].value.iloc[0]["months_in_red"] == 4

    open_page(app, "advisor_portfolio")
    assert list(app.dataframe[0].value["name"]) == ["Alice Durand"]  # 30,000 invested for 4 months
    assert "Nobody this month." in texts(app.caption)
    # an earlier month: nobody has been high three months running yet
    app.selectbox(key="month").select(home.months[1]).run()
    assert "#### Upgrade candidates (0)" in texts(app.markdown)


def chart_data(chart) -> pd.DataFrame:
    """The data a chart plots (Arrow IPC in the element), as the browser receives it."""
    return pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all().to_pandas()


def test_kpi_page(director, home):
    app = open_page(director, "kpi_trends")
    assert texts(app.title) == ["Business KPI Trends"]
    shown = metrics(app)
    # last month: 60,000 x 3.6 % / 12 = 180.00 interest + Alice's 9.90 card fee
    assert shown["Revenue"] == "189.90 EUR"
    assert shown["Transactions"] == "15"  # 14 made this month, and Bruno's booked on the 2nd
    charts = app.get("vega_lite_chart")
    assert len(charts) == 7
    # revenue bars: interest + card fees; Didier's 4.90 card ends after the second month
    revenue = chart_data(charts[0]).groupby("month_label")["value -- streamlit-generated"].sum()
    assert revenue.round(2).tolist() == [194.8, 194.8, 189.9, 189.9]
    # growth lines: exactly the three rates (12 transactions, then 14: +16.67 % in the third month)
    rates = chart_data(next(c for c in charts if "% vs previous month" in c.proto.spec))
    assert set(rates["color -- streamlit-generated"]) == {"revenue", "transactions", "new customers"}
    third = rates[pd.to_datetime(rates["month"]).dt.date == home.months[2]].set_index("color -- streamlit-generated")
    assert third.loc["transactions", "value -- streamlit-generated"] == pytest.approx(100 * 2 / 12)
    assert third.loc["revenue", "value -- streamlit-generated"] == pytest.approx(100 * (189.9 - 194.8) / 194.8)
    app.radio(key="category_measure").set_value("amount (EUR)").run()
    assert not app.exception


def test_pages_say_clearly_when_there_are_no_marts(tmp_path, monkeypatch):
    monkeypatch.setenv("FINEFINANCE_HOME", str(tmp_path / "empty"))
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    app.user = signed_in("director")
    app.run()
    assert not app.exception
    assert "no marts to read" in app.error[0].value


def test_a_corrected_month_shows_its_versions_and_offers_each(app, home):
    """Emma's bookshop payment of the third month was 82.25, not 80.25. (Last in this module: it
    issues Emma's version 2 of the third and fourth months.)"""
    month = home.months[2]
    correct_booking(home, "emma-card-2", "82.25")
    app.run()
    app.selectbox(key="customer").select(uid("emma")).run()
    app.selectbox(key="statement_month").select(f"{month:%Y-%m}").run()
    assert not app.exception
    [notice] = app.info
    assert notice.value.startswith("Corrected statement: version 2, issued on ")
    assert notice.value.endswith(f"corrects the statement issued on {issue_time(month).date()}.")
    assert ("Closing balance", "217.75 EUR") in [(m.label, m.value) for m in app.metric]  # 300.00 - 82.25
    assert [button.label for button in app.get("download_button")] == [
        "Download PDF", "Download CSV", "Version 1 PDF", "Version 1 CSV",
    ]  # fmt: skip
    versions = app.dataframe[0].value
    assert list(versions["Version"]) == [1, 2]
    assert list(versions["Closing after"]) == ["219.75", "217.75"]
    assert versions["Reason"][0] == "first issue" and "1 changed" in versions["Reason"][1]


# -- Today: the intraday marts the live cycle refreshes --------------------------------------------


@pytest.fixture(scope="module")
def today_home(tmp_path_factory):
    """The small bank with today's activity and alerts, as a live cycle leaves them."""
    import datetime as dt

    import duckdb
    from helpers.delivery_fixtures import make_delivery_home, publish_copy

    home = make_delivery_home(tmp_path_factory.mktemp("today-home"), publish=False)
    today = dt.datetime.now(dt.UTC).date()
    week = dt.timedelta(days=7)
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(
            "create table marts.intraday_activity (activity_date date, category varchar, "
            "transaction_count bigint, transaction_amount decimal(18, 2), as_of timestamp)"
        )
        con.executemany(
            "insert into marts.intraday_activity values (?, ?, ?, ?, now())",
            [
                (today, "card_payment", 3, "120.00"),
                (today, "transfer", 1, "500.00"),
                (today - week, "card_payment", 4, "200.00"),
                (today - 2 * week, "card_payment", 2, "100.00"),
                (today - 2 * week, "transfer", 2, "300.00"),
                (today - dt.timedelta(days=1), "card_payment", 50, "9999.00"),  # another weekday
            ],
        )
        con.execute(
            "create table marts.intraday_alerts (alert_id varchar, detected_at timestamp, customer_id varchar, "
            "advisor_id varchar, kind varchar, amount decimal(18, 2), balance_after decimal(18, 2), "
            "transaction_id varchar, booked_at timestamp)"
        )
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        alerts = [
            ("alice", "claire", "went_into_red", "80.00", "-30.00", now),
            ("chloe", "hugo", "large_withdrawal", "2500.00", "1200.00", now),
            ("bruno", "claire", "large_withdrawal", "3000.00", "10.00", now - 3 * dt.timedelta(days=1)),
        ]
        con.executemany(
            "insert into marts.intraday_alerts values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (f"{kind}:t-{who}:{uid(who)}", when, uid(who), uid(advisor), kind, amount, after, f"t-{who}", when)
                for who, advisor, kind, amount, after, when in alerts
            ],
        )
    publish_copy(home)
    return home


@pytest.fixture()
def on_today(today_home, monkeypatch):
    """Factory: the Today page as a person with these claims sees it."""
    run = app_factory(today_home, monkeypatch)
    return lambda claims: open_page(run(claims), "today")


def test_today_compares_the_day_with_the_same_weekday(on_today):
    page = on_today(signed_in("director"))
    cards = metrics(page)
    # 4 transactions today; the usual weekday: (4 + 2 + 2) / 2 weeks = 4
    assert cards["Transactions today"] == "4"
    # 620 EUR today against (200 + 100 + 300) / 2 = 300
    assert cards["Booked today"] == "620.00 EUR"
    deltas = {metric.label: metric.proto.delta for metric in page.metric}
    assert deltas["Transactions today"].startswith("+0 %") and deltas["Booked today"].startswith("+107 %")
    by_category = page.dataframe[0].value.set_index("category")
    assert by_category.loc["card_payment", "usual_transactions"] == 3
    assert by_category.loc["transfer", "usual_amount"] == 150


def test_an_advisor_sees_only_their_customers_alerts_of_today(on_today, today_home):
    from finefinance_platform.access.access_log import read

    claire = on_today(signed_in("advisor", "claire"))
    alerts = claire.dataframe[1].value
    assert list(alerts["customer"]) == ["Alice Durand"]  # Bruno's alert is from three days ago
    assert list(alerts["kind"]) == ["went into the red"] and float(alerts["balance_after"][0]) == -30.0
    assert metrics(claire)["Your alerts today"] == "1"
    hugo = on_today(signed_in("advisor", "hugo"))
    assert list(hugo.dataframe[1].value["customer"]) == ["Chloé Moreau"]
    logged = [row for row in read(today_home.settings()) if row.action == "view_alerts"]
    assert {row.outcome for row in logged} == {"allowed"} and len(logged) == 2


def test_a_director_sees_how_many_alerts_never_whose(on_today):
    page = on_today(signed_in("director"))
    assert metrics(page)["Alerts today"] == "2"
    assert len(page.dataframe) == 1  # the categories only
    shown = " ".join(str(element.value) for element in [*page.markdown, *page.caption, *page.dataframe])
    for name in ("Alice", "Chloé", "Durand", "Moreau"):
        assert name not in shown
