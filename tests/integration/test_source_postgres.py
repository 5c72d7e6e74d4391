from contextlib import closing
from decimal import Decimal

import psycopg2
import psycopg2.errors
import pytest
from helpers.environment import create_source_database

from finefinance_platform.settings import get_settings, load_settings
from finefinance_platform.source.embedded_postgres import EmbeddedPostgres, SourceError
from finefinance_platform.source.migrations import applied_versions, apply_migrations, discover


def test_ddl_applies_twice_cleanly(source_dsn):
    settings = get_settings()
    # the fixture applied everything once; a second run applies nothing and changes nothing
    assert apply_migrations(source_dsn, settings.source_reader_password) == []
    assert applied_versions(source_dsn) == [m.version for m in discover()]
    with closing(psycopg2.connect(source_dsn)) as conn, conn.cursor() as cur:
        cur.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in ('crm', 'banking', 'product') order by 1"
        )
        tables = [row[0] for row in cur.fetchall()]
    assert tables == [
        "banking.account",
        "banking.balance",
        "banking.transaction",
        "crm.advisor",
        "crm.customer",
        "product.credit_card",
        "product.investment",
        "product.loan",
    ]


def test_existing_database_is_upgraded_not_recreated(source_dsn, tmp_path):
    with closing(psycopg2.connect(source_dsn)) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into crm.advisor (advisor_id, firstname, surname, city, created_at) "
            "values (gen_random_uuid(), 'Ada', 'Lovelace', 'Lyon', '2024-01-01')"
        )
        conn.commit()
    extra = tmp_path / "ddl"
    extra.mkdir()
    for migration in discover():
        (extra / migration.path.name).write_text(migration.path.read_text())
    (extra / "099_add_column.sql").write_text("alter table crm.advisor add column phone text;")
    assert apply_migrations(source_dsn, ddl_dir=extra) == ["099_add_column.sql"]
    with closing(psycopg2.connect(source_dsn)) as conn, conn.cursor() as cur:
        cur.execute("select count(*), count(phone) from crm.advisor")
        assert cur.fetchone() == (1, 0)


