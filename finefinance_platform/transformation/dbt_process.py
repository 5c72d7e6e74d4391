"""`finefinance-dbt`: dbt's own command line, as the runs' dbt steps start it (dagster-dbt's
`dbt_executable`), with the garbage collector told what lives as long as the process.

A dbt step is a process of a few seconds that imports dbt (~200,000 objects) and loads the
project's manifest. Every full collection walks all of it again, and so does the interpreter's
exit. Frozen once imported (`gc.freeze()`), and everything left frozen when dbt is done, a step of
the live cycle at scale S took ~4.5 s instead of ~5.8 s, with the same peak memory
(docs/benchmarks.md, "Commands that start at once"). Garbage dbt makes while it runs is still collected.

Written here because dbt has no setting for it and dagster-dbt starts whatever executable it is given.
"""

import gc
import sys
from pathlib import Path

# the command, installed beside this interpreter (whether or not the virtualenv is activated): what
# the runs' dbt resource, the benchmark and the tests start
DBT_COMMAND = Path(sys.executable).parent / "finefinance-dbt"


def main() -> None:
    from dbt.cli.main import cli  # the `dbt` command's own entry point

    gc.freeze()
    try:
        cli()
    finally:
        gc.freeze()
