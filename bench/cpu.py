"""CPU of the processes a benchmark drives, read from /proc, and the machine's load beside them.

Why from outside: a process's own timers miss the CPU its work causes elsewhere (PostgreSQL
backends, Redis, the emulator), and most of a refresh's CPU is spent outside the portal's
own code (the project's issue 15, measured the same way).

How (proc(5)): /proc/<pid>/stat gives a process's utime+stime and, in cutime+cstime, the CPU
of the children it has waited for, in clock ticks (SC_CLK_TCK). A group's CPU over a window is
the change of the sum of both over its members: a member that exits during the window leaves
the live sum but lands, once reaped, in its parent's children total; a member that is born and
dies inside the window only ever shows there. That holds when every member's parent is a
member too (a Celery worker's pool children, PostgreSQL's backends under the postmaster,
redis-server's save forks); a pool child that exits unreaped at the end is still in /proc (a
zombie keeps its times), so it is counted once either way.

PostgreSQL serves every session on this machine: backends of other databases, seen by a
sampler (every 50 ms) while they live, are moved to the neighbours' side. A foreign backend
born and gone between two samples, and what one spends after its last sample, stay counted
as PostgreSQL's. Redis is shared too and not split. The machine's busy time comes from the
first line of /proc/stat; what the measured groups do not explain is the neighbours' load.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# "postgres: [cluster: ]user database host(port) state" for a client backend (postgres(1)
# process titles); the token before the client address is the database.
_CLIENT_ADDRESS = re.compile(r"^(\[local\]|[0-9a-fA-F.:]+\(\d+\))$")


@dataclass(frozen=True)
class Proc:
    """One line of /proc/<pid>/stat, the fields the accounting needs."""

    pid: int
    comm: str
    ppid: int
    pgrp: int
    own: int  # utime + stime, ticks
    children: int  # cutime + cstime (waited-for children), ticks


def read_proc(pid: int) -> Proc | None:
    """The process's stat line, or None once it is gone (or was never readable)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    # comm sits in parentheses and may itself hold spaces or ")": split at the last one.
    head, _, rest = raw.rpartition(")")
    comm = head.partition("(")[2]
    fields = rest.split()
    # fields[0] is field 3 (state) of proc(5): ppid 4, pgrp 5, utime 14 ... cstime 17.
    ppid, pgrp = int(fields[1]), int(fields[2])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return Proc(pid, comm, ppid, pgrp, utime + stime, cutime + cstime)


def all_procs() -> dict[int, Proc]:
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (proc := read_proc(int(name))) is not None:
            procs[proc.pid] = proc
    return procs


def machine_busy_ticks() -> int:
    """Busy ticks of all CPUs since boot: everything but idle and iowait (proc(5), /proc/stat;
    guest time is already inside user)."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return user + nice + system + irq + softirq + steal


class _Untitled(Exception):
    """A postgres process without a process title of its own (yet): the postmaster, or a
    backend just forked that has not set one."""


def postgres_database(pid: int) -> str | None:
    """The database a PostgreSQL client backend serves, from its process title; None for the
    auxiliary processes (checkpointer, WAL writer, ...). Raises _Untitled (ask again later)
    for a process whose title is not a backend's yet, and OSError once it is gone."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        title = f.read().replace(b"\0", b" ").decode(errors="replace").split()
    if not title or title[0] != "postgres:":
        raise _Untitled(pid)
    for i in range(2, len(title)):
        if _CLIENT_ADDRESS.match(title[i]):
            return title[i - 1]
    return None


Member = Callable[[Proc], bool]


def is_comm(name: str) -> Member:
    return lambda p: p.comm == name


def in_group(pgrp: int) -> Member:
    return lambda p: p.pgrp == pgrp


def is_process(pid: int) -> Member:
    """The process alone: its children, if any, count through its children total (or not)."""
    return lambda p: p.pid == pid


def _group_ticks(procs: dict[int, Proc], member: Member, *, with_children: bool) -> int:
    return sum(p.own + (p.children if with_children else 0) for p in procs.values() if member(p))


