"""A small bank, hand-made, turned into the `marts.*` tables of the warehouse contract.

The delivery tests run against this DuckDB file, not against the dbt marts: the marts here are
computed in plain Python from docs/business-definitions.md by `independent_marts.compute_marts` (a
completed transaction counts in its booking month, the month of `booked_at`), from a list of
transactions small enough to check by hand. The three closed months before the current one (plus
one before them, so balances carry over) keep every month inside the Dagster partitions and
"closed". `make_delivery_home` also issues every month's statements (delivery.statement_issues) on
the 1st of the next month, as the monthly close does.

The small bank (`small_bank()`):
- Alice Durand (Gold, advisor Claire): salary 3,000.00, a subscription, 500.00 moved to her own
  Livret A every month (an internal transfer: not a withdrawal), 120.50 sent to Bruno; a 30,000
  life insurance (high investments) and a card with a 9.90 fee.
- Bruno Petit (Bronze, Claire): salary 1,800.00, a card payment at 23:30 UTC on the month's last day,
  a 15.00 reimbursement; a pending and a failed transaction that must not show. Once, a 64.90 card
  payment made on the 30th of the third month (`LATE_BOOKING`) that the bank books on the 2nd of the
  fourth: it is on the fourth month's statement only, with both dates.
- Chloé Moreau (Diamond, advisor Hugo): salary 9,000.00, a 6,000.00 cash withdrawal every month (high
  withdrawals) and a 60,000 loan at 3.6 % (high loans).
- Didier Lefèvre (Bronze, Hugo): 1,500.00 in, 1,900.00 out each month: in the red from the first month.
- Emma Roux (Bronze, Claire): signs up in the third month.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from finefinance_platform.months import add_months, current_month
from helpers.independent_marts import PROFILE_LABELS, Bank, compute_marts, month_end
from helpers.independent_value_actions import compute_value_action_marts

D = Decimal
NAMESPACE = uuid.UUID("6f1c7f7e-1d4e-4b8e-9a63-0c2f5d3a9b10")


def uid(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, name))


def fixture_months(count: int = 4, today: dt.date | None = None) -> list[dt.date]:
    """The `count` closed months that end with last month, oldest first."""
    last = add_months(current_month(today), -1)
    return [add_months(last, -offset) for offset in range(count - 1, -1, -1)]


class HandMadeBank(Bank):
    """A `Bank` built row by row, each row's id derived from a readable key (`uid`)."""

    def advisor(self, key, firstname, surname, city):
        self.advisors.append({"advisor_id": uid(key), "firstname": firstname, "surname": surname, "city": city})
        return uid(key)

    def customer(self, key, firstname, surname, profile, advisor_id, signup):
        self.customers.append(
            {
                "customer_id": uid(key),
                "firstname": firstname,
                "surname": surname,
                "signup_date": signup,
                "profile": PROFILE_LABELS[profile],
                "advisor_id": advisor_id,
            }
        )
        return uid(key)

    def account(self, key, customer_id, account_type, open_date):
        self.accounts.append(
            {
                "account_id": uid(key),
                "customer_id": customer_id,
                "account_type": account_type,
                "currency": "EUR",
                "open_date": open_date,
            }
        )
        return uid(key)

    def txn(self, key, when, sender, receiver, amount, description, category, status="completed", booked=None):
        """A transaction made at `when`; a completed one is booked at `booked` (default: at once)."""
        self.transactions.append(
            {
                "transaction_id": uid(key),
                "transaction_date": when,
                "booked_at": (booked or when) if status == "completed" else None,
                "sender_account_id": sender,
                "receiver_account_id": receiver,
                "amount": D(amount),
                "description": description,
                "category": category,
                "status": status,
            }
        )
        return uid(key)


