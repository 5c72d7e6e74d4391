"""Helpers to run the dbt project on a hand-made DuckDB warehouse.

- `create_raw_tables(db)` makes the eight `raw.<table>` tables as ingestion leaves them (the source
  columns of the source (sql/postgres/) plus dlt's `_dlt_load_id`, `_dlt_id`; uuids as VARCHAR, timestamptz columns
  as TIMESTAMP WITH TIME ZONE);
- `insert_raw(db, table, rows)` appends rows given as dicts (missing columns get defaults);
- `run_dbt(db, "build", vars=...)` runs the real dbt CLI in a subprocess, as Dagster does;
- `run_dbt_steps([DbtStep(db, ("build", ...), vars), SqlStep(db, sql), CopyStep(a, b), ...])` runs
  several dbt commands, changes and copies of warehouse files in one child process that imports
  dbt and parses the project once (dbt's start-up is most of a small run's time);
- `month_vars(month)` / `build_months(...)` drive the month windows;
- `read_rows(db, sql)` returns a query's rows as dicts, `table_rows(db, table, order_by)` a table's.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb

from finefinance_platform.months import add_months
from finefinance_platform.settings import DBT_PROJECT_DIR, child_environment
from finefinance_platform.transformation.dbt_process import DBT_COMMAND

# column -> DuckDB type, in source order; every raw table also has _dlt_load_id and _dlt_id
RAW_TABLES: dict[str, dict[str, str]] = {
    "advisor": {
        "advisor_id": "varchar",
        "firstname": "varchar",
        "surname": "varchar",
        "city": "varchar",
        "created_at": "date",
        "updated_at": "timestamptz",
    },
    "customer": {
        "customer_id": "varchar",
        "firstname": "varchar",
        "surname": "varchar",
        "email": "varchar",
        "signup_date": "date",
        "profile_level": "varchar",
        "advisor_id": "varchar",
        "updated_at": "timestamptz",
    },
    "account": {
        "account_id": "varchar",
        "customer_id": "varchar",
        "account_type": "varchar",
        "currency": "varchar",
        "open_date": "date",
        "closed_date": "date",
        "updated_at": "timestamptz",
    },
    "transaction": {
        "transaction_id": "varchar",
        "sender_account_id": "varchar",
        "receiver_account_id": "varchar",
        "counterparty": "varchar",
        "transaction_date": "timestamptz",
        "amount": "decimal(12, 2)",
        "currency": "varchar",
        "description": "varchar",
        "category": "varchar",
        "status": "varchar",
        "booked_at": "timestamptz",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
    },
    "balance": {
        "account_id": "varchar",
        "balance_date": "date",
        "balance": "decimal(14, 2)",
        "currency": "varchar",
        "updated_at": "timestamptz",
    },
    "loan": {
        "loan_id": "varchar",
        "customer_id": "varchar",
        "amount": "decimal(12, 2)",
        "interest_rate": "decimal(6, 5)",
        "start_date": "date",
        "end_date": "date",
        "status": "varchar",
        "updated_at": "timestamptz",
    },
    "investment": {
        "investment_id": "varchar",
        "customer_id": "varchar",
        "product_name": "varchar",
        "amount": "decimal(14, 2)",
        "opened_at": "date",
        "closed_at": "date",
        "status": "varchar",
        "updated_at": "timestamptz",
    },
    "credit_card": {
        "card_id": "varchar",
        "customer_id": "varchar",
        "amount_limit": "decimal(12, 2)",
        "fee": "decimal(8, 2)",
        "start_date": "date",
        "end_date": "date",
        "status": "varchar",
        "updated_at": "timestamptz",
    },
}

# what a row gets when the test does not say (the source's own defaults, or a fixed instant so
# that runs are reproducible)
DEFAULT_UPDATED_AT = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
COLUMN_DEFAULTS = {"currency": "EUR", "updated_at": DEFAULT_UPDATED_AT, "created_at": DEFAULT_UPDATED_AT}
_load_ids = itertools.count(1)


def create_raw_tables(db: Path) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute("create schema if not exists raw")
        for table, columns in RAW_TABLES.items():
            column_sql = ", ".join(f'"{name}" {type_}' for name, type_ in columns.items())
            con.execute(
                f'create table raw."{table}" ({column_sql}, _dlt_load_id varchar not null, _dlt_id varchar not null)'
            )


def insert_raw(db: Path, table: str, rows: Iterable[Mapping[str, object]]) -> None:
    """Append rows to raw.<table>; an unknown column is an error, a missing one gets its default."""
    columns = RAW_TABLES[table]
    load_id = f"load-{next(_load_ids)}"
    values = []
    for index, row in enumerate(rows):
        unknown = set(row) - set(columns)
        if unknown:
            raise KeyError(f"raw.{table} has no column(s) {sorted(unknown)} (row {dict(row)})")
        values.append([row.get(name, COLUMN_DEFAULTS.get(name)) for name in columns] + [load_id, f"{load_id}-{index}"])
    if not values:
        return
    names = ", ".join(f'"{name}"' for name in columns) + ", _dlt_load_id, _dlt_id"
    placeholders = ", ".join("?" for _ in range(len(columns) + 2))
    with duckdb.connect(str(db)) as con:
        con.executemany(f'insert into raw."{table}" ({names}) values ({placeholders})', values)


def execute(db: Path, sql: str, parameters: Sequence[object] = ()) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute(sql, list(parameters))


def month_vars(first: str | dt.date, end: str | dt.date | None = None) -> dict[str, str]:
    """dbt vars for the window [first, end): one month when end is omitted."""
    start = dt.date.fromisoformat(first) if isinstance(first, str) else first
    stop = (dt.date.fromisoformat(end) if isinstance(end, str) else end) if end else add_months(start, 1)
    return {"month_start": start.isoformat(), "month_end": stop.isoformat()}


def run_dbt(
    db: Path,
    command: str,
    *args: str,
    vars: Mapping[str, object] | None = None,  # noqa: A002 - dbt's own name for them
    work_dir: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run `dbt <command>` on the project against the DuckDB file `db` (a subprocess, like Dagster).

    dbt's target/ and logs/ go to `work_dir` (default: next to `db`), never into the repo, so
    tests running at the same time do not share a manifest.
    """
    work_dir = work_dir or db.parent / "dbt"
    cmd = [
        str(DBT_COMMAND),  # dbt as the runs start it
        command,
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work_dir / "target"),
        "--log-path",
        str(work_dir / "logs"),
    ]
    if vars:
        cmd += ["--vars", json.dumps(dict(vars))]
    env = child_environment({"FINEFINANCE_DUCKDB_PATH": str(db), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=DBT_PROJECT_DIR, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"dbt {command} {' '.join(args)} failed ({vars=}):\n{result.stdout[-8000:]}")
    return result


@dataclass(frozen=True)
class DbtStep:
    """`dbt <args>` with the month `vars`, on the warehouse file `db`."""

    db: Path
    args: tuple[str, ...]
    vars: Mapping[str, object] | None = None


@dataclass(frozen=True)
class SqlStep:
    """A statement run on `db` between dbt steps (e.g. a change in the raw data)."""

    db: Path
    sql: str


@dataclass(frozen=True)
class CopyStep:
    """Copy the warehouse file `source` to `target` (to build it further another way)."""

    source: Path
    target: Path


Step = DbtStep | SqlStep | CopyStep


def run_dbt_steps(steps: Sequence[Step], work_dir: Path) -> None:
    """Run the steps in order in one child process; the first failure stops it and is raised.

    dbt is imported and the project parsed once for all the steps. Every warehouse file must have
    the same file name (dbt names the database after it): put them in different folders.
    """
    names = {path.name for step in steps for path in _paths(step)}
    if len(names) != 1:
        raise ValueError(f"the warehouse files of one batch must share one file name, not {sorted(names)}")
    work_dir.mkdir(parents=True, exist_ok=True)
    plan = work_dir / "steps.json"
    plan.write_text(json.dumps({"work_dir": str(work_dir), "steps": [_encode(step) for step in steps]}))
    env = child_environment({"DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    result = subprocess.run([sys.executable, __file__, str(plan)], capture_output=True, text=True, env=env, timeout=900)
    if result.returncode != 0:
        raise AssertionError(f"dbt steps failed:\n{result.stdout[-8000:]}\n{result.stderr[-4000:]}")


def _paths(step: Step) -> list[Path]:
    return [step.source, step.target] if isinstance(step, CopyStep) else [step.db]


def _encode(step: Step) -> dict:
    if isinstance(step, DbtStep):
        return {"db": str(step.db), "args": list(step.args), "vars": dict(step.vars) if step.vars else None}
    if isinstance(step, SqlStep):
        return {"db": str(step.db), "sql": step.sql}
    return {"copy": [str(step.source), str(step.target)]}


def _run_steps_here(plan_file: Path) -> int:
    """The child of run_dbt_steps: parse once, then every step (dbt's programmatic runner)."""
    import shutil

    from dbt.cli.main import dbtRunner

    plan = json.loads(plan_file.read_text())
    work_dir = Path(plan["work_dir"])
    common = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    common += ["--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs")]
    manifest = None
    for number, step in enumerate(plan["steps"], start=1):
        if "copy" in step:
            source, target = step["copy"]
            # dbt keeps the database open in this process: flush it to the file before copying
            with duckdb.connect(source) as con:
                con.execute("checkpoint")
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
            continue
        if "sql" in step:
            with duckdb.connect(step["db"]) as con:
                con.execute(step["sql"])
            continue
        # profiles.yml reads the warehouse path from the environment at every invocation
        os.environ["FINEFINANCE_DUCKDB_PATH"] = step["db"]
        if manifest is None:
            parsed = dbtRunner().invoke(["parse", "--quiet", *common])
            if not parsed.success:
                print(f"dbt parse failed: {parsed.exception}")
                return 1
            manifest = parsed.result
        args = list(step["args"]) + common
        if step["vars"]:
            args += ["--vars", json.dumps(step["vars"])]
        result = dbtRunner(manifest=manifest).invoke(args)
        if not result.success:
            print(f"step {number} failed: dbt {' '.join(step['args'])} vars={step['vars']} on {step['db']}")
            for node_result in getattr(result.result, "results", None) or []:
                if str(node_result.status) not in ("success", "pass", "warn"):
                    print(f"  {node_result.node.name}: {node_result.status} {node_result.message}")
            if result.exception:
                print(f"  {result.exception}")
            return 1
    return 0


def build_months(db: Path, months: Iterable[str], *args: str, work_dir: Path | None = None) -> None:
    """`dbt build` one month at a time, in order, as the monthly partitions do."""
    for month in months:
        run_dbt(db, "build", *args, vars=month_vars(month), work_dir=work_dir)


def read_rows(db: Path, sql: str, parameters: Sequence[object] = ()) -> list[dict[str, object]]:
    with duckdb.connect(str(db), read_only=True) as con:
        cursor = con.execute(sql, list(parameters))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def table_rows(db: Path, table: str, order_by: str) -> list[dict[str, object]]:
    return read_rows(db, f"select * from {table} order by {order_by}")


def money(value: str | int | float) -> Decimal:
    """A Decimal with cents, for comparing with decimal(18, 2) columns."""
    return Decimal(str(value)).quantize(Decimal("0.01"))


if __name__ == "__main__":
    sys.exit(_run_steps_here(Path(sys.argv[1])))
