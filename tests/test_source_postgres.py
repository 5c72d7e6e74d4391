from contextlib import closing

import psycopg2
import pytest

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
