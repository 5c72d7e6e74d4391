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


def repair_home(home: Path, passages: tuple[Path, ...] = ()) -> int:
    """Make `home` and everything under it private (owner only); return how many entries were repaired.

    `passages`: folders another user may pass through but never list or read (their search bit
    is kept, not added): run as root, the embedded PostgreSQL runs as the unprivileged `pgserver`
    user (PostgreSQL refuses root), which must reach its data folder under the home.
    """
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    passages = {str(path) for path in passages}
    repaired = 0
    for folder, subfolders, files in os.walk(home):
        for path in [folder] + [os.path.join(folder, name) for name in subfolders + files]:
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                continue  # removed while we walked (a step folder pruned, a WAL checkpointed)
            allowed = 0o711 if path in passages and stat.S_ISDIR(mode) else 0o700
            if stat.S_ISLNK(mode) or not stat.S_IMODE(mode) & ~allowed:
                continue  # a link's own mode means nothing; this one is already private
            try:
                os.chmod(path, stat.S_IMODE(mode) & allowed)
            except FileNotFoundError:
                continue
            repaired += 1
    return repaired


def passages_to_postgres(home: Path, postgres_dir: Path) -> tuple[Path, ...]:
    """The folders from the home down to the embedded PostgreSQL's, when it runs as another user
    (the platform run as root); none otherwise."""
    if os.geteuid() != 0 or not postgres_dir.is_relative_to(home):
        return ()
    passages = [home]
    for part in postgres_dir.relative_to(home).parts:
        passages.append(passages[-1] / part)
    return tuple(passages)