@dataclass
class _ForeignBackends:
    """Samples PostgreSQL backends of other databases while the window is open: their CPU is
    a neighbour's, not the benchmark's. A backend born after the window opened counts from
    zero (its connection start-up is the costly part), one alive before from its CPU then."""

    database: str
    period: float = 0.05
    first: dict[int, int] = field(default_factory=dict)
    last: dict[int, int] = field(default_factory=dict)
    _kinds: dict[int, str | None] = field(default_factory=dict)
    _opened: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _foreign(self, pid: int, comm: str | None = None) -> bool:
        """Whether `pid` is a backend of another database; classified once per pid."""
        if pid not in self._kinds:
            try:
                if comm is None:
                    with open(f"/proc/{pid}/comm") as f:
                        comm = f.read().strip()
                self._kinds[pid] = postgres_database(pid) if comm == "postgres" else None
            except (OSError, _Untitled):
                return False  # gone, or not titled yet: look again next time
        database = self._kinds[pid]
        return database is not None and database != self.database

    def _note(self, pid: int, own: int) -> None:
        self.first.setdefault(pid, own if not self._opened else 0)
        self.last[pid] = own

    def sample(self) -> None:
        """Between the window's ends: only new pids are classified, only foreign backends
        read, so the sampler's own CPU (counted as the bench's) stays small."""
        for name in os.listdir("/proc"):
            pid = int(name) if name.isdigit() else 0
            if pid and self._foreign(pid) and (proc := read_proc(pid)) is not None:
                self._note(pid, proc.own)

    def sample_all(self, procs: dict[int, Proc]) -> None:
        for pid, proc in procs.items():
            if self._foreign(pid, proc.comm):
                self._note(pid, proc.own)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.sample()

    def start(self, procs: dict[int, Proc]) -> None:
        self.sample_all(procs)
        self._opened = True
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._thread.start()

    def stop(self, procs: dict[int, Proc]) -> int:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample_all(procs)
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


@dataclass(frozen=True)
class CpuWindow:
    """What one measured window cost: seconds of CPU per group, and the rest of the machine."""

    wall: float
    groups: dict[str, float]
    machine_busy: float
    foreign_postgres: float

    @property
    def measured(self) -> float:
        return sum(self.groups.values())

    @property
    def neighbour_load_cores(self) -> float:
        """Cores' worth of CPU that processes outside the measured groups used."""
        return max(self.machine_busy - self.measured, 0.0) / self.wall


class CpuMeter:
    """Measure named groups of processes over a window: `start()`, the work, `stop()`.

    `groups` maps a name to a membership test and whether the members' waited-for children
    count (not for the benchmark process itself: its children are the sandbox and worker,
    measured on their own). Give `postgres_database` to move other databases' backends out
    of a group called "postgres".
    """

    def __init__(
        self,
        groups: dict[str, tuple[Member, bool]],
        *,
        postgres_database: str | None = None,
    ) -> None:
        self.groups = groups
        self._foreign = _ForeignBackends(postgres_database) if postgres_database else None
        self._start: tuple[float, int, dict[str, int]] | None = None

    def _totals(self, procs: dict[int, Proc]) -> dict[str, int]:
        return {
            name: _group_ticks(procs, member, with_children=children)
            for name, (member, children) in self.groups.items()
        }

    def start(self) -> None:
        procs = all_procs()
        if self._foreign is not None:
            self._foreign.start(procs)
        self._start = (time.monotonic(), machine_busy_ticks(), self._totals(procs))

    def stop(self) -> CpuWindow:
        assert self._start is not None, "start() first"
        procs = all_procs()
        busy, now = machine_busy_ticks(), time.monotonic()
        started, busy_before, before = self._start
        after = self._totals(procs)
        groups = {name: (after[name] - before[name]) / TICKS_PER_SECOND for name in after}
        foreign = 0.0
        if self._foreign is not None:
            foreign = self._foreign.stop(procs) / TICKS_PER_SECOND
            if "postgres" in groups:
                groups["postgres"] = max(groups["postgres"] - foreign, 0.0)
        return CpuWindow(
            wall=now - started,
            groups=groups,
            machine_busy=(busy - busy_before) / TICKS_PER_SECOND,
            foreign_postgres=foreign,
        )


def stack_meter(*, worker_group: int, sandbox_pid: int, database: str) -> CpuMeter:
    """The groups every worker bench measures: the Celery worker's process group (it leads its
    own session; its pool children are reaped inside it), PostgreSQL less other databases'
    backends, Redis, the sandbox process, and this process alone (its children are the
    sandbox and the worker, measured above)."""
    return CpuMeter(
        {
            "worker": (in_group(worker_group), True),
            "postgres": (is_comm("postgres"), True),
            "redis": (is_comm("redis-server"), True),
            "sandbox": (is_process(sandbox_pid), True),
            "bench": (is_process(os.getpid()), False),
        },
        postgres_database=database,
    )


def cpu_rows(
    window: CpuWindow,
    count: int,
    label: str,
    *,
    target: str = "",
    extra: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """Report rows (bench.common.report) for one window: CPU ms per unit of work (`count` of
    them) in all (then `target`) and per group, `extra` rows, then the machine's busy time
    against the measured CPU and the neighbours' load, so a noisy run can be told apart."""

    def ms(seconds: float) -> str:
        return f"{seconds / count * 1000:.2f}"

    return [
        (label, ms(window.measured) + target),
        *[(f"  {group}", ms(seconds)) for group, seconds in window.groups.items()],
        *extra,
        ("machine busy / measured",
         f"{window.machine_busy:.2f} s / {window.measured:.2f} s CPU"),
        ("neighbour load", f"{window.neighbour_load_cores:.2f} cores "
         f"(other databases' backends: {window.foreign_postgres:.2f} s)"),
    ]  # fmt: skip
