"""Issue 22, item 7: an access log that can be neither forged nor flooded.

Attacker-chosen text is stored printable and bounded; a flood of anonymous refusals writes a few
rows per client, kind and minute and keeps their count (`count`), down to a clean exit; signed-in
people's rows are all written; on Snowflake (the fakesnow emulator) the log is written through one
session per process. The clock is the module's `_now`, moved by the tests instead of waiting.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import unicodedata

import pytest
import snowflake.connector
from click.testing import CliRunner

from finefinance_platform.access import access_log
from finefinance_platform.access.access_log import COUNTED, LIMITS, MAX_KINDS_PER_CLIENT, read, record
from finefinance_platform.access.policy import Action, Principal, Role
from finefinance_platform.settings import load_settings

ANONYMOUS = Principal.anonymous()
ALICE = Principal("alice-sub", Role.CUSTOMER, customer_id="c-alice")
ATTACKER, OTHER_CLIENT = "203.0.113.7", "198.51.100.9"
NOON = dt.datetime(2030, 1, 7, 12, 0, 5, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOON

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture()
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(access_log, "_now", clock)
    yield clock
    access_log.flush()  # nothing held by one test is written into the next one's log


@pytest.fixture()
def settings(tmp_path):
    return load_settings({"FINEFINANCE_HOME": str(tmp_path / "home")})


def refuse(settings, detail: str, client: str | None = ATTACKER, action: Action = Action.DOWNLOAD_PDF) -> None:
    record(ANONYMOUS, action, "denied", channel="http", detail=detail, client=client, settings=settings)


def kind(row) -> str:
    """A row's category, whether it is a refusal's own row or the count of its kind."""
    return (row.detail or "").removeprefix(COUNTED).split(":")[0]


def refusals(rows) -> int:
    return sum(row.count for row in rows if row.subject is None and row.outcome == "denied")


def unprintable(text: str) -> list[str]:
    return [char for char in text if unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}]


def test_attacker_text_is_stored_printable_and_bounded(settings, clock):
    forged = "invalid token: x\n2030-01-07T12:00:00.000+00:00\tdirector\tdirector\tdownload_pdf\tallowed"
    hostile = forged + "\r\x1b[2J\x1b[31mred\x00\u2028\u202eevil" + "A" * 1_000_000
    record(Principal("bob\nforged-sub\x1b[0m" + "b" * 10_000, Role.CUSTOMER), Action.VIEW_STATEMENT, "denied",
           channel="http", customer_id="' or 1=1 --\n" + "9" * 5_000, detail=hostile, client="10.0.0.1\r\nX: y",
           settings=settings)  # fmt: skip
    refuse(settings, hostile)
    rows = read(settings)
    assert len(rows) == 2
    for row in rows:
        for name, limit in LIMITS.items():
            value = getattr(row, name)
            assert value is None or (len(value) <= limit and not unprintable(value)), (name, value)
    signed_in = next(row for row in rows if row.subject)
    # what was there is still readable, escaped
    assert signed_in.detail.startswith("invalid token: x\\n2030-01-07T12:00:00.000+00:00\\tdirector")
    assert signed_in.detail.endswith("…") and signed_in.subject.startswith("bob\\nforged-sub\\x1b[0m")
    assert signed_in.client == "10.0.0.1\\r\\nX: y"

    # `finefinance access-log` prints one line per row, each of as many columns as the header
    result = CliRunner().invoke(access_log_command(), ["--limit", "10"], env={"FINEFINANCE_HOME": str(settings.home)})
    assert result.exit_code == 0, result.output
    header, *lines = result.output.splitlines()[1:]
    assert len(lines) == 2
    assert all(len(line.split("\t")) == len(header.split("\t")) == len(access_log.COLUMNS) for line in lines)


def access_log_command():
    from finefinance_platform.access.cli import access_log as command

    return command


def test_a_thousand_anonymous_refusals_write_a_few_rows_and_keep_their_count(settings, clock):
    for number in range(1_000):
        clock.now = NOON + dt.timedelta(milliseconds=50 * number)  # all within 12:00
        # distinct attacker text each time: one kind still (the text before the colon)
        refuse(settings, f"invalid token: forged {number}\n")
    rows = read(settings)
    assert len(rows) == 1 and rows[0].count == 1 and rows[0].client == ATTACKER
    assert rows[0].detail == "invalid token: forged 0\\n"

    # the minute is over: the next record, whoever's, writes the count of the 999 others first
    clock.now = NOON + dt.timedelta(minutes=1)
    record(ALICE, Action.LIST_STATEMENTS, "allowed", channel="http", settings=settings)
    rows = list(reversed(read(settings)))
    assert [(row.subject, row.detail, row.count) for row in rows] == [
        (None, "invalid token: forged 0\\n", 1),
        (None, f"{COUNTED}invalid token", 999),
        ("alice-sub", None, 1),
    ]
    assert rows[1].accessed_at.startswith("2030-01-07T12:00:54") and rows[1].action == "download_pdf"
    assert refusals(rows) == 1_000


def test_clients_and_kinds_are_counted_apart(settings, clock):
    for _ in range(10):
        for client in (ATTACKER, OTHER_CLIENT, None):  # None: no network address (the dashboards)
            refuse(settings, "no bearer token", client)
            refuse(settings, "invalid token: Signature verification failed", client)
            refuse(settings, "no bearer token", client, action=Action.LIST_STATEMENTS)
    assert len(read(settings)) == 9  # the first of each client and kind
    # a client that makes up a new category each time gets a bounded number of rows
    for number in range(500):
        refuse(settings, f"made-up {number}: text", "192.0.2.66")
    assert len(read(settings)) == 9 + MAX_KINDS_PER_CLIENT + 1

    access_log.flush()
    rows = read(settings)
    by_kind: dict[tuple, int] = {}
    for row in rows:
        by_kind[(row.client, row.action, kind(row))] = by_kind.get((row.client, row.action, kind(row)), 0) + row.count
    for client in (ATTACKER, OTHER_CLIENT, None):
        assert by_kind[(client, "download_pdf", "no bearer token")] == 10
        assert by_kind[(client, "download_pdf", "invalid token")] == 10
        assert by_kind[(client, "list_statements", "no bearer token")] == 10
    assert refusals(row for row in rows if row.client == "192.0.2.66") == 500
    assert len(rows) <= 2 * 9 + MAX_KINDS_PER_CLIENT + 2


def test_a_new_minute_writes_the_first_refusal_again(settings, clock):
    for minute in range(3):
        clock.now = NOON + dt.timedelta(minutes=minute)
        for _ in range(5):
            refuse(settings, "no bearer token")
    access_log.flush()
    rows = list(reversed(read(settings)))
    assert [(row.accessed_at[11:16], row.count) for row in rows] == [
        ("12:00", 1), ("12:00", 4), ("12:01", 1), ("12:01", 4), ("12:02", 1), ("12:02", 4),
    ]  # fmt: skip


def test_signed_in_rows_are_all_written_through_a_flood(settings, clock):
    advisor = Principal("claire-sub", Role.ADVISOR, advisor_id="a-claire")
    for number in range(100):
        refuse(settings, "no bearer token")
        record(ALICE, Action.DOWNLOAD_PDF, "allowed", channel="http", client=OTHER_CLIENT, settings=settings,
               month_start=dt.date(2029, 12, 1), detail=f"version {number}")  # fmt: skip
        record(advisor, Action.VIEW_STATEMENT, "denied", channel="http", customer_id="c-alice",
               client=OTHER_CLIENT, settings=settings, detail="not their customer")  # fmt: skip
    rows = [row for row in reversed(read(settings)) if row.subject is not None]
    assert len(rows) == 200
    assert [row.detail for row in rows if row.outcome == "allowed"] == [f"version {n}" for n in range(100)]
    assert all(row.count == 1 and row.client == OTHER_CLIENT for row in rows)


def test_a_clean_exit_writes_the_counts_held(tmp_path):
    home = tmp_path / "home"
    script = textwrap.dedent(
        """
        from finefinance_platform.access.access_log import record
        from finefinance_platform.access.policy import Action, Principal
        from finefinance_platform.settings import get_settings

        settings = get_settings()
        for number in range(500):
            record(Principal.anonymous(), Action.REQUEST, "denied", channel="http",
                   detail=f"no such resource: /probe/{number}", client="203.0.113.7", settings=settings)
        """
    )
    env = {**os.environ, "FINEFINANCE_HOME": str(home)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    rows = read(load_settings({"FINEFINANCE_HOME": str(home)}))
    assert 2 <= len(rows) <= 4  # 4 if a minute ended during the run
    assert refusals(rows) == 500


def test_an_existing_log_file_gains_the_new_columns(settings, clock):
    import sqlite3

    path = access_log.log_path(settings)
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as con:
        con.execute(
            "create table access_log (accessed_at text not null, subject text, role text, action text not null,"
            " customer_id text, month_start text, outcome text not null, channel text not null, detail text)"
        )
        con.execute("insert into access_log values ('2029-01-01T00:00:00.000+00:00', 'old', null, 'request', null,"
                    " null, 'denied', 'cli', null)")  # fmt: skip
    record(ALICE, Action.LIST_STATEMENTS, "allowed", channel="http", client=ATTACKER, settings=settings)
    rows = read(settings)
    assert [(row.subject, row.client, row.count) for row in rows] == [("alice-sub", ATTACKER, 1), ("old", None, 1)]


# -- Snowflake (the fakesnow emulator) ---------------------------------------------------------------------------

DATABASE = "ACCESS_LOG_TEST"
OLD_TABLE = f"""create table {DATABASE}.audit.access_log (
    accessed_at timestamp_ntz not null, subject varchar, role varchar, action varchar not null, customer_id varchar,
    month_start date, outcome varchar not null, channel varchar not null, detail varchar)"""


@pytest.fixture()
def snowflake_settings(tmp_path):
    """The emulator, with the access log as it was before `client` and `count`, then `snowflake setup`'s
    statements for it (which add them)."""
    from test_production_snowflake_setup import FAKESNOW_SKIPS, start_fakesnow_server, write_key_pair

    from finefinance_platform.production.snowflake_setup import render_setup

    keys = {identity: write_key_pair(tmp_path, identity) for identity in ("ingest", "transform", "reporting")}
    with start_fakesnow_server() as emulator:
        env = {
            "FINEFINANCE_HOME": str(tmp_path / "home"),
            "FINEFINANCE_WAREHOUSE": "snowflake",
            "FINEFINANCE_SNOWFLAKE_ACCOUNT": "fakesnow",
            "FINEFINANCE_SNOWFLAKE_DATABASE": DATABASE,
            "FINEFINANCE_SNOWFLAKE_HOST": "127.0.0.1",
            "FINEFINANCE_SNOWFLAKE_PORT": str(emulator["port"]),
            "FINEFINANCE_SNOWFLAKE_PROTOCOL": "http",
            "FINEFINANCE_SNOWFLAKE_PRIVATE_KEY_PATH": keys["transform"][0],
            "FINEFINANCE_SNOWFLAKE_REPORTING_PRIVATE_KEY_PATH": keys["reporting"][0],
            **{f"FINEFINANCE_SNOWFLAKE_{name.upper()}_PUBLIC_KEY_PATH": keys[name][1] for name in keys},
        }
        settings = load_settings(env)
        (database_sql,) = [f for f in render_setup(settings) if f.path.name == "010_database.sql"]
        admin = snowflake.connector.connect(
            **{key: value for key, value in emulator.items() if key != "session_parameters"},
            session_parameters={**emulator.get("session_parameters", {}), "nop_regexes": FAKESNOW_SKIPS},
        )
        try:
            cursor = admin.cursor()
            cursor.execute(f"create database {DATABASE}")
            cursor.execute(f"create schema {DATABASE}.audit")
            cursor.execute(OLD_TABLE)
            for statement in database_sql.statements:
                cursor.execute(statement)
        finally:
            admin.close()
        try:
            yield settings
        finally:
            access_log.flush()
            access_log._snowflake.close()


def test_on_snowflake_rows_share_one_session_per_process(snowflake_settings, clock, monkeypatch):
    from finefinance_platform.production import snowflake as production_snowflake

    opened = []
    open_session = production_snowflake.open_session

    def counted_open_session(settings, identity):
        opened.append(identity)
        return open_session(settings, identity)

    monkeypatch.setattr(production_snowflake, "open_session", counted_open_session)
    for number in range(10):
        clock.now = NOON + dt.timedelta(seconds=number)
        record(ALICE, Action.DOWNLOAD_CSV, "allowed", channel="http", client=OTHER_CLIENT,
               month_start=dt.date(2029, 12, 1), detail=f"version {number}", settings=snowflake_settings)  # fmt: skip
        refuse(snowflake_settings, "no bearer token\nforged")
    assert opened == ["reporting"]

    # a session that broke (expired, network) is replaced, and the row is written
    # this log's session (another test of this worker may have left one of its own emulator's)
    session = access_log._snowflake.sessions[access_log._destination(snowflake_settings)]

    def expired(*args):
        raise snowflake.connector.errors.ProgrammingError("Authentication token has expired", errno=390114)

    monkeypatch.setattr(session, "execute", expired)
    clock.now = NOON + dt.timedelta(seconds=20)
    record(ALICE, Action.LIST_STATEMENTS, "allowed", channel="http", settings=snowflake_settings)
    assert opened == ["reporting"] * 2

    clock.now = NOON + dt.timedelta(minutes=1)
    record(ALICE, Action.LIST_STATEMENTS, "allowed", channel="http", settings=snowflake_settings)
    assert opened == ["reporting"] * 2
    rows = list(reversed(read(snowflake_settings)))  # read as the transformation identity
    assert len(rows) == 10 + 1 + 1 + 1 + 1
    assert sum(row.count for row in rows if row.subject is None) == 10
    first = next(row for row in rows if row.subject is None)
    assert (first.detail, first.client, first.count) == ("no bearer token\\nforged", ATTACKER, 1)
    assert [row.detail for row in rows if row.subject][:2] == ["version 0", "version 1"]
