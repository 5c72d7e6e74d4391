"""Each dashboard page rendered by Streamlit's testing API on the small bank's marts."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from delivery_fixtures import make_delivery_home, uid
from streamlit.testing.v1 import AppTest

from finefinance_platform.delivery.dashboard import APP

TIMEOUT = 60


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return make_delivery_home(tmp_path_factory.mktemp("dashboard-home"))


@pytest.fixture()
def app(home, monkeypatch):
    for name, value in home.env().items():
        monkeypatch.setenv(name, value)
    test = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    test.run()
    return test


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
    lines = app.dataframe[0].value
    assert list(lines["Description"]) == ["Salary ACME SA", "Streaming subscription", "Monthly savings", "Dinner share"]
    assert list(lines["Balance"]) == ["10,000.53", "9,954.54", "9,454.54", "9,334.04"]


def test_statement_explorer_search_and_pick_another_month(app, home):
    app.text_input(key="customer_search").input("lefèvre").run()
    assert app.selectbox(key="customer").options == ["Didier Lefèvre (Bronze)"]
    app.selectbox(key="statement_month").select(f"{home.months[0]:%Y-%m}").run()
    assert not app.exception
    assert ("Closing balance", "-400.00 EUR") in [(m.label, m.value) for m in app.metric]

    app.text_input(key="customer_search").input("nobody at all").run()
    assert "No customer matches" in app.warning[0].value


def test_risk_page(app):
    open_page(app, "risk_scoring")
    assert texts(app.title) == ["Customer Health & Risk Scoring"]
    shown = metrics(app)
    assert shown["Customers scored"] == "5"
    assert (shown["Low risk"], shown["High risk"], shown["Critical risk"]) == ("4", "1", "0")
    riskiest = app.dataframe[0].value
    assert riskiest.iloc[0]["name"] == "Didier Lefèvre" and riskiest.iloc[0]["score"] == 73
    assert len(app.get("vega_lite_chart")) == 1  # the distribution
    rules = " ".join(texts(app.markdown))
    assert "Months in the red" in rules and "Debt against income" in rules


def test_advisor_page(app, home):
    open_page(app, "advisor_portfolio")
    assert texts(app.title) == ["Advisor Portfolio Summary"]
    portfolios = app.dataframe[0].value.set_index("advisor")
    assert portfolios.loc["Hugo Bernard", "customers"] == 2
    assert portfolios.loc["Hugo Bernard", "loans_outstanding"] == pytest.approx(60000)
    assert portfolios.loc["Claire Martin", "investments_held"] == pytest.approx(30000)
    # Hugo (first by surname): Chloé to upgrade (high withdrawals and loans), Didier to support
    assert app.selectbox(key="advisor").value == uid("hugo")
    assert "#### Upgrade candidates (1)" in texts(app.markdown)
    assert list(app.dataframe[1].value["name"]) == ["Chloé Moreau"]
    assert list(app.dataframe[2].value["name"]) == ["Didier Lefèvre"]
    assert app.dataframe[2].value.iloc[0]["months_in_red"] == 4

    app.selectbox(key="advisor").select(uid("claire")).run()
    assert not app.exception
    assert list(app.dataframe[1].value["name"]) == ["Alice Durand"]  # 30,000 invested for 4 months
    assert "Nobody this month." in texts(app.caption)
    # an earlier month: nobody has been high three months running yet
    app.selectbox(key="month").select(home.months[1]).run()
    assert "#### Upgrade candidates (0)" in texts(app.markdown)


def chart_data(chart) -> pd.DataFrame:
    """The data a chart plots (Arrow IPC in the element), as the browser receives it."""
    return pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all().to_pandas()


def test_kpi_page(app, home):
    open_page(app, "kpi_trends")
    assert texts(app.title) == ["Business KPI Trends"]
    shown = metrics(app)
    # last month: 60,000 x 3.6 % / 12 = 180.00 interest + Alice's 9.90 card fee
    assert shown["Revenue"] == "189.90 EUR"
    assert shown["Transactions"] == "14"
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
    app.run()
    assert not app.exception
    assert "no marts to read" in app.error[0].value