def at(month: dt.date, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(month.year, month.month, day, hour, minute, tzinfo=dt.UTC)


# Bruno's card payment made late in the third month (index 2) and booked on the 2nd of the fourth
LATE_BOOKING = "bruno-late-card"
LATE_AMOUNT = D("64.90")


def late_booking_made(months: list[dt.date]) -> dt.datetime:
    return at(months[2], min(30, month_end(months[2]).day), 18)


def late_booking_booked(months: list[dt.date]) -> dt.datetime:
    return at(months[3], 2, 6)


def small_bank(months: list[dt.date] | None = None) -> Bank:
    months = months or fixture_months()
    bank = HandMadeBank(months)
    m0 = months[0]
    claire = bank.advisor("claire", "Claire", "Martin", "Paris")
    hugo = bank.advisor("hugo", "Hugo", "Bernard", "Lyon")
    alice = bank.customer("alice", "Alice", "Durand", "gold", claire, m0)
    bruno = bank.customer("bruno", "Bruno", "Petit", "bronze", claire, m0)
    chloe = bank.customer("chloe", "Chloé", "Moreau", "diamant", hugo, m0)
    didier = bank.customer("didier", "Didier", "Lefèvre", "bronze", hugo, m0)
    emma = bank.customer("emma", "Emma", "Roux", "bronze", claire, months[2].replace(day=11))

    alice_cur = bank.account("alice-cur", alice, "normal", m0)
    alice_la = bank.account("alice-la", alice, "LA", m0)
    bruno_cur = bank.account("bruno-cur", bruno, "normal", m0)
    chloe_cur = bank.account("chloe-cur", chloe, "normal", m0)
    bank.account("chloe-lj", chloe, "LJ", m0)  # opened, never used
    didier_cur = bank.account("didier-cur", didier, "normal", m0)
    emma_cur = bank.account("emma-cur", emma, "normal", months[2].replace(day=11))

    for i, m in enumerate(months):
        last_day = month_end(m).day
        bank.txn(f"alice-salary-{i}", at(m, 1), None, alice_cur, "3000.00", "Salary ACME SA", "salary")
        bank.txn(f"alice-sub-{i}", at(m, 7), alice_cur, None, "45.99", "Streaming subscription", "subscription")
        bank.txn(f"alice-save-{i}", at(m, 10), alice_cur, alice_la, "500.00", "Monthly savings", "transfer")
        bank.txn(f"alice-bruno-{i}", at(m, 12), alice_cur, bruno_cur, "120.50", "Dinner share", "transfer")
        bank.txn(f"bruno-salary-{i}", at(m, 1, 10), None, bruno_cur, "1800.00", "Salary Petit & Co", "salary")
        bank.txn(
            f"bruno-card-{i}",
            at(m, last_day, 23, 30),
            bruno_cur,
            None,
            "230.40",
            "Grocery store",
            "card_payment",
        )
        bank.txn(f"bruno-refund-{i}", at(m, 25), None, bruno_cur, "15.00", "Refund", "reimbursement")
        bank.txn(
            f"bruno-pending-{i}",
            at(m, 26),
            bruno_cur,
            None,
            "99.99",
            "Pending purchase",
            "card_payment",
            status="pending",
        )
        bank.txn(
            f"bruno-failed-{i}", at(m, 27), bruno_cur, None, "50.00", "Failed purchase", "card_payment", status="failed"
        )
        bank.txn(f"chloe-salary-{i}", at(m, 1, 8), None, chloe_cur, "9000.00", "Salary Moreau Conseil", "salary")
        bank.txn(f"chloe-cash-{i}", at(m, 8), chloe_cur, None, "6000.00", "Cash withdrawal", "withdrawal")
        bank.txn(f"chloe-loan-{i}", at(m, 20), chloe_cur, None, "700.00", "Loan repayment", "loan_payment")
        bank.txn(f"didier-salary-{i}", at(m, 1, 11), None, didier_cur, "1500.00", "Salary Lefèvre SARL", "salary")
        bank.txn(f"didier-card-{i}", at(m, 18), didier_cur, None, "1900.00", "Electronics", "card_payment")
        if i >= 2:
            bank.txn(f"emma-deposit-{i}", at(m, 15), None, emma_cur, "300.00", "Cash deposit", "deposit")
            bank.txn(f"emma-card-{i}", at(m, 16), emma_cur, None, "80.25", "Bookshop", "card_payment")
    if len(months) >= 4:
        bank.txn(
            LATE_BOOKING, late_booking_made(months), bruno_cur, None, str(LATE_AMOUNT), "Concert tickets",
            "card_payment", booked=late_booking_booked(months),
        )  # fmt: skip

    bank.loans.append(
        {
            "product_id": uid("chloe-loan"),
            "customer_id": chloe,
            "amount": D("60000.00"),
            "interest_rate": D("0.036"),
            "start_date": m0,
            "end_date": None,
        }
    )
    bank.investments.append(
        {
            "product_id": uid("alice-life"),
            "customer_id": alice,
            "amount": D("30000.00"),
            "product_name": "life insurance",
            "start_date": m0.replace(day=3),
            "end_date": None,
        }
    )
    bank.cards.append(
        {
            "product_id": uid("alice-card"),
            "customer_id": alice,
            "amount": D("2000.00"),
            "fee": D("9.90"),
            "start_date": m0.replace(day=3),
            "end_date": None,
        }
    )
    bank.cards.append(
        {
            "product_id": uid("didier-card"),
            "customer_id": didier,
            "amount": D("1000.00"),
            "fee": D("4.90"),
            "start_date": m0.replace(day=6),
            "end_date": month_end(months[1]),
        }
    )
    return bank


def bulk_bank(customer_count: int, months: list[dt.date] | None = None) -> Bank:
    """Many customers, about 15 completed transactions each per month: for export throughput."""
    bank = small_bank(months)  # keeps every mart non-empty (products, action lists)
    months = bank.months
    advisor = bank.advisor("bulk-advisor", "Bulk", "Advisor", "Nantes")
    for c in range(customer_count):
        customer = bank.customer(f"bulk-{c}", f"First{c}", f"Last{c}", "bronze", advisor, months[0])
        account = bank.account(f"bulk-{c}-cur", customer, "normal", months[0])
        for i, m in enumerate(months):
            bank.txn(f"bulk-{c}-{i}-salary", at(m, 1), None, account, "2500.00", "Salary", "salary")
            for k in range(14):
                bank.txn(
                    f"bulk-{c}-{i}-{k}",
                    at(m, 2 + k),
                    account,
                    None,
                    f"{10 + k}.{c % 100:02d}",
                    f"Card payment shop {k}",
                    "card_payment",
                )
    return bank


# column types as dbt on DuckDB would produce them (money as DECIMAL(18,2), ids as text)
_TYPES = {
    "amount": "decimal(18,2)",
    "opening_balance": "decimal(18,2)",
    "total_credits": "decimal(18,2)",
    "total_debits": "decimal(18,2)",
    "closing_balance": "decimal(18,2)",
    "running_balance": "decimal(18,2)",
    "month_end_balance": "decimal(18,2)",
    "withdrawals": "decimal(18,2)",
    "loans_outstanding": "decimal(18,2)",
    "investments_held": "decimal(18,2)",
    "revenue": "decimal(18,2)",
    "interest_income": "decimal(18,2)",
    "card_fee_income": "decimal(18,2)",
    "transaction_amount": "decimal(18,2)",
    "revenue_growth_pct": "double",
    "transaction_count_growth_pct": "double",
    "new_customers_growth_pct": "double",
    "transaction_count": "bigint",
    "new_customers": "bigint",
    "customer_count": "bigint",
    "months_in_red": "bigint",
    "high_withdrawals_months": "bigint",
    "high_loans_months": "bigint",
    "high_investments_months": "bigint",
    "transaction_date": "timestamptz",
    "booked_at": "timestamptz",
    "end_date": "date",
    "sender_account_id": "varchar",
    "receiver_account_id": "varchar",
    # customer_risk_score (and advisor_value_actions), as dbt types them
    "score": "integer",
    "red_points": "decimal(5,2)",
    "overdraft_points": "decimal(5,2)",
    "spending_points": "decimal(5,2)",
    "debt_points": "decimal(5,2)",
    "months_observed": "integer",
    "lowest_balance": "decimal(18,2)",
    "inflows": "decimal(18,2)",
    "outflows": "decimal(18,2)",
}


_TYPES.update(
    {
        name: "decimal(18,2)"
        for name in (
            "deposit_margin", "overdraft_interest", "loan_margin", "card_income", "investment_fees",
            "cost_to_serve", "contribution", "contribution_12m",
        )
    }
)  # fmt: skip


def value_marts(bank: Bank, tables: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """fct_customer_value and value_tier_migrations of `bank` (the Customer value page's marts), from
    the independent computation (advisor_value_actions follows, from compute_value_action_marts);
    stand-in rows, actions included, while it does not exist."""
    import helpers.independent_marts as independent

    compute = getattr(independent, "compute_value_marts", None)
    if compute is not None:
        return compute(bank, tables)
    return _minimal_value_marts(bank, tables)


def _minimal_value_marts(bank: Bank, tables: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Stand-in rows until the independent computation exists: the drivers from the month-end
    balances, products and statement lines at fixed rates, the tiers of dbt's defaults."""
    cents = D("0.01")
    rates = {"deposit": D("0.02"), "overdraft": D("0.16"), "loan": D("0.011"), "invest": D("0.0075")}
    tiers = [("Top", D("2000")), ("High", D("500")), ("Core", D("100")), ("Low", D("0"))]
    accounts = {a["account_id"]: a for a in bank.accounts}
    statements = defaultdict(list)
    for row in tables["fct_monthly_statement"]:
        statements[(row["customer_id"], row["month_start"])].append(row)
    lines = defaultdict(list)
    for line in tables["fct_statement_line"]:
        lines[(accounts[line["account_id"]]["customer_id"], line["month_start"])].append(line)
    customers = {c["customer_id"]: c for c in bank.customers}
    value, history = [], defaultdict(list)
    for row in sorted(tables["fct_customer_month"], key=lambda r: (r["customer_id"], r["month_start"])):
        cid, m = row["customer_id"], row["month_start"]
        closing = [s["closing_balance"] for s in statements[(cid, m)]]
        sides = lines[(cid, m)]
        card_payments = sum(
            (li["amount"] for li in sides if li["category"] == "card_payment" and li["direction"] == "debit"), D(0)
        )
        fees = sum(
            (
                c["fee"]
                for c in bank.cards
                if c["customer_id"] == cid
                and c["start_date"] <= month_end(m)
                and (c["end_date"] is None or c["end_date"] >= m)
            ),
            D(0),
        )
        parts = {
            "deposit_margin": (sum((b for b in closing if b > 0), D(0)) * rates["deposit"] / 12).quantize(cents),
            "overdraft_interest": (-sum((b for b in closing if b < 0), D(0)) * rates["overdraft"] / 12).quantize(cents),
            "loan_margin": (row["loans_outstanding"] * rates["loan"] / 12).quantize(cents),
            "card_income": (fees + card_payments * D("0.003")).quantize(cents),
            "investment_fees": (row["investments_held"] * rates["invest"] / 12).quantize(cents),
            "cost_to_serve": (
                len(closing) * D("2.5")
                + len(sides) * D("0.05")
                + sum(1 for li in sides if li["category"] == "withdrawal" and li["direction"] == "debit") * D("0.5")
            ).quantize(cents),
        }
        contribution = sum(v for k, v in parts.items() if k != "cost_to_serve") - parts["cost_to_serve"]
        history[cid].append(contribution)
        total = sum(history[cid][-12:], D(0))
        tier = next((label for label, floor in tiers if total >= floor), "Negative")
        main = max(parts, key=lambda k: abs(parts[k])).replace("_", " ")
        value.append(
            {
                "customer_id": cid, "month_start": m, "advisor_id": row["advisor_id"],
                "profile": customers[cid]["profile"], **parts, "contribution": contribution,
                "contribution_12m": total, "value_tier": tier, "main_driver": main, "definition_version": "fixture",
            }
        )  # fmt: skip
    tier_of = {(r["customer_id"], r["month_start"]): r["value_tier"] for r in value}
    moves = Counter()
    for m in bank.months:
        before = add_months(m, -1)
        now = {cid for (cid, month) in tier_of if month == m}
        then = {cid for (cid, month) in tier_of if month == before}
        for cid in now | then:
            moves[(m, tier_of.get((cid, before)), tier_of.get((cid, m)))] += 1
    migrations = [
        {"month_start": m, "from_tier": a, "to_tier": b, "customer_count": n}
        for (m, a, b), n in sorted(moves.items(), key=str)
    ]
    actions = []
    for r in value:
        before = tier_of.get((r["customer_id"], add_months(r["month_start"], -1)))
        rule = None
        if r["value_tier"] in ("High", "Top") and r["profile"] == "Bronze":
            rule = ("offer_upgrade", f"value tier {r['value_tier']} above the assigned profile Bronze")
        elif r["value_tier"] == "Negative" and before != "Negative":
            rule = ("newly_negative", "contribution over 12 months fell below zero")
        if rule:
            actions.append(
                {"month_start": r["month_start"], "customer_id": r["customer_id"], "advisor_id": r["advisor_id"],
                 "value_tier": r["value_tier"], "profile": r["profile"], "action": rule[0], "reason": rule[1]}
            )  # fmt: skip
    return {"fct_customer_value": value, "value_tier_migrations": migrations, "advisor_value_actions": actions}


def write_marts(path: Path, bank: Bank) -> Path:
    """Create `path`, or rebuild its `marts` schema, with the bank's marts; other schemas (the issued
    statements in `delivery`) stay, as in the warehouse when dbt rebuilds the marts."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tables = compute_marts(bank)
    tables.update(value_marts(bank, tables))
    # the risk score and the advisor's value actions (from the customer value rows above)
    tables |= compute_value_action_marts(tables)
    with duckdb.connect(str(path)) as con:
        con.execute("set TimeZone = 'UTC'")
        con.execute("drop schema if exists marts cascade")
        con.execute("create schema marts")
        for name, rows in tables.items():
            columns = list(rows[0]) if rows else []
            if not rows:
                raise AssertionError(f"fixture table {name} is empty")
            arrow = pa.Table.from_pylist(
                [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in row.items()} for row in rows]
            )
            select = ", ".join(f"cast({col} as {_TYPES[col]}) as {col}" if col in _TYPES else col for col in columns)
            con.register("rows_in", arrow)
            con.execute(f"create table marts.{name} as select {select} from rows_in")
            con.unregister("rows_in")
    return path


# -- a FINEFINANCE_HOME for the delivery tests ----------------------------------------------------


@dataclass
class DeliveryHome:
    home: Path
    bank: Bank

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def months(self) -> list[dt.date]:
        return self.bank.months

    def env(self, **extra: str) -> dict[str, str]:
        """Environment variables that point the platform at this home (the warehouse named too: a
        path another test left in the environment must not win over the home)."""
        return {"FINEFINANCE_HOME": str(self.home), "FINEFINANCE_DUCKDB_PATH": str(self.warehouse), **extra}

    def customer_id(self, key: str) -> str:
        return uid(key)

    def settings(self):
        from finefinance_platform.settings import load_settings

        return load_settings({**os.environ, **self.env()})


def signed_in(role: str, key: str | None = None, subject: str | None = None) -> dict:
    """The identity token claims of a signed-in person, as `st.user` holds them (AppTest.user); the
    token lives an hour, as the provider's do (the dashboards end a session without `exp`)."""
    now = int(time.time())
    claims = {"is_logged_in": True, "sub": subject or f"{role}-{key or 'demo'}", "name": key or role, "role": role}
    claims.update(iat=now, exp=now + 3600)
    if role in ("customer", "advisor") and key:
        claims[f"{role}_id"] = uid(key)
    return claims


@contextmanager
def identity_provider(home: DeliveryHome) -> Iterator:
    """The embedded identity provider of `home`, running with its demo users; stopped after."""
    from finefinance_platform.identity.cli import ensure_identity
    from finefinance_platform.identity.provider import EmbeddedIdentityProvider

    settings = home.settings()
    ensure_identity(settings)
    provider = EmbeddedIdentityProvider(settings)
    try:
        yield provider
    finally:
        provider.stop()


def provider_processes(state_dir: Path) -> list[int]:
    """The identity provider processes serving the home whose provider state is in `state_dir`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"finefinance_platform.identity.server" in cmdline and str(state_dir).encode() in cmdline:
            found.append(int(entry.name))
    return found


def issue_time(month: dt.date) -> dt.datetime:
    """When the fixture issues a month's statements: the 1st of the next month, 03:00 UTC (the close)."""
    return dt.datetime.combine(add_months(month, 1), dt.time(3))


def issue_months(home: DeliveryHome, months: list[dt.date] | None = None, now: dt.datetime | None = None) -> list:
    """Issue the statements of `months` (default: all) in the home's warehouse; their IssueCounts."""
    from finefinance_platform.statements.issuing.issue import issue_month

    with duckdb.connect(str(home.warehouse)) as con:
        return [issue_month(con, month, now or issue_time(month)) for month in months or home.months]


def publish_copy(home: DeliveryHome) -> None:
    """Publish the serving copy the readers (CLI, service, dashboards) use."""
    from finefinance_platform.serving.publish import publish_serving_copy

    publish_serving_copy(home.warehouse, home.settings())


def correct_booking(home: DeliveryHome, key: str, amount: str, now: dt.datetime | None = None) -> list:
    """A correction at the source: transaction `key` gets `amount`. The marts are rebuilt, every month
    is issued again (only a statement that changed gets a new version) and the copy republished."""
    (transaction,) = [t for t in home.bank.transactions if t["transaction_id"] == uid(key)]
    transaction["amount"] = D(amount)
    write_marts(home.warehouse, home.bank)
    counts = issue_months(home, now=now or dt.datetime.now(dt.UTC).replace(tzinfo=None))
    publish_copy(home)
    return counts


def make_delivery_home(root: Path, bank: Bank | None = None, publish: bool = True, issue: bool = True) -> DeliveryHome:
    """A home with the small bank's marts in its warehouse, every month's statements issued and,
    unless told, a published serving copy."""
    home = DeliveryHome(Path(root), bank or small_bank())
    write_marts(home.warehouse, home.bank)
    if issue:
        issue_months(home)
    if publish:
        publish_copy(home)
    return home


def customer_token(provider, key: str) -> str:
    """A real access token of the embedded provider for a small-bank customer (password grant)."""
    from finefinance_platform.identity.provider import DemoUser, customer_username

    user = DemoUser(customer_username(uid(key)), "customer", uid(key), key.title())
    provider.ensure_users([user])
    return provider.password_token(user.username)["access_token"]


def token_signed_by_provider(provider, *, key: dict | None = None, **claims) -> str:
    """A token signed with the provider's own key (or `key`): for claims the provider would not
    issue on request (expired, another issuer, an injected customer id). Defaults to a valid token."""
    import jwt

    now = int(dt.datetime.now(dt.UTC).timestamp())
    jwk = key or provider.state()["jwk"]
    payload = {
        "iss": provider.issuer(),
        "aud": [provider.settings.identity.api_audience],
        "sub": "forged-subject",
        "iat": now,
        "exp": now + 300,
        "role": "customer",
        "customer_id": uid("alice"),
        **claims,
    }
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, jwt.PyJWK(jwk).key, algorithm="RS256", headers={"kid": jwk["kid"]})


@contextmanager
def serve_statements(home: DeliveryHome) -> Iterator[str]:
    """`finefinance serve` on a free loopback port for `home`; yields its base URL, stops it after."""
    import os
    import subprocess
    import sys

    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "finefinance"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **home.env()}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/health", process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process, timeout: float = 60.0) -> None:
    """Poll `url` until it answers; fail with the server's output if it dies or never answers."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"server exited with {process.returncode} before answering:\n{output}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")
