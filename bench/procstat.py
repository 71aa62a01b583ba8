"""CPU time of the processes a bench involves, read from /proc (Linux only).

A push's cost is spread over several processes: the worker and its pool children, the
PostgreSQL backends answering them, Redis (the broker), and the sandbox answering the Tesla
calls. Timing the bench's own process sees none of it, so the benches sum utime + stime
(fields 14 and 15 of /proc/<pid>/stat, see proc(5)) over all of them across a window.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the comm, or None once the process is gone.

    The comm is in parentheses and may hold spaces: split after the last ')'."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process plus cutime + cstime, what its reaped children spent;
    0 if gone. The children matter: a PostgreSQL backend that served one task and exited
    leaves its CPU in the postmaster's cutime, nowhere else."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # After the comm, proc(5)'s fields 14-17 (utime, stime, cutime, cstime) are at 11-14.
    return sum(int(value) for value in fields[11:15]) / _TICK


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _parent(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def descendants(root: int) -> list[int]:
    """Every live process below `root` (children, their children, ...), not root itself."""
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        parent = _parent(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def by_comm(name: str) -> list[int]:
    """Live processes whose comm is `name` (e.g. "postgres", "redis-server")."""
    return [pid for pid in all_pids() if comm(pid) == name]


@dataclass
class CpuWindow:
    """CPU seconds spent by groups of processes between start() and stop().

    Each group is a function returning its pids, asked at both ends; a group spent its sum
    at the end minus its sum at the start. A process born in the window counts from zero;
    one that died in the window is subtracted with what it had at the start and found again
    in its parent's reaped-children time, in full, so the difference is its share in the
    window, provided its parent is in the group (a backend's postmaster, a pool child's
    worker). stop() adds up across windows.
    """

    groups: dict[str, Callable[[], Iterable[int]]]
    _before: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def _sample(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(pid) for pid in pids()) for name, pids in self.groups.items()}

    def start(self) -> None:
        self._before = self._sample()

    def stop(self) -> dict[str, float]:
        for name, after in self._sample().items():
            spent = max(0.0, after - self._before.get(name, 0.0))
            self.seconds[name] = self.seconds.get(name, 0.0) + spent
        return self.seconds

    @property
    def total(self) -> float:
        return sum(self.seconds.values())
