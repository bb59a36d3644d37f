"""Who holds a lease: a name for this process that a sibling on the same host can check.

Leases (storage: ``inbox_leases``, ``outbox_leases``) name their holder ``host:pid:random``.
Another process can only wait for a lease to run out — unless the holder ran on its own host:
then whether that pid still lives is a question the kernel answers at once. A process that
restarts after a crash (systemd, ``docker restart``) so takes its dead predecessor's outbox
recipients back immediately instead of after the lease, as the two-instance README set-up
relies on (instances need distinct host names, as containers and pods have).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable

_HOST = socket.gethostname()[:32]


def worker_id() -> str:
    """This process's name in leases: the host, the pid, and a random part for pid reuse
    (a container's process is pid 1 on every start)."""
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dead_on_this_host(owners: Iterable[str], me: str) -> list[str]:
    """The owners among ``owners`` that ran on this host and whose process is gone: its pid
    no longer exists, or it is this process's own pid under another name (an earlier run in
    the same container)."""
    dead = []
    for owner in owners:
        host, _, rest = owner.partition(":")
        pid_text, _, _ = rest.partition(":")
        if owner == me or host != _HOST or not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid == os.getpid() or not _alive(pid):
            dead.append(owner)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    return True
