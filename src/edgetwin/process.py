"""What every edgetwin process does alike: stop cleanly on a signal, and die with its supervisor.

``edgetwin up`` runs each part as ``python -m edgetwin --supervisor-pid PID PART-ARGS...``
(see :mod:`edgetwin.__main__`), which ties the part's life to the supervisor's before the part
starts:

- on Linux, ``prctl(PR_SET_PDEATHSIG, SIGTERM)``: the kernel sends the part SIGTERM the moment the
  supervisor dies, however it dies (``kill -9`` included), and the part stops as on Ctrl+C;
- elsewhere, a daemon thread notices within a second that the parent has changed and sends the
  same SIGTERM.

A part whose supervisor is already gone when it starts (it died between fork and here) stops at
once. The pid travels on the command line, so the part's own children do not inherit it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

SUPERVISOR_PID_FLAG = "--supervisor-pid"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def stop_event() -> asyncio.Event:
    """An event the running loop sets on SIGINT, SIGTERM or SIGHUP (where signals can be handled).

    SIGHUP is what a closed terminal or SSH session sends: it means "stop", like Ctrl+C.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, AttributeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def die_with_parent(parent_pid: int) -> None:
    """Have this process receive SIGTERM when ``parent_pid`` (its parent) dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    else:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def part_command(supervisor_pid: int, *args: str) -> list[str]:
    """The command line that runs ``edgetwin ARGS...`` as a part of the supervisor ``supervisor_pid``."""
    return [
        sys.executable,
        "-m",
        "edgetwin",
        SUPERVISOR_PID_FLAG,
        str(supervisor_pid),
        *args,
    ]
