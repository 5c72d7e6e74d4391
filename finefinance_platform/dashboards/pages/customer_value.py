"""Customer value: what each customer brings the bank (marts.fct_customer_value), why, and what to do.

An advisor sees their own customers by value tier with the drivers of each tier, this month's
movers and why, and their action list (marts.advisor_value_actions); a director the tier mix over
time, the migration matrix, contribution by assigned profile and each advisor's book, and never a
customer. Every figure opens to what it is made of: select a cell (or a bar of the tiers' chart)
and its breakdown shows below it, summing to it exactly; an advisor goes on down to one customer's
drivers and the statement lines, balances and products behind one driver. Each drill is decided by
the access policy and logged (value_queries.authorize_drill); the reads are in value_queries.py.
"""

from __future__ import annotations

from decimal import Decimal

import altair as alt
import pandas as pd
import streamlit as st

from finefinance_platform.access.policy import Action, CustomerScope, Page, Role, customer_scope
from finefinance_platform.dashboards import common
from finefinance_platform.dashboards.value_queries import (
    BREAKDOWNS,
    DRIVERS,
    GONE,
    MEASURES,
    NEW,
    Figure,
    authorize_drill,
    breakdowns_of,
    parts_frame,
)

REFUSED = "Nothing to show for this link."
TABLE_MEASURES = ("customers", "contribution", "contribution_12m")

principal = common.page_principal(Page.VALUE)
common.allow_or_stop(principal, Action.VIEW_CUSTOMER_VALUE)
is_advisor = principal.role is Role.ADVISOR
scope = customer_scope(principal) if is_advisor else CustomerScope(everyone=True)
book = principal.advisor_id if is_advisor else None


def value_query(name: str, *args):
    return common.query(name, *args, module="value_queries")


def show(value, measure: str) -> str:
    return f"{int(value):,}" if measure == "customers" else common.eur(value)


def gate(month, what: str, by: str, customer_id: str | None = None) -> None:
    """The policy's decision on one drill, logged either way; a refusal ends the page."""
    customer_advisor_id = common.query("customer_advisor", customer_id) if customer_id else None
    try:
        decision = authorize_drill(
            principal, month, what, by, advisor_id=book, customer_id=customer_id,
            customer_advisor_id=customer_advisor_id, settings=common.dashboard_settings(),
        )  # fmt: skip
    except Exception as exc:  # no record, no data
        st.error(f"The access log cannot be written ({type(exc).__name__}): nothing is shown.")
        st.stop()
    if not decision:
        st.error(REFUSED)
        st.stop()


def open_figure(figure: Figure, key: str) -> None:
    """The figure broken down by the dimension chosen; the parts sum to it exactly."""
    options = breakdowns_of(figure, customer_level=is_advisor)
    by = st.radio("Break down by", options, format_func=BREAKDOWNS.get, horizontal=True, key=f"{key}_by")
    gate(figure.month, figure.describe(), by)
    total = value_query("figure_total", figure, scope)
    parts = value_query("breakdown", figure, by, scope)
    summed = sum((part.value for part in parts), 0 if figure.measure == "customers" else Decimal("0.00"))
    st.markdown(
        f"**{figure.describe()}: {show(total, figure.measure)}**, by {BREAKDOWNS[by]} "
        f"({len(parts)} parts, summing to {show(summed, figure.measure)})"
    )
    if summed != total:
        st.error(f"The parts sum to {show(summed, figure.measure)}, not {show(total, figure.measure)}.")
    money = () if figure.measure == "customers" else (MEASURES[figure.measure],)
    st.dataframe(
        parts_frame(parts, by, figure.measure), hide_index=True, key=f"{key}_parts",
        column_config=common.money_columns(*money),
    )  # fmt: skip


def selected_cell(event, frame: pd.DataFrame) -> tuple[int, str] | None:
    """The (row, column) of a single-cell selection, if any."""
    cells = event.selection.get("cells", []) if event is not None else []
    if not cells:
        return None
    row, column = cells[0][0], cells[0][1]
    return (row, column) if 0 <= row < len(frame) else None


def selected_row(event, frame: pd.DataFrame) -> int | None:
    rows = event.selection.get("rows", []) if event is not None else []
    return rows[0] if rows and 0 <= rows[0] < len(frame) else None


def figure_table(frame: pd.DataFrame, label: str, key: str) -> tuple[int, str] | None:
    """A table of figures (one row per group): select a cell to open it. Returns (row, measure)."""
    shown = frame[["label", *TABLE_MEASURES]].rename(columns={"label": label})
    event = st.dataframe(
        shown, hide_index=True, key=key, on_select="rerun", selection_mode="single-cell",
        column_config=common.money_columns("contribution", "contribution_12m"),
    )  # fmt: skip
    cell = selected_cell(event, shown)
    if cell is None:
        return None
    row, column = cell
    return row, column if column in TABLE_MEASURES else "customers"


