"""The serving copy: readers keep reading while it is republished, and never block the writer."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import duckdb
import pytest
from helpers.delivery_fixtures import bulk_bank, make_delivery_home, small_bank, write_marts

from finefinance_platform.serving.marts import MartsUnavailableError, open_marts, published_at, serving_path
from finefinance_platform.serving.publish import publish_serving_copy, published_time, serving_tables
from finefinance_platform.settings import load_settings

SMALL, LARGER = 5, 5 + 30  # customers in small_bank() and in bulk_bank(30), which extends it

READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from finefinance_platform.serving.marts import open_marts
    from finefinance_platform.settings import get_settings
    stop, seen = Path(sys.argv[1]), []
    while not stop.exists():
        with open_marts(get_settings()) as con:
            customers = con.execute("select count(*) from marts.dim_customer").fetchone()[0]
            time.sleep(0.01)  # hold the file open while the writer may be publishing
            lines = con.execute("select count(*) from marts.fct_statement_line").fetchone()[0]
        seen.append([customers, lines])
    print(json.dumps(seen))
    """
)


@pytest.fixture()
def home(tmp_path):
    return make_delivery_home(tmp_path / "home")


def settings_for(home):
    return load_settings(home.env())


def counts(con) -> tuple[int, int]:
    return (
        con.execute("select count(*) from marts.dim_customer").fetchone()[0],
        con.execute("select count(*) from marts.fct_statement_line").fetchone()[0],
    )


def test_copy_has_every_mart_and_when_it_was_published(home):
    settings = settings_for(home)
    path = serving_path(settings)
    assert path == home.home / "serving" / "marts.duckdb"
    with duckdb.connect(str(home.warehouse), read_only=True) as warehouse:
        expected = sorted(
            name
            for (name,) in warehouse.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        )
        warehouse_counts = counts(warehouse)
        issues = warehouse.execute("select * from delivery.statement_issues order by all").fetchall()
    # the fixture's marts: the 14 of the contract's first tables and the 4 customer-value marts
    assert len(expected) == 18 and len(issues) == 4 + 4 + 5 + 5
    assert serving_tables(path) == expected
    with open_marts(settings) as con:
        assert counts(con) == warehouse_counts
        assert published_at(con) is not None
        # the issued statements travel with the marts: readers serve their versions
        assert con.execute("select * from delivery.statement_issues order by all").fetchall() == issues
    assert not list(path.parent.glob(".*tmp*")), "no temporary file left behind"


def test_readers_in_another_process_see_old_or_new_never_half(home, tmp_path):
    settings = settings_for(home)
    larger = write_marts(tmp_path / "larger" / "warehouse.duckdb", bulk_bank(30))
    with duckdb.connect(str(larger), read_only=True) as con:
        larger_counts = counts(con)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        small_counts = counts(con)
    assert (small_counts[0], larger_counts[0]) == (SMALL, LARGER)

    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(stop)], env=home.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        time.sleep(1.5)  # the reader is up and reading
        for round_ in range(10):
            publish_serving_copy(larger if round_ % 2 == 0 else home.warehouse, settings)
            time.sleep(0.1)
        stop.touch()
        out, err = reader.communicate(timeout=60)
    finally:
        reader.kill()
    assert reader.returncode == 0, err
    seen = {tuple(pair) for pair in json.loads(out)}
    # each read is one whole copy: the counts always belong together
    assert seen <= {small_counts, larger_counts}, seen
    assert seen == {small_counts, larger_counts}, "the reader saw the copies change"


def test_an_open_reader_neither_blocks_the_writer_nor_loses_its_copy(home, tmp_path):
    settings = settings_for(home)
    larger = write_marts(tmp_path / "larger" / "warehouse.duckdb", bulk_bank(30))
    with open_marts(settings) as long_reader:
        before = counts(long_reader)
        publish_serving_copy(larger, settings)  # must not fail with a reader open
        publish_serving_copy(larger, settings)
        assert counts(long_reader) == before  # the reader keeps the copy it opened
        with open_marts(settings) as new_reader:
            assert counts(new_reader)[0] == LARGER  # a new reader gets the new one


