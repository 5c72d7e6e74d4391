"""Whether the dbt manifest Dagster loads is older than the dbt project it was parsed from."""

import os
from pathlib import Path

from finefinance_platform.settings import DBT_PROJECT_DIR

# what dbt parses: the project folder (less dbt's own output) and the seeds beside it
# (`seed-paths: ["../seeds"]` in dbt_project.yml)
SOURCE_FOLDERS = (DBT_PROJECT_DIR, DBT_PROJECT_DIR.parent / "seeds")
DBT_OUTPUT = {"target", "logs", "dbt_packages"}


def manifest_is_stale(manifest: Path = DBT_PROJECT_DIR / "target" / "manifest.json") -> bool:
    """True when there is no manifest or a .sql, .yml or .csv file of the project is newer than it."""
    if not manifest.exists():
        return True
    written = manifest.stat().st_mtime
    for root in SOURCE_FOLDERS:
        for folder, subfolders, files in os.walk(root):
            # dbt's output (target/ holds a folder per dagster-dbt invocation) is not a source
            subfolders[:] = [name for name in subfolders if name not in DBT_OUTPUT]
            for name in files:
                if name.endswith((".sql", ".yml", ".csv")) and os.path.getmtime(os.path.join(folder, name)) > written:
                    return True
    return False
