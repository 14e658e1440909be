"""Worker processes that end with their parent, even a parent killed with SIGKILL.

A ProcessPoolExecutor worker blocks on its call queue, whose pipe it holds both ends of: when the
parent dies without shutting the pool down, nothing ever wakes it, and it keeps multiprocessing's
resource tracker alive too. `die_with_parent` is the pool's initializer (first thing the worker
runs) in bot.charts and kbjuctl.sqlite_migration.pipeline.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_SECONDS = 1.0


def die_with_parent(parent_pid: int) -> None:
    """End this process when `parent_pid` (the process that started it) ends.

    Linux: the kernel sends SIGKILL at the parent's death (PR_SET_PDEATHSIG; the parent *thread*'s,
    so start workers from a thread that lives as long as the process, as the main thread or the
    event loop's does). A parent that died before this call, while the worker was still importing,
    is seen by the getppid() check right after. Elsewhere, a daemon thread polls getppid().
    """
    if sys.platform == "linux" and _pdeathsig(signal.SIGKILL):
        if os.getppid() != parent_pid:  # orphaned already: re-parented to init or a subreaper
            os._exit(0)
        return
    threading.Thread(target=_watch, args=(parent_pid,), name="kbju-parent-watch", daemon=True).start()


def _pdeathsig(sig: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    os._exit(0)