def test_publish_from_the_pipelines_own_write_connection_while_another_process_reads(home, tmp_path):
    """The pipeline holds the warehouse read-write (the Dagster asset's connection); readers use the copy."""
    settings = settings_for(home)
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(stop)], env=home.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        with duckdb.connect(str(home.warehouse)) as writer:
            time.sleep(1.0)
            writer.execute("delete from marts.dim_customer where firstname = 'Emma'")
            publish_serving_copy(writer, settings)
            time.sleep(0.5)
        stop.touch()
        out, err = reader.communicate(timeout=60)
    finally:
        reader.kill()
    assert reader.returncode == 0, err
    assert {customers for customers, _ in json.loads(out)} == {SMALL, SMALL - 1}


def test_without_a_copy_readers_fall_back_to_the_warehouse_read_only(tmp_path):
    home = make_delivery_home(tmp_path / "home", publish=False)
    settings = settings_for(home)
    with open_marts(settings) as con:
        assert counts(con)[0] == SMALL
        assert published_at(con) is None
        with pytest.raises(duckdb.Error):
            con.execute("delete from marts.dim_customer")  # read-only


def test_warehouse_held_by_a_writer_process_is_a_clear_error(tmp_path):
    home = make_delivery_home(tmp_path / "home", publish=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
         "time.sleep(60)", str(home.warehouse)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(MartsUnavailableError, match="cannot open .*warehouse.duckdb read-only"):
            open_marts(settings_for(home))
    finally:
        holder.kill()
        holder.wait()


def test_nothing_to_read_is_a_clear_error(tmp_path):
    settings = load_settings({"FINEFINANCE_HOME": str(tmp_path / "empty")})
    with pytest.raises(MartsUnavailableError, match="no marts to read: neither the serving copy .* nor the warehouse"):
        open_marts(settings)
    with pytest.raises(MartsUnavailableError, match="no warehouse at"):
        publish_serving_copy(tmp_path / "missing.duckdb", settings)


def test_a_warehouse_without_marts_is_not_published(tmp_path):
    empty = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(empty)) as con:
        con.execute("create schema raw; create table raw.customer as select 1 as id")
    settings = load_settings({"FINEFINANCE_HOME": str(tmp_path)})
    with pytest.raises(MartsUnavailableError, match="no `marts` schema yet"):
        publish_serving_copy(empty, settings)
    assert not serving_path(settings).exists()
    assert not list((tmp_path / "serving").glob("*")), "no temporary file left behind"


def test_small_bank_is_deterministic():
    assert small_bank().transactions == small_bank().transactions


def test_a_republish_copies_what_changed_and_only_the_new_issued_versions(home):
    settings = settings_for(home)
    first = published_time(settings)
    assert first is not None
    with duckdb.connect(str(home.warehouse)) as warehouse:
        # a correction is a new version beside the old one; a mart is rebuilt; another is not
        warehouse.execute(
            "insert into delivery.statement_issues by name select * replace (version + 1 as version, "
            "'a correction' as reason, version as replaces_version) from delivery.statement_issues "
            "where version = 1 order by all limit 1"
        )
        warehouse.execute("delete from marts.fct_statement_line where amount < 0")
        warehouse.execute("update marts.dim_customer set firstname = 'not copied'")
        issues = warehouse.execute("select * from delivery.statement_issues order by all").fetchall()
        lines = warehouse.execute("select count(*) from marts.fct_statement_line").fetchone()[0]
    with open_marts(settings) as con:
        customers = con.execute("select * from marts.dim_customer order by all").fetchall()

    publish_serving_copy(
        home.warehouse, settings, changed_since=first, changed=["marts.fct_statement_line", "delivery.statement_issues"]
    )
    with open_marts(settings) as con:
        assert con.execute("select * from delivery.statement_issues order by all").fetchall() == issues
        assert len(issues) == 4 + 4 + 5 + 5 + 1
        assert con.execute("select count(*) from marts.fct_statement_line").fetchone()[0] == lines
        # not listed as changed: the copy in place kept it
        assert con.execute("select * from marts.dim_customer order by all").fetchall() == customers
    assert published_time(settings) > first
