"""What keeps the command line's runs safe on one warehouse: a run lock, and crash recovery.

`finefinance run` and `finefinance live` hold the warehouse's run lock for a whole run (an OS file
lock, released even when the process is killed), and, holding it, mark as failed the runs a killed
process left unfinished, giving back their slot in the `warehouse` pool (docs/reliability.md).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import DagsterInstance

from finefinance_platform.file_lock import held
from finefinance_platform.settings import Settings

# tags the runs the command line starts, so the next one can tell which unfinished runs were its own
RUNNER_TAGS = {"finefinance/runner": "finefinance-run"}


def run_lock_path(settings: Settings) -> Path:
    if settings.warehouse == "duckdb":
        return settings.duckdb_path.with_name(settings.duckdb_path.name + ".run.lock")
    return settings.home / "run.lock"


@contextmanager
def exclusive_run(settings: Settings, echo=print, wait: bool = True) -> Iterator[bool]:
    """Hold the warehouse's run lock for a whole run; a second run waits for the first.

    DuckDB admits one writer, and two runs interleaving ingestion and month windows could miss a
    late change: whole runs are serialised (file_lock.py: a killed run never leaves it behind).
    With `wait=False` it yields False at once when another run holds the lock (a reader that would
    rather skip than hold up a run's writes).
    """
    path = run_lock_path(settings)
    waiting = f"waiting for another run to finish (it holds {path}: {{}}) ...".format
    with held(path, waiting, echo, wait=wait, holder="finefinance run") as handle:
        yield handle is not None


def fail_runs_left_by_a_crash(instance: DagsterInstance, echo=print) -> list[str]:
    """Mark failed the runs of this command that never finished, and free their pool slots.

    A killed process leaves its run STARTED, holding its slot in the `warehouse` pool: every later
    step would wait for that slot forever. Called with the run lock held, so no other run of this
    command is alive: any unfinished one is a dead one. Runs the daemon launched are not touched.
    """
    from dagster import DagsterRunStatus, RunsFilter

    unfinished = [
        DagsterRunStatus.STARTING,
        DagsterRunStatus.STARTED,
        DagsterRunStatus.CANCELING,
        DagsterRunStatus.NOT_STARTED,
        DagsterRunStatus.QUEUED,
    ]
    dead = instance.get_runs(filters=RunsFilter(tags=RUNNER_TAGS, statuses=unfinished))
    for run in dead:
        instance.report_run_failed(
            run, message="its process ended without finishing (killed or crashed); marked failed by the next run"
        )
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    if dead:
        echo(
            f"marked {len(dead)} run(s) left unfinished by a crash as failed: "
            f"{', '.join(run.run_id[:8] for run in dead)}"
        )
    return [run.run_id for run in dead]
