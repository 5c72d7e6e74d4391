"""The local Dagster instance under `<FINEFINANCE_HOME>/dagster`, shared by `make run` and `make dev`,
so the UI shows the runs, materializations and check results of the command line too.
"""

from pathlib import Path

import yaml
from dagster import DagsterInstance

from finefinance_platform.settings import Settings

# DuckDB takes one writer: steps that write the warehouse share the pool "warehouse" with one slot,
# and runs tagged as warehouse writers queue one at a time.
LOCAL_INSTANCE_CONFIG = {
    "concurrency": {
        "pools": {"default_limit": 1},
        "runs": {
            "max_concurrent_runs": 4,
            "tag_concurrency_limits": [{"key": "finefinance/warehouse", "value": "writer", "limit": 1}],
        },
    },
    # the queue is looked at every second (Dagster's default: 5 s), so a run launched from the UI
    # starts without waiting
    "run_coordinator": {
        "module": "dagster.core.run_coordinator",
        "class": "QueuedRunCoordinator",
        "config": {"dequeue_interval_seconds": 1},
    },
    "telemetry": {"enabled": False},
}


def instance_config(home: Path) -> dict:
    # one SQLite file of events, its connection kept open (event_log.py says why)
    event_log = {
        "module": "finefinance_platform.orchestration.event_log",
        "class": "PooledSqliteEventLogStorage",
        "config": {"base_dir": str(home / "event_log")},
    }
    return {**LOCAL_INSTANCE_CONFIG, "event_log_storage": event_log}


def ensure_dagster_home(settings: Settings) -> Path:
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    wanted = yaml.safe_dump(instance_config(home), sort_keys=False)
    if not config.exists() or config.read_text() != wanted:
        config.write_text(wanted)
    return home


def local_instance(settings: Settings) -> DagsterInstance:
    return DagsterInstance.from_config(str(ensure_dagster_home(settings)))
