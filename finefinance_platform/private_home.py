"""The platform's home is private to the user that runs it: files 0600, folders 0700.

New files are private from the start (the package sets the umask, `finefinance_platform/__init__.py`).
`repair_home()` runs at the start of every command and repairs anything looser under the home — a
home made by `mkdir`, by an older version, or copied in — and says how much it repaired, so nobody
is left believing a loose file was private.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def repair_home(home: Path) -> int:
    """Make `home` and everything under it private (owner only); return how many entries were repaired."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    repaired = 0
    for folder, subfolders, files in os.walk(home):
        for path in [folder] + [os.path.join(folder, name) for name in subfolders + files]:
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                continue  # removed while we walked (a step folder pruned, a WAL checkpointed)
            if stat.S_ISLNK(mode) or not mode & 0o077:
                continue  # a link's own mode means nothing; this one is already private
            try:
                os.chmod(path, stat.S_IMODE(mode) & 0o700)
            except FileNotFoundError:
                continue
            repaired += 1
    return repaired
