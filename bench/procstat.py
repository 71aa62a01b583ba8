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
    """utime + stime of one process (its own, not its reaped children's); 0 if gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # After the comm: state is field 3, utime field 14, stime field 15 (1-based in proc(5)).
    return (int(fields[11]) + int(fields[12])) / _TICK


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

    Each group is a function returning its pids; it is asked at both ends, so a process
    that appears during the window (a new PostgreSQL backend, a forked pool child) counts
    from zero, and one that exits during the window loses what it spent (unavoidable from
    /proc: keep the processes alive over the window, e.g. read before stopping the worker).
    """

    groups: dict[str, Callable[[], Iterable[int]]]
    _before: dict[str, dict[int, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def _sample(self) -> dict[str, dict[int, float]]:
        return {
            name: {pid: cpu_seconds(pid) for pid in pids()} for name, pids in self.groups.items()
        }

    def start(self) -> None:
        self._before = self._sample()

    def stop(self) -> dict[str, float]:
        after = self._sample()
        for name, now in after.items():
            before = self._before.get(name, {})
            spent = sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in now.items())
            self.seconds[name] = self.seconds.get(name, 0.0) + spent
        return self.seconds

    @property
    def total(self) -> float:
        return sum(self.seconds.values())