def kpi_table(totals: pd.DataFrame, key: str) -> str | None:
    """The month's figures, one per row: select one to open it. Returns its measure."""
    if totals.empty:
        return None
    row = totals.iloc[0]
    measures = list(MEASURES)
    shown = pd.DataFrame({"figure": [MEASURES[m] for m in measures], "value": [show(row[m], m) for m in measures]})
    event = st.dataframe(shown, hide_index=True, key=key, on_select="rerun", selection_mode="single-row")
    index = selected_row(event, shown)
    return None if index is None else measures[index]


def customer_panel(customer_id: str, month, key: str) -> None:
    """One of the advisor's customers: their contribution by driver (summing to it), then the rows
    behind the driver selected."""
    gate(month, f"contribution {month:%Y-%m} of one customer", "driver", customer_id)
    row = value_query("customer_value_row", customer_id, month, scope)
    if row is None:
        st.info("No value figure for this customer this month.")
        return
    name = common.query("customers", scope).set_index("customer_id")["name"].get(customer_id, "")
    st.markdown(
        f"##### {name} · {row['tier']} · contribution {common.eur(row['contribution'])} "
        f"(12 months: {common.eur(row['contribution_12m'])})"
    )
    parts = value_query("customer_drivers", customer_id, month, scope)
    drivers = pd.DataFrame({"driver": [part.label for part in parts], "amount": [float(part.value) for part in parts]})
    summed = sum((part.value for part in parts), Decimal("0.00"))
    st.caption(f"The drivers sum to {common.eur(summed)}: select one for the rows behind it.")
    if summed != row["contribution"]:
        st.error(f"The drivers sum to {common.eur(summed)}, not {common.eur(row['contribution'])}.")
    event = st.dataframe(
        drivers, hide_index=True, key=f"{key}_drivers", on_select="rerun", selection_mode="single-row",
        column_config=common.money_columns("amount"),
    )  # fmt: skip
    index = selected_row(event, drivers)
    asked = st.query_params.get("driver") if key == "link" else None
    driver = parts[index].key if index is not None else (asked if asked in DRIVERS else None)
    if driver is None:
        return
    gate(month, f"{driver} {month:%Y-%m} of one customer", "statement_lines", customer_id)
    st.markdown(f"**{DRIVERS[driver][0]}: {common.eur(row[driver])}**, made of:")
    for title, rows in value_query("driver_evidence", customer_id, month, driver, scope).items():
        amount = next((c for c in ("amount", "closing_balance") if c in rows.columns), None)
        total = f", total {common.eur(rows[amount].sum())}" if amount and len(rows) else ""
        st.markdown(f"*{title}* ({len(rows)}{total})")
        if len(rows):
            st.dataframe(rows, hide_index=True, column_config=common.money_columns("amount", "closing_balance"))


def customers_opening(frame: pd.DataFrame, month, key: str, panel_key: str, *money: str) -> None:
    """A table of the advisor's customers (their ids kept out of sight) whose selected row opens
    that customer's panel."""
    event = st.dataframe(
        frame.drop(columns=["customer_id"]), hide_index=True, key=key, on_select="rerun",
        selection_mode="single-row", column_config=common.money_columns(*money),
    )  # fmt: skip
    index = selected_row(event, frame)
    if index is not None:
        customer_panel(frame["customer_id"].iloc[index], month, panel_key)


st.title("Customer value")
st.caption(
    "What each customer brings the bank in a month (margins, interest, fees, minus the cost to serve), "
    "the value tier of the last twelve months, and the driver behind it. Select any figure to see "
    "what it is made of."
)
months = value_query("value_months")
if not months:
    st.info("No customer value in the marts yet: run the pipeline first (`finefinance run`).")
    st.stop()
month = st.selectbox("Month", months, format_func=lambda m: f"{m:%B %Y}", key="value_month")
totals = value_query("book_totals", month, scope)
tiers = value_query("by_tier", month, scope)
total_row = totals.iloc[0] if len(totals) else None

cards = st.columns(4)
cards[0].metric("Customers", f"{int(total_row['customers']) if total_row is not None else 0:,}")
cards[1].metric("Contribution", common.eur_short(total_row["contribution"] if total_row is not None else 0))
cards[2].metric(
    "Contribution, 12 months", common.eur_short(total_row["contribution_12m"] if total_row is not None else 0)
)
negative = tiers.loc[tiers["key"] == "Negative", "customers"].sum() if len(tiers) else 0
cards[3].metric("Customers costing more than they bring", f"{int(negative):,}")

st.subheader(f"{'Your book' if is_advisor else 'The bank'} · {month:%B %Y}")
measure = kpi_table(totals, "kpis")
if measure is not None:
    open_figure(Figure(month, measure), "kpi")

