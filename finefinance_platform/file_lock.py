"""One way to take turns on a home: an OS file lock that says what it waits for.

Every shared thing a command can touch at the same moment as another (the warehouse's runs, the
dlt working folder, the embedded PostgreSQL, the embedded identity provider) is guarded by
`held(path, ...)`. `flock` is released by the kernel when its holder exits, killed or not, so no
lock is ever left behind (docs/reliability.md, "Commands started together"). Written by hand:
`filelock` would add a dependency for the same twenty lines, and it has no "say what you wait
for" hook.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def held(
    path: Path,
    waiting: str | Callable[[str], str],
    echo: Callable[[str], object] = _to_stderr,
    wait: bool = True,
    holder: str | None = None,
) -> Iterator[TextIO | None]:
    """Hold the lock file `path` (made 0600 beside its parents) for the block.

    When another process holds it, says `waiting` once through `echo` and waits; a callable gets
    what the holder wrote about itself. `holder` (e.g. "finefinance run") is written to the file
    with this pid and the time, for the next one to read. With `wait=False` it yields None at once
    when the lock is taken, and the open file otherwise.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield None
                return
            echo(waiting(handle.read().strip() or "another process") if callable(waiting) else waiting)
            fcntl.flock(handle, fcntl.LOCK_EX)
        if holder:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{holder}, pid {os.getpid()}, since {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC\n")
            handle.flush()
        yield handle
