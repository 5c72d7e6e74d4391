"""What keeps runs safe on one warehouse: a run lock, and crash recovery.

Every run holds the warehouse's run lock from its start to its end (an OS file lock, released even
when the process is killed): `finefinance run` and `finefinance live` take it before they load
anything; runs the Dagster daemon or the UI launch take it in their executor
(`in_process_under_the_run_lock`), before their first step claims a pool slot, so a daemon run and
a command wait for each other in one order and never deadlock. Sensors that read or write the
warehouse take their turn without waiting (`warehouse_turn`). Holding it, the command line marks as
failed the runs a killed process left unfinished, giving back their slot in the `warehouse` pool
(docs/reliability.md).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import DagsterEvent, DagsterInstance, ExecutorDefinition, executor
from dagster._core.definitions.executor_definition import IN_PROC_CONFIG, _core_in_process_executor_creation
from dagster._core.executor.in_process import InProcessExecutor

from finefinance_platform.file_lock import held
from finefinance_platform.settings import Settings

# tags the runs the command line starts, so the next one can tell which unfinished runs were its own
RUNNER_TAGS = {"finefinance/runner": "finefinance-run"}
# the run locks this process holds
_held_here: set[Path] = set()


def run_lock_path(settings: Settings) -> Path:
    if settings.warehouse == "duckdb":
        return settings.duckdb_path.with_name(settings.duckdb_path.name + ".run.lock")
    return settings.home / "run.lock"


@contextmanager
def exclusive_run(settings: Settings, echo=print, wait: bool = True, holder: str = "finefinance run") -> Iterator[bool]:
    """Hold the warehouse's run lock for a whole run; a second run waits for the first.

    DuckDB admits one writer, and two runs interleaving ingestion and month windows could miss a
    late change: whole runs are serialised (file_lock.py: a killed run never leaves it behind).
    With `wait=False` it yields False at once when another run holds the lock (a reader that would
    rather skip than hold up a run's writes).
    """
    path = run_lock_path(settings)
    waiting = f"waiting for another run to finish (it holds {path}: {{}}) ...".format
    with held(path, waiting, echo, wait=wait, holder=holder) as handle:
        if handle is None:
            yield False
            return
        _held_here.add(path)
        try:
            yield True
        finally:
            _held_here.discard(path)


def holds_the_run_lock(settings: Settings) -> bool:
    """This process holds the run lock (flock is per open file: taking it again here would wait on
    ourselves)."""
    return run_lock_path(settings) in _held_here


@contextmanager
def warehouse_turn(settings: Settings) -> Iterator[bool]:
    """For a sensor's brief read or write of the warehouse: True when no run is using it (the run
    lock is held for the block, so no run starts under it) or this process's own run holds it;
    False at once otherwise (the sensor looks again at its next tick)."""
    if holds_the_run_lock(settings):
        yield True
        return
    with exclusive_run(settings, wait=False, holder="a sensor's look at the warehouse") as free:
        yield free


class RunLockedInProcessExecutor(InProcessExecutor):
    """Dagster's in-process executor, holding the run lock for the whole run first."""

    def __init__(self, settings: Settings, **kwargs) -> None:
        super().__init__(**kwargs)
        self.settings = settings

    def execute(self, plan_context, execution_plan) -> Iterator[DagsterEvent]:
        settings = self.settings
        if holds_the_run_lock(settings):
            yield from super().execute(plan_context, execution_plan)
            return

        def say(message: str) -> None:
            plan_context.log.warning(message)

        with exclusive_run(settings, echo=say, holder=f"Dagster run {plan_context.run_id}"):
            plan_context.log.info(f"holding the warehouse's run lock {run_lock_path(settings)}")
            yield from super().execute(plan_context, execution_plan)


def in_process_under_the_run_lock(settings: Settings) -> ExecutorDefinition:
    """The code location's executor: runs the daemon or the UI launch (schedules, sensors,
    backfills) take the warehouse's run lock (of the settings the definitions load with) before
    their first step, as the command line does. Written on Dagster's own in-process executor;
    Dagster has no run-level hook that runs before the steps claim their pool slots."""

    @executor(name="in_process_under_the_run_lock", config_schema=IN_PROC_CONFIG)
    def under_the_run_lock(init_context) -> InProcessExecutor:
        core = _core_in_process_executor_creation(init_context.executor_config)
        return RunLockedInProcessExecutor(
            settings,
            retries=core.retries,
            step_dependency_config=core.step_dependency_config,
            marker_to_close=core.marker_to_close,
        )

    return under_the_run_lock


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