if is_advisor:
    common.log(principal, Action.VIEW_CUSTOMER_VALUE, "allowed", month_start=month, detail=f"{len(tiers)} tiers")
    asked = st.query_params.get("customer")
    if asked is not None:  # a deep link: decided on the customer's advisor in the marts
        st.subheader("Customer")
        customer_panel(asked.strip(), month, "link")

    st.subheader("Customers by value tier")
    st.caption("Each tier's contribution this month, by driver (cost to serve below zero). Select a bar or a cell.")
    drivers_by_tier = tiers.melt(id_vars=["key"], value_vars=list(DRIVERS), var_name="driver", value_name="amount")
    drivers_by_tier["amount"] = [
        DRIVERS[d][1] * float(a) for d, a in zip(drivers_by_tier["driver"], drivers_by_tier["amount"], strict=True)
    ]
    drivers_by_tier["driver"] = drivers_by_tier["driver"].map(lambda d: DRIVERS[d][0])
    pick = alt.selection_point(fields=["tier"], name="tier_pick")
    chart = (
        alt.Chart(drivers_by_tier.rename(columns={"key": "tier"}))
        .mark_bar()
        .encode(
            x=alt.X("tier:N", sort=list(tiers["key"]), title="value tier"),
            y=alt.Y("sum(amount):Q", title="EUR this month"),
            color=alt.Color("driver:N", title="driver"),
            tooltip=["tier", "driver", alt.Tooltip("sum(amount):Q", format=",.2f", title="EUR")],
        )
        .add_params(pick)
    )
    chart_event = st.altair_chart(chart, on_select="rerun", key="tier_chart")
    cell = figure_table(tiers, "tier", "tiers")
    picked = (chart_event.selection.get("tier_pick") or [{}]) if chart_event is not None else [{}]
    tier = tiers["key"].iloc[cell[0]] if cell else picked[0].get("tier")
    if tier is not None:
        figure = Figure(month, cell[1] if cell else "customers", tier=tier)
        open_figure(figure, "tier")
        st.markdown(f"#### Customers of tier {tier}")
        gate(month, f"customers {month:%Y-%m}, tier {tier}", "customer")
        of_tier = value_query("customers_of_tier", month, tier, scope)
        money = ("contribution", "contribution_12m", *DRIVERS)
        customers_opening(of_tier, month, "tier_customers", "tier_customer", *money)

    st.subheader("This month's movers")
    moved = value_query("movers", month, scope)
    if moved.empty:
        st.caption("No customer of yours changed tier since last month.")
    else:
        st.caption("Customers whose tier changed since last month, and the driver that moved most.")
        gate(month, f"movers {month:%Y-%m}", "customer")
        customers_opening(moved, month, "movers", "mover", "moved_by", "contribution_12m_change")

    st.subheader("What to do")
    actions = value_query("value_actions", month, scope)
    if actions.empty:
        st.caption("No action on your list this month.")
    else:
        gate(month, f"actions {month:%Y-%m}", "customer")
        customers_opening(actions, month, "actions", "action")
    st.stop()

# -- a director: aggregates only, never a customer -------------------------------------------------
st.subheader("Tier mix over time")
mix = value_query("tier_mix", scope)
mix["month"] = pd.to_datetime(mix["month_start"]).dt.strftime("%Y-%m")
st.bar_chart(mix, x="month", y="customers", color="tier", y_label="customers")
st.caption("Customers per value tier this month: select a cell to open it.")
cell = figure_table(tiers, "tier", "tiers")
if cell is not None:
    open_figure(Figure(month, cell[1], tier=tiers["key"].iloc[cell[0]]), "tier")

st.subheader("Migration matrix")
st.caption(f"Customers by their tier at the end of {month:%B %Y} (columns) and the month before (rows).")
moves = value_query("migrations", month)
order = list(value_query("tier_order"))
rows_order = [*order, NEW]
columns_order = [*order, GONE]
matrix = pd.DataFrame(0, index=rows_order, columns=columns_order, dtype="int64")
for move in moves.itertuples():
    source = NEW if pd.isna(move.from_tier) else move.from_tier
    target = GONE if pd.isna(move.to_tier) else move.to_tier
    matrix.loc[source, target] += int(move.customer_count)
matrix.index.name = "from \\ to"
shown = matrix.reset_index()
event = st.dataframe(shown, hide_index=True, key="matrix", on_select="rerun", selection_mode="single-cell")
cell = selected_cell(event, shown)
if cell is not None and cell[1] in columns_order:
    source, target = shown.iloc[cell[0], 0], cell[1]
    migration = (None if source == NEW else source, None if target == GONE else target)
    open_figure(Figure(month, "customers", migration=migration), "cell")

left, right = st.columns(2)
with left:
    st.subheader("Contribution by assigned profile")
    profiles = value_query("by_profile", month, scope)
    cell = figure_table(profiles, "profile", "profiles")
with right:
    st.subheader("Value per advisor's book")
    advisors = value_query("by_advisor", month)
    advisor_cell = figure_table(advisors, "advisor", "advisors")
if cell is not None:
    open_figure(Figure(month, cell[1], profile=profiles["key"].iloc[cell[0]]), "profile")
if advisor_cell is not None:
    open_figure(Figure(month, advisor_cell[1], advisor_id=advisors["key"].iloc[advisor_cell[0]]), "advisor")

counts = value_query("action_counts", month)
if len(counts):
    st.subheader("Advisors' action lists")
    st.dataframe(counts, hide_index=True)
    st.caption("The customers on each list are shown to their own advisor only.")
