"""Is a run's process still alive? Used to mark runs whose process died as failed."""

from __future__ import annotations

import os
import socket


def this_host() -> str:
    """Name of this machine, stored with a run's pid (a pid means nothing on another host)."""
    return socket.gethostname()


def pid_alive(pid: int | None) -> bool:
    """True when process ``pid`` exists on this machine and is not a zombie.

    A zombie (exited, not yet waited for by its parent) counts as dead: it will never write
    to the store again.
    """
    if not pid or pid <= 0:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    return _proc_state(int(pid)) not in ("Z", "X")


def _proc_state(pid: int) -> str | None:
    """The one-letter state in /proc/<pid>/stat (Linux), or None where unavailable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    # Format: "pid (comm) S ..."; comm may contain spaces and parentheses.
    after = text.rsplit(")", 1)[-1].split()
    return after[0] if after else None
