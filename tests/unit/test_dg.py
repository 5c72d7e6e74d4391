"""`dg check defs` ([tool.dg] in pyproject.toml) loads and validates the code location."""

import subprocess
import sys
from pathlib import Path

from finefinance_platform.settings import REPO_ROOT, child_environment, get_settings


def test_dg_check_defs_passes():
    # what `finefinance dev` gives `dagster dev`: when a dbt file is newer than the manifest, the
    # definitions parse the dbt project again with plain `dbt`, whose profile reads the warehouse path
    venv_bin = Path(sys.executable).parent
    env = child_environment({**get_settings().dbt_environment(), "VIRTUAL_ENV": str(venv_bin.parent)}, venv_bin)
    result = subprocess.run(
        [str(venv_bin / "dg"), "check", "defs"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "All definitions loaded successfully." in result.stdout
