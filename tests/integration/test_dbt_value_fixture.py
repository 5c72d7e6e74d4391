"""Customer value on a hand-built bank (issue 24): every figure below is computed by hand.

Seven customers of advisor A1, January and February 2025, one per main driver and together one per
value tier in February (docs/business-definitions.md#customer-value), at the dbt vars' defaults:
funds-transfer rate 2%, current accounts pay 0%, Livret A 3% in January and 2.4% from 1 February
2025 (the seed), overdraft 16%, loan funding 2.5%, interchange 0.3%, PEA 0.4%, life insurance
0.75%; cost to serve 2.50 per open account, 0.05 per transaction side, 0.50 per cash withdrawal;
tiers Core from 150, High from 400, Top from 1,500 (EUR of contribution_12m).

- V1 deposit margin: 30,000 on a current account, 10,000 on a Livret A (whose rate changes).
- V2 loan margin: a 1,000,000 loan at 4%.
- V3 investment fees: a 450,000 PEA and a 200,000 life insurance.
- V4 card income: a card at 15.00 a month and 50,000 of card payments in January.
- V5 overdraft interest: 1,500 overdrawn.
- V6 cost to serve: three cash withdrawals; 3.00 left, whose margin is exactly half a cent.
- V7 holds nothing (signed up in February): a row of zeros.

The marts are built once (a full build of what they need); a copy is rebuilt with another loan
funding rate, then with the default again.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from helpers.dbt_runs import CopyStep, DbtStep, create_raw_tables, insert_raw, money, read_rows, run_dbt_steps
from test_dbt_marts_fixture import at, card, customer, d, investment, loan

pytestmark = pytest.mark.slow(minutes=1)

# what the value marts need, and dim_customer (a test of fct_customer_value refers to it); only the
# tests whose models are all selected (not those of the other marts that read dim_customer)
VALUE_MARTS = ("+value_tier_migrations", "dim_customer", "--indirect-selection", "cautious")
ACCOUNTS = [
    ("acc-v1", "v1", "normal"),
    ("acc-v1-la", "v1", "LA"),
    ("acc-v2", "v2", "normal"),
    ("acc-v3", "v3", "normal"),
    ("acc-v4", "v4", "normal"),
    ("acc-v5", "v5", "normal"),
    ("acc-v6", "v6", "normal"),
]
# (id, booked, category, amount, sender, receiver): all completed, booked when made
TRANSACTIONS = [
    ("u01", "2025-01-05 09:00", "salary", "30000.00", None, "acc-v1"),
    ("u02", "2025-01-05 10:00", "deposit", "10000.00", None, "acc-v1-la"),
    ("u03", "2025-01-06 09:00", "salary", "50000.00", None, "acc-v4"),
    ("u04", "2025-01-07 12:00", "card_payment", "50000.00", "acc-v4", None),
    ("u05", "2025-01-08 07:00", "subscription", "1500.00", "acc-v5", None),
    ("u06", "2025-01-09 09:00", "deposit", "303.00", None, "acc-v6"),
    ("u07", "2025-01-10 09:00", "withdrawal", "100.00", "acc-v6", None),
    ("u08", "2025-01-11 09:00", "withdrawal", "100.00", "acc-v6", None),
    ("u09", "2025-01-12 09:00", "withdrawal", "100.00", "acc-v6", None),
]


def fill_value_raw(db) -> None:
    create_raw_tables(db)
    insert_raw(db, "advisor", [{"advisor_id": "a1", "firstname": "Alice", "surname": "Martin", "city": "Paris",
                                "created_at": d("2020-01-01")}])  # fmt: skip
    signed_up = at("2025-01-02 10:00")
    insert_raw(
        db,
        "customer",
        [
            customer("v1", "Vera", "Un", "2025-01-02", "bronze", "a1", signed_up),
            customer("v2", "Victor", "Deux", "2025-01-02", "diamant", "a1", signed_up),
            customer("v3", "Valérie", "Trois", "2025-01-02", "gold", "a1", signed_up),
            customer("v4", "Vincent", "Quatre", "2025-01-02", "bronze", "a1", signed_up),
            customer("v5", "Violette", "Cinq", "2025-01-02", "bronze", "a1", signed_up),
            customer("v6", "Valentin", "Six", "2025-01-02", "gold", "a1", signed_up),
            customer("v7", "Vanessa", "Sept", "2025-02-10", "bronze", "a1", at("2025-02-10 10:00")),
        ],
    )
    insert_raw(
        db,
        "account",
        [{"account_id": a, "customer_id": c, "account_type": t, "open_date": d("2025-01-02"), "closed_date": None}
         for a, c, t in ACCOUNTS],
    )  # fmt: skip
    insert_raw(
        db,
        "transaction",
        [
            {
                "transaction_id": tid,
                "transaction_date": at(when),
                "booked_at": at(when),
                "created_at": at(when),
                "updated_at": at(when),
                "category": category,
                "amount": Decimal(amount),
                "sender_account_id": sender,
                "receiver_account_id": receiver,
                "counterparty": "Outside",
                "description": f"{category} {tid}",
                "status": "completed",
            }
            for tid, when, category, amount, sender, receiver in TRANSACTIONS
        ],
    )
    insert_raw(db, "loan", [loan("lv2", "v2", "1000000.00", "0.04000", "2025-01-02", None, "active")])
    insert_raw(
        db,
        "investment",
        [
            investment("iv3a", "v3", "PEA", "450000.00", "2025-01-02", None, "active"),
            investment("iv3b", "v3", "life insurance", "200000.00", "2025-01-02", None, "active"),
        ],
    )
    insert_raw(db, "credit_card", [card("kv4", "v4", "15.00", "2025-01-02", None, "active")])


@pytest.fixture(scope="module")
def value_warehouses(tmp_path_factory):
    root = tmp_path_factory.mktemp("value_fixture")
    dbs = {name: root / name / "value.duckdb" for name in ("base", "changed", "restored")}
    dbs["base"].parent.mkdir()
    fill_value_raw(dbs["base"])
    build = ("build", "--select", *VALUE_MARTS, "--exclude-resource-type", "unit_test")
    rebuild = ("build", "--select", "fct_customer_value", "value_tier_migrations", "--indirect-selection", "cautious")
    run_dbt_steps(
        [
            DbtStep(dbs["base"], build),
            CopyStep(dbs["base"], dbs["changed"]),
            DbtStep(dbs["changed"], rebuild, {"value_loan_funding_rate": 0.03}),
            # the default again, said explicitly: the same definition must give the same rows and version
            CopyStep(dbs["changed"], dbs["restored"]),
            DbtStep(dbs["restored"], rebuild, {"value_loan_funding_rate": 0.025}),
        ],
        root / "dbt",
    )
    return dbs


def value_rows(db) -> dict[tuple[str, str], dict]:
    rows = read_rows(db, "select * from marts.fct_customer_value order by month_start, customer_id")
    return {(str(r["month_start"]), r["customer_id"]): r for r in rows}


def migration_rows(db) -> dict[tuple, int]:
    rows = read_rows(db, "select month_start, from_tier, to_tier, customer_count from marts.value_tier_migrations")
    return {(str(r["month_start"]), r["from_tier"], r["to_tier"]): r["customer_count"] for r in rows}


PARTS = ("deposit_margin", "overdraft_interest", "loan_margin", "card_income", "investment_fees", "cost_to_serve")
# (deposit margin, overdraft interest, loan margin, card income, investment fees, cost to serve,
#  contribution, contribution_12m, value tier, main driver)
EXPECTED = {
    # V1 January: (30,000 × (0.02 − 0) + 10,000 × (0.02 − 0.03)) / 12 = (600 − 100) / 12 = 41.666… → 41.67;
    #   cost 2 accounts × 2.50 + 2 sides × 0.05 = 5.10; 41.67 − 5.10 = 36.57
    ("2025-01-01", "v1"): ("41.67", "0", "0", "0", "0", "5.10", "36.57", "36.57", "Low", "deposit margin"),
    # V1 February, Livret A at 2.4%: (600 + 10,000 × (0.02 − 0.024)) / 12 = (600 − 40) / 12 = 46.666… → 46.67;
    #   cost 5.00 (no transaction); 46.67 − 5.00 = 41.67; twelve months 36.57 + 41.67 = 78.24 (< 150: Low)
    ("2025-02-01", "v1"): ("46.67", "0", "0", "0", "0", "5.00", "41.67", "78.24", "Low", "deposit margin"),
    # V2: 1,000,000 × (0.04 − 0.025) / 12 = 15,000 / 12 = 1,250.00; cost 1 account 2.50 → 1,247.50 (High)
    ("2025-01-01", "v2"): ("0", "0", "1250.00", "0", "0", "2.50", "1247.50", "1247.50", "High", "loan margin"),
    # twelve months 2 × 1,247.50 = 2,495.00 (>= 1,500: Top)
    ("2025-02-01", "v2"): ("0", "0", "1250.00", "0", "0", "2.50", "1247.50", "2495.00", "Top", "loan margin"),
    # V3: (450,000 × 0.004 + 200,000 × 0.0075) / 12 = (1,800 + 1,500) / 12 = 275.00; − 2.50 = 272.50 (Core)
    ("2025-01-01", "v3"): ("0", "0", "0", "0", "275.00", "2.50", "272.50", "272.50", "Core", "investment fees"),
    # twelve months 545.00 (>= 400: High)
    ("2025-02-01", "v3"): ("0", "0", "0", "0", "275.00", "2.50", "272.50", "545.00", "High", "investment fees"),
    # V4 January: fee 15.00 + 50,000 × 0.003 = 165.00; balance 50,000 − 50,000 = 0;
    #   cost 2.50 + 2 sides × 0.05 = 2.60; 162.40 (Core)
    ("2025-01-01", "v4"): ("0", "0", "0", "165.00", "0", "2.60", "162.40", "162.40", "Core", "card income"),
    # February: fee 15.00 − 2.50 = 12.50; twelve months 174.90 (Core)
    ("2025-02-01", "v4"): ("0", "0", "0", "15.00", "0", "2.50", "12.50", "174.90", "Core", "card income"),
    # V5: 1,500 × 0.16 / 12 = 240 / 12 = 20.00; cost 2.50 + 1 side 0.05 = 2.55; 17.45 (Low)
    ("2025-01-01", "v5"): ("0", "20.00", "0", "0", "0", "2.55", "17.45", "17.45", "Low", "overdraft interest"),
    # February: 20.00 − 2.50 = 17.50; twelve months 34.95
    ("2025-02-01", "v5"): ("0", "20.00", "0", "0", "0", "2.50", "17.50", "34.95", "Low", "overdraft interest"),
    # V6 January: 303 − 3 × 100 = 3.00 left: 3 × 0.02 / 12 = 0.005, half a cent, → 0.01 (away from zero);
    #   cost 2.50 + 4 sides × 0.05 + 3 withdrawals × 0.50 = 2.50 + 0.20 + 1.50 = 4.20; 0.01 − 4.20 = −4.19
    ("2025-01-01", "v6"): ("0.01", "0", "0", "0", "0", "4.20", "-4.19", "-4.19", "Negative", "cost to serve"),
    # February: 0.01 − 2.50 = −2.49; twelve months −4.19 − 2.49 = −6.68 (< 0: Negative)
    ("2025-02-01", "v6"): ("0.01", "0", "0", "0", "0", "2.50", "-2.49", "-6.68", "Negative", "cost to serve"),
    # V7 signed up on 10 February, holds nothing: a row of zeros, Low (0 is not negative), no driver
    ("2025-02-01", "v7"): ("0", "0", "0", "0", "0", "0", "0", "0", "Low", "none"),
}
# January: everyone arrives (the warehouse's first month); February: V2 High → Top, V3 Core → High,
# V7 new; the others stay
EXPECTED_MIGRATIONS = {
    ("2025-01-01", None, "Low"): 2,  # V1, V5
    ("2025-01-01", None, "High"): 1,  # V2
    ("2025-01-01", None, "Core"): 2,  # V3, V4
    ("2025-01-01", None, "Negative"): 1,  # V6
    ("2025-02-01", "Low", "Low"): 2,  # V1, V5
    ("2025-02-01", "High", "Top"): 1,  # V2
    ("2025-02-01", "Core", "High"): 1,  # V3
    ("2025-02-01", "Core", "Core"): 1,  # V4
    ("2025-02-01", "Negative", "Negative"): 1,  # V6
    ("2025-02-01", None, "Low"): 1,  # V7
}


def test_every_part_tier_and_driver_by_hand(value_warehouses):
    rows = value_rows(value_warehouses["base"])
    got = {
        key: (
            *(row[part] for part in PARTS),
            row["contribution"],
            row["contribution_12m"],
            row["value_tier"],
            row["main_driver"],
        )
        for key, row in rows.items()
    }
    assert got == {key: (*(money(v) for v in values[:8]), *values[8:]) for key, values in EXPECTED.items()}
    # the profile held, the advisor, how many months the twelve sum, one definition
    assert rows[("2025-02-01", "v2")]["profile"] == "Diamond"
    assert {r["advisor_id"] for r in rows.values()} == {"a1"}
    assert rows[("2025-02-01", "v7")]["months_in_12m"] == 1 and rows[("2025-02-01", "v1")]["months_in_12m"] == 2
    assert len({r["definition_version"] for r in rows.values()}) == 1
    # a customer per tier and per driver in February
    february = [r for (month, _), r in rows.items() if month == "2025-02-01"]
    assert {r["value_tier"] for r in february} == {"Negative", "Low", "Core", "High", "Top"}
    assert {r["main_driver"] for r in february} == {*(part.replace("_", " ") for part in PARTS), "none"}


def test_tier_migrations_by_hand(value_warehouses):
    assert migration_rows(value_warehouses["base"]) == EXPECTED_MIGRATIONS


def test_one_rate_changes_the_version_and_only_its_figures(value_warehouses):
    base = value_rows(value_warehouses["base"])
    changed, changed_migrations = value_rows(value_warehouses["changed"]), migration_rows(value_warehouses["changed"])
    assert changed.keys() == base.keys()
    versions = {r["definition_version"] for r in changed.values()}
    assert len(versions) == 1 and versions.isdisjoint({r["definition_version"] for r in base.values()})
    # funding at 3%: V2's loan margin 1,000,000 × (0.04 − 0.03) / 12 = 833.333… → 833.33;
    # contribution 833.33 − 2.50 = 830.83; twelve months 830.83 (January), 1,661.66 (February): the
    # tiers stay High and Top
    differing = {
        (key, column): (base[key][column], row[column])
        for key, row in changed.items()
        for column in row
        if column != "definition_version" and row[column] != base[key][column]
    }
    assert differing == {
        (("2025-01-01", "v2"), "loan_margin"): (money("1250.00"), money("833.33")),
        (("2025-01-01", "v2"), "contribution"): (money("1247.50"), money("830.83")),
        (("2025-01-01", "v2"), "contribution_12m"): (money("1247.50"), money("830.83")),
        (("2025-02-01", "v2"), "loan_margin"): (money("1250.00"), money("833.33")),
        (("2025-02-01", "v2"), "contribution"): (money("1247.50"), money("830.83")),
        (("2025-02-01", "v2"), "contribution_12m"): (money("2495.00"), money("1661.66")),
    }
    assert changed_migrations == EXPECTED_MIGRATIONS
    # the default again: the same rows, the same version as the first build
    assert value_rows(value_warehouses["restored"]) == base
