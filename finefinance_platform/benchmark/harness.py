"""The benchmark run: a throwaway platform, each step in its own process, one JSON of figures.

Layout: `<FINEFINANCE_HOME>/bench/<scale>/` is the benchmark's own FINEFINANCE_HOME (embedded
PostgreSQL on a free port, DuckDB warehouse, Dagster instance, dbt artifacts), emptied first and
removed at the end unless kept; the figures go to `<FINEFINANCE_HOME>/bench/<scale>.json`.

Memory: each step is a fresh interpreter; its peak is the largest of its own `ru_maxrss`, its
largest child's (dbt), and the process tree's summed RSS polled every 0.2 s. PostgreSQL's is
polled separately (proportional set size, so the shared buffers count once).
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import psutil

from finefinance_platform.errors import FineFinanceError
from finefinance_platform.months import add_months, current_month
from finefinance_platform.settings import DBT_PROJECT_DIR, Settings, child_environment, load_settings


class BenchmarkError(FineFinanceError):
    pass


@dataclass(frozen=True)
class Scale:
    customers: int
    months: int


# the scales of docs/benchmarks.md
SCALES = {
    "XS": Scale(200, 6),
    "S": Scale(2_000, 24),
    "M": Scale(20_000, 24),
    "L": Scale(100_000, 36),
}
MIB = 1024 * 1024
POLL_SECONDS = 0.2
CHATTER_LINES = 80


@dataclass
class Options:
    scale: str
    seed: int = 42
    keep: bool = False
    month_repeats: int = 2
    ingest_repeats: int = 2
    export_formats: tuple[str, ...] = ("pdf", "csv")
    # Dagster instance of the runs: "local" (SQLite under the benchmark home, what `finefinance
    # run` uses) or "ephemeral" (in memory)
    instance: str = "local"
    # the live cadence: one cycle after this many seconds of trickle (a batch a second); the lag
    # from source to intraday marts with `finefinance live --interval live_interval` running beside
    # a trickle of lag_minutes (0: not measured)
    live_trickle_seconds: int = 60
    lag_minutes: float = 10
    live_interval: float = 60


class MemoryWatch:
    """Polls the summed RSS of a process tree, and PostgreSQL's PSS, until stopped."""

    def __init__(self, pid: int, postgres_pid: int | None):
        self.pid, self.postgres_pid = pid, postgres_pid
        self.peak_mib = 0.0
        self.postgres_peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _tree(pid: int) -> list[psutil.Process]:
        try:
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    @staticmethod
    def _sum(processes: list[psutil.Process], measure: Callable[[psutil.Process], int]) -> float:
        total = 0
        for process in processes:
            try:
                total += measure(process)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return total / MIB

    def _sample(self) -> None:
        self.peak_mib = max(self.peak_mib, self._sum(self._tree(self.pid), lambda p: p.memory_info().rss))
        if self.postgres_pid:
            pss = self._sum(self._tree(self.postgres_pid), lambda p: p.memory_full_info().pss)
            self.postgres_peak_mib = max(self.postgres_peak_mib, pss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(POLL_SECONDS)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Benchmark:
    def __init__(self, options: Options, caller: Settings, echo: Callable[[str], None]):
        """`caller`: the settings of the command's home, under which the benchmark makes its own."""
        if options.scale not in SCALES:
            raise BenchmarkError(f"scale {options.scale!r} is not one of {', '.join(SCALES)}")
        self.options = options
        self.scale = SCALES[options.scale]
        self.echo = echo
        from finefinance_platform.transformation.dbt_assets import dbt_target_folder

        self.results_file = caller.home / "bench" / f"{options.scale}.json"
        self.home = caller.home / "bench" / options.scale
        # every month of the simulated period is completed: it ends with the month before this one
        self.first_month = add_months(current_month(), -self.scale.months)
        self.last_month = add_months(current_month(), -1)
        self.env = child_environment(
            {
                "FINEFINANCE_HOME": str(self.home),
                "FINEFINANCE_FIRST_MONTH": self.first_month.isoformat()[:7],
                "FINEFINANCE_SOURCE_PORT": str(_free_port()),
                "FINEFINANCE_DUCKDB_PATH": str(self.home / "warehouse.duckdb"),
                "FINEFINANCE_WAREHOUSE": "duckdb",
                "FINEFINANCE_INGESTION": "dlt",
                "FINEFINANCE_DBT_TARGET": None,
                "FINEFINANCE_SOURCE_URL": None,
                "FINEFINANCE_SOURCE_READER_URL": None,
                # the benchmark's own dbt commands write where the platform's dbt steps do
                "DBT_TARGET_PATH": str(dbt_target_folder(self.home)),
                "PYTHONUNBUFFERED": "1",
                # every step is a fresh interpreter (and dbt another): without cached bytecode each
                # would compile dagster, dbt and dlt from source again, ~9 s of CPU per step here,
                # which is not what the platform costs once installed
                "PYTHONDONTWRITEBYTECODE": None,
            },
            path_prefix=Path(sys.executable).parent,
        )
        self.settings: Settings = load_settings(self.env)
        self.postgres_pid: int | None = None
        self.postgres_peak_mib = 0.0
        self.step_number = 0

    # -- running steps -------------------------------------------------------------------------
    def run_step(self, label: str, name: str, **arguments) -> dict:
        self.step_number += 1
        self.echo(f"[bench {self.options.scale}] {self.step_number:>2}. {label} ...")
        result_path = self.home / "steps" / f"{self.step_number:02d}-{name}.json"
        result_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "finefinance_platform.benchmark.steps", name, json.dumps(arguments),
                   str(result_path)]  # fmt: skip
        started = time.perf_counter()
        cpu_before = _children_cpu_seconds()
        process = subprocess.Popen(
            command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        # the step's own progress lines (indented) are shown; the tools' chatter (dlt, tqdm, dbt)
        # only when the step fails
        chatter: deque[str] = deque(maxlen=CHATTER_LINES)
        with MemoryWatch(process.pid, self.postgres_pid) as watch:
            for line in process.stdout:  # text mode splits tqdm's \r redraws into lines too
                line = line.rstrip()
                if line.startswith("    "):
                    self.echo(line)
                elif line.strip():
                    chatter.append(line)
            code = process.wait()
        if code != 0:
            for line in chatter:
                self.echo(f"    | {line}")
            raise BenchmarkError(f"benchmark step {name!r} failed (exit {code}): see its output above")
        figures = json.loads(result_path.read_text())
        figures["wall_seconds"] = time.perf_counter() - started  # with the interpreter's start-up
        # CPU time of the step and its children (dbt): on a shared machine, the figure least
        # disturbed by other work
        figures["cpu_seconds"] = _children_cpu_seconds() - cpu_before
        figures["peak_rss_mib"] = max(watch.peak_mib, figures.pop("own_peak_rss_mib"),
                                      figures.pop("child_peak_rss_mib"))  # fmt: skip
        self.postgres_peak_mib = max(self.postgres_peak_mib, watch.postgres_peak_mib)
        self.echo(
            f"    done in {figures['seconds']:.1f} s ({figures['wall_seconds']:.1f} s with start-up, "
            f"{figures['cpu_seconds']:.1f} s CPU), peak RSS {figures['peak_rss_mib']:.0f} MiB"
        )
        return figures

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> dict:
        from finefinance_platform.source.embedded_postgres import EmbeddedPostgres

        server = EmbeddedPostgres(self.settings)
        self._ensure_dbt_manifest()
        self._fresh_home(server)
        started = time.perf_counter()
        try:
            self.echo(f"[bench {self.options.scale}] fresh platform in {self.home}")
            status = server.start()
            self.postgres_pid = status.pid
            figures = self._measure()
            figures["postgres_port"] = status.port
        finally:
            server.stop()
            if not self.options.keep:
                shutil.rmtree(self.home, ignore_errors=True)
        figures["benchmark_seconds"] = round(time.perf_counter() - started, 1)
        self.results_file.parent.mkdir(parents=True, exist_ok=True)
        self.results_file.write_text(json.dumps(figures, indent=2) + "\n")
        self.echo(f"[bench {self.options.scale}] figures written to {self.results_file}")
        return figures

    def _ensure_dbt_manifest(self) -> None:
        """The Dagster definitions read dbt_project/target/manifest.json (`make install` writes it):
        parse again when the project changed since, or the runs would not match the models."""
        from finefinance_platform.transformation.manifest import manifest_is_stale

        if not manifest_is_stale():
            return
        self.echo(f"[bench {self.options.scale}] the dbt project changed since its manifest was written: dbt parse")
        env = {**self.env, "DBT_TARGET_PATH": str(DBT_PROJECT_DIR / "target")}
        parsed = subprocess.run(
            [str(Path(sys.executable).with_name("dbt")), "parse", "--quiet", "--profiles-dir", str(DBT_PROJECT_DIR)],
            cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if parsed.returncode != 0:
            raise BenchmarkError(f"dbt parse failed:\n{parsed.stdout[-3000:]}{parsed.stderr[-2000:]}")

    def _drop_warehouse(self) -> None:
        """Back to no warehouse and no dlt state, for another first load."""
        for path in (self.settings.duckdb_path, self.settings.duckdb_path.with_name(
                self.settings.duckdb_path.name + ".wal")):  # fmt: skip
            path.unlink(missing_ok=True)
        shutil.rmtree(self.home / "dlt", ignore_errors=True)

    def _fresh_home(self, server) -> None:
        if self.home.exists():
            server.stop()  # a kept or interrupted earlier run may have left its server up
            shutil.rmtree(self.home)
        self.home.mkdir(parents=True)

    def _measure(self) -> dict:
        scale, options = self.scale, self.options
        first, last = self.first_month.isoformat(), self.last_month.isoformat()
        early = add_months(self.first_month, 1 if scale.months > 1 else 0).isoformat()

        simulator = self.run_step(
            f"simulator: {scale.customers:,} customers x {scale.months} months",
            "simulate", customers=scale.customers, months=scale.months, seed=options.seed, start=first,
        )  # fmt: skip
        # baseline and first load alternate, `ingest_repeats` times each, and the fastest of each
        # counts: on a shared machine one slow run would otherwise decide the ratio
        instance = options.instance
        baselines, full_loads = [], []
        for repeat in range(options.ingest_repeats):
            baselines.append(self.run_step("baseline: bulk copy PostgreSQL -> ConnectorX -> Arrow -> DuckDB",
                                           "bulk_copy_baseline"))  # fmt: skip
            if repeat:
                self._drop_warehouse()
            full_loads.append(self.run_step("ingestion: the raw_tables asset, first (full) load", "ingest",
                                            instance=instance))  # fmt: skip
        baseline = min(baselines, key=lambda f: f["seconds"])
        full = min(full_loads, key=lambda f: f["seconds"])
        trickle = self.run_step("trickle: one day of changes in the source", "trickle",
                                customers=scale.customers, seed=options.seed)  # fmt: skip
        incremental = self.run_step("ingestion: the raw_tables asset, incremental after one day", "ingest",
                                    instance=instance)  # fmt: skip

        startup = self.run_step("dbt start-up: a no-op dbt run", "dbt_startup",
                                month_start=last, month_end=current_month().isoformat())  # fmt: skip
        refresh = self.run_step("refresh: daily_refresh job (ingestion + unpartitioned models)", "refresh",
                                instance=instance)  # fmt: skip
        backfill = self.run_step(f"backfill: close_month over {first[:7]} .. {last[:7]} in one run",
                                 "backfill", first_month=first, last_month=last, instance=instance)  # fmt: skip
        floor = self.run_step("floor: the hand-written DuckDB SQL of the same marts", "sql_floor",
                              first_month=first, last_month=last)  # fmt: skip

        months: dict[str, list[dict]] = {early: [], last: []}
        for _ in range(options.month_repeats):
            for month in (early, last):
                months[month].append(
                    self.run_step(
                        f"single month {month[:7]} (marts of close_month)", "month", month=month, instance=instance
                    )  # fmt: skip
                )
        month_early = min(months[early], key=lambda f: f["seconds"])
        month_last = min(months[last], key=lambda f: f["seconds"])

        export = self.run_step(f"export: every statement of {last[:7]}", "export", month=last,
                               formats=list(options.export_formats))  # fmt: skip

        # the live cadence: one live cycle after a minute of trickle (first, so that it merges
        # the same changes at every scale), a day of changes through the (incremental) daily
        # refresh, and the lag with `finefinance live` running
        live = self.run_step(f"live: one cycle of the live job after {options.live_trickle_seconds} s of trickle",
                             "live_cycle", trickle_batches=options.live_trickle_seconds, seed=options.seed + 2,
                             instance=instance)  # fmt: skip
        # the same as a person runs it: a process of its own, its start included
        live_once = self.run_step(f"live: finefinance live --once after {options.live_trickle_seconds} s of trickle",
                                  "live_once", trickle_batches=options.live_trickle_seconds,
                                  seed=options.seed + 4)  # fmt: skip
        start_up = self.run_step("start-up: the code location's import, commands that run no pipeline", "start_up",
                                 repeats=3)  # fmt: skip
        self.run_step("trickle: another day of changes in the source", "trickle",
                      customers=scale.customers, seed=options.seed + 1)  # fmt: skip
        refresh_after = self.run_step("refresh after a day of changes (staging merges the changed keys)",
                                      "refresh_after_changes", instance=instance)  # fmt: skip
        # what a newcomer waits for: `finefinance run` on an empty warehouse, Dagster instance and
        # statements folder (every month built, the newest month's files rendered), then one month
        # rebuilt with nothing new at the source
        self._drop_warehouse()
        for folder in ("dagster", "state", "statements"):
            shutil.rmtree(self.home / folder, ignore_errors=True)
        newcomer = self.run_step("newcomer: finefinance run on an empty warehouse", "finefinance_run")
        one_month = self.run_step(f"finefinance run --from {last[:7]} --to {last[:7]}, nothing new",
                                  "finefinance_run", start=last[:7], end=last[:7])  # fmt: skip
        lag = None
        if options.lag_minutes:
            lag = self.run_step(f"live lag: finefinance live beside a {options.lag_minutes:g}-minute trickle",
                                "live_lag", minutes=options.lag_minutes, interval=options.live_interval,
                                seed=options.seed + 3)  # fmt: skip

        steps = {
            "simulator": simulator,
            "bulk_copy_baseline": baseline,
            "ingestion_full": full,
            "trickle": trickle,
            "ingestion_incremental": incremental,
            "dbt_startup": startup,
            "refresh": refresh,
            "backfill": backfill,
            "sql_floor": floor,
            "month_early": month_early,
            "month_last": month_last,
            "export": export,
            "refresh_after_changes": refresh_after,
            "live_cycle": live,
            "live_once": live_once,
            "start_up": start_up,
            "newcomer_run": newcomer,
            "one_month_run": one_month,
            **({"live_lag": lag} if lag else {}),
        }
        return self._figures(steps, months, baselines, full_loads)

    def _figures(self, steps: dict[str, dict], months: dict[str, list[dict]], baselines: list[dict],
                 full_loads: list[dict]) -> dict:  # fmt: skip
        s = steps
        raw_rows = s["ingestion_full"]["rows"]
        backfill_budget = 3 * s["sql_floor"]["seconds"] + s["dbt_startup"]["seconds"]
        figures = {
            "scale": self.options.scale,
            "customers": self.scale.customers,
            "months": self.scale.months,
            "period": {"first_month": self.first_month.isoformat(), "last_month": self.last_month.isoformat()},
            "seed": self.options.seed,
            "dagster_instance": self.options.instance,
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": _machine(),
            "simulator": {
                "seconds": s["simulator"]["seconds"],
                "rows": s["simulator"]["rows"],
                "rows_per_second": s["simulator"]["rows_per_second"],
            },
            "ingestion": {
                "full_seconds": s["ingestion_full"]["seconds"],
                "full_rows": raw_rows,
                "full_rows_per_second": s["ingestion_full"]["rows_per_second"],
                "baseline_seconds": s["bulk_copy_baseline"]["seconds"],
                "baseline_rows_per_second": s["bulk_copy_baseline"]["rows_per_second"],
                "ratio_to_baseline": s["ingestion_full"]["seconds"] / s["bulk_copy_baseline"]["seconds"],
                "full_runs_seconds": [round(f["seconds"], 2) for f in full_loads],
                "baseline_runs_seconds": [round(f["seconds"], 2) for f in baselines],
                "trickle_rows_changed": s["trickle"]["rows_changed"],
                "trickle_rows_changed_per_table": s["trickle"]["rows_changed_per_table"],
                "incremental_seconds": s["ingestion_incremental"]["seconds"],
                "incremental_rows_moved": s["ingestion_incremental"]["rows_moved"],
                "incremental_rows_moved_per_table": s["ingestion_incremental"]["rows_moved_per_table"],
                "incremental_share_of_history": s["ingestion_incremental"]["rows_moved"] / raw_rows,
            },
            "transformation": {
                "dbt_startup_seconds": s["dbt_startup"]["seconds"],
                "refresh_seconds": s["refresh"]["seconds"],
                "backfill_seconds": s["backfill"]["seconds"],
                # the part of it dbt's invocations took (the rest: Dagster, checks, dbt's process start)
                "backfill_dbt_elapsed_seconds": s["backfill"]["dbt_elapsed_seconds"],
                "sql_floor_seconds": s["sql_floor"]["seconds"],
                "backfill_ratio_to_floor": s["backfill"]["seconds"] / s["sql_floor"]["seconds"],
                "backfill_budget_seconds": backfill_budget,
                "floor_agrees_with_marts": s["sql_floor"]["agrees_with_marts"],
                "month_early": s["month_early"]["month"],
                "month_early_seconds": s["month_early"]["seconds"],
                "month_early_dbt_elapsed_seconds": s["month_early"]["dbt_elapsed_seconds"],
                "month_last": s["month_last"]["month"],
                "month_last_seconds": s["month_last"]["seconds"],
                "month_last_dbt_elapsed_seconds": s["month_last"]["dbt_elapsed_seconds"],
                "month_ratio_last_to_early": s["month_last"]["seconds"] / s["month_early"]["seconds"],
                "month_runs_seconds": {m[:7]: [round(r["seconds"], 2) for r in runs] for m, runs in months.items()},
            },
            "live": {
                # the daily refresh: the first one built staging from all of raw (as every refresh
                # did before staging became incremental), the second merged a day of changes
                "refresh_first_dbt_elapsed_seconds": s["refresh"]["dbt_elapsed_seconds"],
                "refresh_after_changes_dbt_elapsed_seconds": s["refresh_after_changes"]["dbt_elapsed_seconds"],
                "base_transaction_full_seconds": s["refresh"]["base_transaction_seconds"],
                "base_transaction_incremental_seconds": s["refresh_after_changes"]["base_transaction_seconds"],
                "cycle_seconds": s["live_cycle"]["seconds"],
                "first_cycle_seconds": s["live_cycle"]["catch_up_seconds"],
                "cycle_dbt_elapsed_seconds": s["live_cycle"]["dbt_elapsed_seconds"],
                "cycle_trickle_batches": s["live_cycle"]["batches"],
                # `finefinance live --once` after as much trickle: the process's wall time
                "once_wall_seconds": s["live_once"]["seconds"],
                **(
                    {
                        "lag_p50_seconds": s["live_lag"]["lag_p50_seconds"],
                        "lag_p95_seconds": s["live_lag"]["lag_p95_seconds"],
                        "lag_max_seconds": s["live_lag"]["lag_max_seconds"],
                        "lag_transactions": s["live_lag"]["measured"],
                        "lag_cycles": s["live_lag"]["cycles"],
                        "lag_trickle_seconds": s["live_lag"]["seconds"],
                        "lag_live_interval_seconds": s["live_lag"]["interval_seconds"],
                    }
                    if "live_lag" in s
                    else {}
                ),
            },
            # each Dagster step that ran dbt against dbt's own time, three ways: its process from
            # start to exit (what `dbt build` takes in a terminal), its invocation from dbt's start
            # to its results (without Python's import of dbt), the time dbt reports for its nodes
            "dagster_over_dbt": {
                name: {
                    "step_seconds": s[name]["dbt_step_seconds"],
                    "dbt_process_seconds": s[name]["dbt_process_seconds"],
                    "dbt_invocation_seconds": s[name]["dbt_invocation_seconds"],
                    "dbt_elapsed_seconds": s[name]["dbt_elapsed_seconds"],
                    "ratio_to_process": _ratio(s[name]["dbt_step_seconds"], s[name]["dbt_process_seconds"]),
                    "ratio_to_invocation": _ratio(s[name]["dbt_step_seconds"], s[name]["dbt_invocation_seconds"]),
                    "ratio_to_elapsed": _ratio(s[name]["dbt_step_seconds"], s[name]["dbt_elapsed_seconds"]),
                }
                for name in ("refresh", "backfill", "month_last", "refresh_after_changes")
            },
            "start_up": {
                # fresh processes, wall time, the fastest of 3 each
                "definitions_import_seconds": s["start_up"]["definitions_import_seconds"],
                "commands_seconds": s["start_up"]["commands_seconds"],
            },
            "newcomer": {
                # the interpreter's start-up included: what the person at the terminal waits
                "run_seconds": s["newcomer_run"]["wall_seconds"],
                "run_phases_seconds": s["newcomer_run"]["phases"],
                "months_built": s["newcomer_run"]["months"],
                "one_month_seconds": s["one_month_run"]["wall_seconds"],
                "one_month_phases_seconds": s["one_month_run"]["phases"],
            },
            "export": {
                "month": self.last_month.isoformat(),
                "formats": s["export"]["formats"],
                "statements": s["export"]["statements"],
                "issue_seconds": s["export"]["issue_seconds"],  # recording version 1 of each statement
                "seconds": s["export"]["seconds"],
                "statements_per_second": s["export"]["statements_per_second"],
                # one rendering process (export.DEFAULT_WORKERS: two measured no faster on these vCPUs)
                "statements_per_second_per_core": s["export"]["statements_per_second"],
            },
            "memory": {
                "peak_rss_mib": {name: round(step["peak_rss_mib"], 1) for name, step in s.items()},
                "max_step_peak_rss_mib": max(step["peak_rss_mib"] for step in s.values()),
                "postgres_peak_pss_mib": round(self.postgres_peak_mib, 1),
            },
            "steps": s,
        }
        figures["targets"] = evaluate_targets(figures)
        return figures


def _ratio(numerator: float, denominator: float) -> float:
    # no dbt results found (a run that failed before dbt wrote them) shows as an infinite ratio: a MISS
    return numerator / denominator if denominator else float("inf")


def _machine() -> dict:
    from importlib.metadata import version

    return {
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
        "versions": {
            name: version(name) for name in ("dagster", "dlt", "dbt-core", "dbt-duckdb", "duckdb", "connectorx")
        },  # fmt: skip
    }


def evaluate_targets(figures: dict) -> list[dict]:
    """Each figure against its target (set for scale M, docs/benchmarks.md)."""
    ingestion, transformation, live = figures["ingestion"], figures["transformation"], figures["live"]
    start_up = figures["start_up"]

    def target(name: str, value: float, limit: float, unit: str) -> dict:
        return {"figure": name, "value": round(value, 3), "target": f"<= {round(limit, 3)} {unit}".strip(),
                "met": value <= limit}  # fmt: skip

    return [
        target("simulator seconds", figures["simulator"]["seconds"], 120, "s"),
        target("ingestion / bulk-copy baseline", ingestion["ratio_to_baseline"], 1.5, "x"),
        target("incremental ingestion of a day, seconds", ingestion["incremental_seconds"], 10, "s"),
        {"figure": "incremental rows moved = rows changed in the source", "value": ingestion["incremental_rows_moved"],
         "target": f"== {ingestion['trickle_rows_changed']} rows",
         "met": ingestion["incremental_rows_moved"] == ingestion["trickle_rows_changed"]},
        target("single month (slower of early and last), seconds",
               max(transformation["month_early_seconds"], transformation["month_last_seconds"]), 30, "s"),
        target("last month / early month", transformation["month_ratio_last_to_early"], 1.3, "x"),
        target("full backfill seconds (3 x SQL floor + dbt start-up)", transformation["backfill_seconds"],
               transformation["backfill_budget_seconds"], "s"),
        target("peak RSS of any step, MiB", figures["memory"]["max_step_peak_rss_mib"], 2048, "MiB"),
        # the staging table the refresh rebuilt from all of raw (7.0 s at M before it was incremental)
        target("refresh after a day of changes, base_transaction dbt seconds",
               live["base_transaction_incremental_seconds"] or 0, 3, "s"),
        # one cycle: 15 s at S (and below), 30 s at M and L
        target("one live cycle after a minute of trickle, seconds", live["cycle_seconds"],
               15 if figures["customers"] <= 2000 else 30, "s"),
        *([target("lag from source commit to intraday mart, p95 seconds", live["lag_p95_seconds"], 300, "s")]
          if "lag_p95_seconds" in live else []),
        *[target(f"Dagster's dbt step / the dbt process in it, {name}", ratio["ratio_to_process"], 1.5, "x")
          for name, ratio in figures["dagster_over_dbt"].items()],
        # commands that start at once (issue 25); the code location is loaded by every run's process
        target("import of the definitions (the code location), seconds", start_up["definitions_import_seconds"], 3,
               "s"),
        *[target(f"finefinance {command}, seconds", seconds, 1, "s")
          for command, seconds in start_up["commands_seconds"].items()],
        # at S and below, like the newcomer's run
        *([target("finefinance live --once after a minute of trickle, wall seconds", live["once_wall_seconds"], 10,
                  "s")] if figures["customers"] <= 2000 else []),
        target("finefinance run, one month, nothing new, seconds", figures["newcomer"]["one_month_seconds"], 30, "s"),
        # make run's data part at scale S (issue 15): a newcomer's first `finefinance run`
        *([target("newcomer's finefinance run (every month), seconds", figures["newcomer"]["run_seconds"], 90, "s")]
          if figures["customers"] <= 2000 else []),
    ]  # fmt: skip