def test_booking_date_migration_fills_existing_rows_and_restates_balances(embedded_postgres, tmp_path):
    """A source from before 003: completed rows get booked_at by the documented rule, balances follow booking."""
    before = tmp_path / "ddl"
    before.mkdir()
    for migration in discover():
        if migration.version < "003":
            (before / migration.path.name).write_text(migration.path.read_text())
    dsn = create_source_database("pre003")
    assert apply_migrations(dsn, ddl_dir=before) == ["001_operational_schema.sql", "002_ingestion_role.sql"]
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute("""
            insert into crm.advisor values ('00000000-0000-4000-8000-000000000001', 'Ada', 'Lovelace', 'Lyon',
                                            '2024-01-01');
            insert into crm.customer values ('00000000-0000-4000-8000-000000000002', 'Bo', 'Diallo', 'b@x.io',
                '2024-12-01', 'bronze', '00000000-0000-4000-8000-000000000001', '2024-12-01');
            insert into banking.account (account_id, customer_id, account_type, currency, open_date, updated_at)
            values ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-000000000002', 'normal',
                    'EUR', '2024-12-01', '2024-12-01');
            insert into banking.transaction (transaction_id, sender_account_id, receiver_account_id, counterparty,
                transaction_date, amount, category, status, created_at, updated_at) values
              -- made and completed at once
              ('00000000-0000-4000-8000-0000000000b1', null, '00000000-0000-4000-8000-00000000000a', 'Employer',
               '2025-01-10 09:00+00', 1000.00, 'salary', 'completed', '2025-01-10 09:00+00', '2025-01-10 09:00+00'),
              -- made on 30 January, completed on 2 February
              ('00000000-0000-4000-8000-0000000000b2', '00000000-0000-4000-8000-00000000000a', null, 'Shop',
               '2025-01-30 18:00+00', 40.00, 'card_payment', 'completed', '2025-01-30 18:00+00',
               '2025-02-02 08:00+00'),
              ('00000000-0000-4000-8000-0000000000b3', '00000000-0000-4000-8000-00000000000a', null, 'Shop',
               '2025-02-27 18:00+00', 15.00, 'card_payment', 'pending', '2025-02-27 18:00+00',
               '2025-02-27 18:00+00');
            -- written by transaction date, as before the booking date existed
            insert into banking.balance (account_id, balance_date, balance, updated_at) values
              ('00000000-0000-4000-8000-00000000000a', '2024-12-01', 0, '2024-12-01'),
              ('00000000-0000-4000-8000-00000000000a', '2025-01-31', 960.00, '2025-02-01'),
              ('00000000-0000-4000-8000-00000000000a', '2025-02-28', 960.00, '2025-03-01');
        """)
        conn.commit()

    assert apply_migrations(dsn) == ["003_transaction_booked_at.sql"]
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute("set timezone = 'UTC'")
        cur.execute("select right(transaction_id::text, 2), booked_at::text, updated_at > '2026-01-01'"
                    " from banking.transaction order by 1")  # fmt: skip
        assert cur.fetchall() == [
            ("b1", "2025-01-10 09:00:00+00", True),
            ("b2", "2025-02-02 08:00:00+00", True),  # greatest(transaction_date, updated_at)
            ("b3", None, False),  # pending: not booked, untouched
        ]
        cur.execute("select balance_date::text, balance, updated_at > '2026-01-01' from banking.balance order by 1")
        # January's month end no longer holds the payment booked in February; February's already did
        assert cur.fetchall() == [
            ("2024-12-01", Decimal("0.00"), False),
            ("2025-01-31", Decimal("1000.00"), True),
            ("2025-02-28", Decimal("960.00"), False),
        ]
        # the rule is now the source's own: a completed row without a booking date is refused
        with pytest.raises(psycopg2.errors.CheckViolation, match="transaction_booked_when_completed"):
            cur.execute(
                "update banking.transaction set status = 'completed' where right(transaction_id::text, 2) = 'b3'"
            )


def test_ingestion_role_cannot_write(source_dsn):
    reader_dsn = source_dsn.replace("postgres:", "finefinance_reader:", 1).replace(
        get_settings().source_superuser_password, get_settings().source_reader_password
    )
    with closing(psycopg2.connect(reader_dsn)) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from banking.transaction")
        assert cur.fetchone() == (0,)
        conn.rollback()
        conn.autocommit = True
        # even with the read-only default switched off, the role has no write privilege
        cur.execute("set default_transaction_read_only = off")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(
                "insert into crm.advisor (advisor_id, firstname, surname, created_at) "
                "values (gen_random_uuid(), 'x', 'y', current_date)"
            )


def test_start_is_idempotent_and_status_says_where(embedded_postgres):
    first = embedded_postgres.status()
    again = embedded_postgres.start()
    assert first.running and again.running
    assert again.pid == first.pid and again.port == first.port
    assert f"127.0.0.1:{first.port}" in again.describe()


def test_configured_port_in_use_is_a_clear_error(embedded_postgres, tmp_path):
    busy_port = embedded_postgres.status().port
    settings = load_settings({"FINEFINANCE_HOME": str(tmp_path), "FINEFINANCE_SOURCE_PORT": str(busy_port)})
    with pytest.raises(SourceError, match=f"port {busy_port}.*in use"):
        EmbeddedPostgres(settings).start()


def test_stale_pid_file_after_crash_is_handled(tmp_path):
    settings = load_settings({"FINEFINANCE_HOME": str(tmp_path)})
    server = EmbeddedPostgres(settings)
    state = server.start()
    try:
        # simulate a crash: kill the postmaster hard, leaving postmaster.pid behind
        import os
        import signal
        import time

        os.kill(state.pid, signal.SIGKILL)
        for _ in range(50):
            if not server.status().running:
                break
            time.sleep(0.1)
        assert (server.data_dir / "postmaster.pid").exists()
        restarted = server.start()
        assert restarted.running and restarted.pid != state.pid
    finally:
        server.stop()
