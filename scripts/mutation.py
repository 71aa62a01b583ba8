"""`make mutation`: how many wrong versions of the security-critical modules the tests catch.

Not part of `make test` or CI: a full run takes about an hour on 2 cores. For each module
below, in a throwaway copy of the tracked tree (the work tree is never touched):

1. mutmut (pinned in requirements-dev.txt) makes its mutants (operators, constants, strings,
   `x = f()` -> `x = None`, ...) and runs only the module's tests against each;
2. a small driver adds the kinds mutmut lacks, one at a time, each run against the same
   tests: every `if`/`while`/`assert` condition forced to True and to False, each side of an
   `and`/`or` on its own, and each statement that is a bare call deleted.

It prints `mutation: <module>=<killed>/<total>` per module (a timeout counts as killed), then
each survivor: those listed in scripts/mutation_equivalent.json with the reason they are
equivalent, the others as survivors to kill (with `--diffs`, mutmut's diff of each). The
driver names a mutant `<path>:<kind>@<function>:<source text>#<variant>`: `force` #0 makes the
condition False, #1 True; `side` #i keeps the i-th operand alone; `delete` removes the call.
`--only jws,crypto` runs some modules; `--kinds mutmut` or `--kinds driver` one half;
`--mutants 'accounts.services.x_link_store__mutmut_*,*@link_store:*'` only the mutants whose names
match (shell-style patterns), to check the tests added for some survivors without a full run.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT_FILE = ROOT / "scripts" / "mutation_equivalent.json"
# The copies run the tests on the embedded defaults (SQLite, filesystem broker) whatever the
# environment says: forks of one process cannot share a PostgreSQL test database or a Redis
# queue. Mutants only PostgreSQL can kill (row locks) are listed with the test that kills them.
ENV = {
    k: v
    for k, v in os.environ.items()
    if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "DJANGO_SETTINGS_MODULE")
}
PYTEST_ARGS = ["-p", "no:cacheprovider", "-q", "-x", "-p", "no:randomly"]
# A mutant whose tests run past this many times their unmutated time counts as killed.
TIMEOUT_FACTOR = 5


@dataclass(frozen=True)
class Module:
    short: str
    path: str
    tests: tuple[str, ...]


MODULES = (
    Module("jws", "teslafleet/jws.py", ("teslafleet/tests/test_jws.py",)),
    Module("crypto", "fleetportal/crypto.py", ("fleetportal/tests/test_crypto.py",)),
    Module("fleet", "teslafleet/fleet.py", ("teslafleet/tests/test_fleet.py",)),
    Module(
        "services",
        "accounts/services.py",
        (
            "accounts/tests/test_linking.py",
            "accounts/tests/test_refresh.py",
            "accounts/tests/test_refresh_batch.py",
            "accounts/tests/test_refresh_lease.py",
            "accounts/tests/test_token_pair.py",
        ),
    ),
    Module(
        "callback",
        "accounts/providers/tesla/views.py",
        ("accounts/tests/test_linking.py", "accounts/tests/test_linking_policy.py"),
    ),
)


@dataclass
class Outcome:
    killed: int = 0
    total: int = 0
    survivors: list[str] = field(default_factory=list)
    diffs: dict[str, str] = field(default_factory=dict)


def _copy_tree(dest: Path) -> None:
    """The tracked files (and untracked, not ignored ones) as they are in the work tree."""
    listed = subprocess.run(  # noqa: S603 - git with fixed arguments
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        name = raw.decode()
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _write_mutmut_config(copy: Path, module: Module) -> None:
    top_level = sorted({p.split("/")[0] for p in os.listdir(copy) if p != "mutants"})
    config = (
        "\n[tool.mutmut]\n"
        f"source_paths = [{json.dumps(module.path)}]\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(list(module.tests))}\n"
        f"pytest_add_cli_args = {json.dumps(PYTEST_ARGS[:3])}\n"
        f"also_copy = {json.dumps(top_level)}\n"
        # A mutant still running at five times its tests' time counts as killed (timeout), as
        # in the driver: mutmut's default of 15 times holds a worker for over ten minutes on
        # each mutant that loops in the refresh code.
        f"timeout_multiplier = {TIMEOUT_FACTOR}\n"
    )
    with (copy / "pyproject.toml").open("a", encoding="utf-8") as fh:
        fh.write(config)


def _wanted(name: str, patterns: list[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def run_mutmut(
    copy: Path, module: Module, log, diffs: bool = False, patterns: list[str] | None = None
) -> Outcome:
    _write_mutmut_config(copy, module)
    mutmut = [sys.executable, "-m", "mutmut"]
    patterns = [p for p in patterns or [] if "@" not in p]  # a driver name has an "@"
    # Our own interpreter's mutmut, fixed arguments (and the caller's patterns, as names).
    # mutmut's workers are forks of one process that has read the test settings: conftest.py
    # gives each its own SQLite file and broker folder (else they fail each other's tests).
    subprocess.run(  # noqa: S603
        [*mutmut, "run", *patterns],
        cwd=copy,
        stdout=log,
        stderr=subprocess.STDOUT,
        check=False,
        env=ENV,
    )
    listed = subprocess.run(  # noqa: S603
        [*mutmut, "results", "--all", "true"], cwd=copy, capture_output=True, text=True
    ).stdout
    outcome = Outcome()
    for line in listed.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name or not _wanted(name, patterns):
            continue
        outcome.total += 1
        if status in ("killed", "timeout"):
            outcome.killed += 1
        else:
            outcome.survivors.append(f"{name} ({status})")
            if diffs:
                shown = subprocess.run(  # noqa: S603
                    [*mutmut, "show", name], cwd=copy, capture_output=True, text=True
                ).stdout
                outcome.diffs[name] = shown
    return outcome


# --- the driver's kinds ----------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """One mutation: the node at (lineno, col) of `kind`, variant `variant`, inside the
    function mutmut names `function` (None at module level). `label` names it by function and
    source text, not line, so a listed equivalent survives edits elsewhere in the module."""

    kind: str
    lineno: int
    col: int
    variant: int
    function: str | None = None
    label: str = ""

    @property
    def name(self) -> str:
        return f"{self.kind}@{self.label}#{self.variant}"


def _functions(tree: ast.Module) -> list[tuple[int, int, str]]:
    """(first line, last line, mutmut's name) of each top-level function and method, the
    unit mutmut records tests for: `x_name`, or `xǁClassǁname` for a method."""
    found = []
    for node in tree.body:
        defs = [(node, None)] if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else []
        if isinstance(node, ast.ClassDef):
            defs = [
                (item, node.name)
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
        for func, owner in defs:
            name = f"x_{func.name}" if owner is None else f"x\u01c1{owner}\u01c1{func.name}"
            found.append((func.lineno, func.end_lineno or func.lineno, name))
    return found


def driver_sites(tree: ast.Module) -> list[Site]:
    functions = _functions(tree)

    seen: dict[str, int] = {}

    def site(kind: str, node: ast.AST, variant: int) -> Site:
        line = node.lineno
        owner = next((name for first, last, name in functions if first <= line <= last), None)
        text = " ".join(ast.unparse(node).split())
        where = (owner or "module").removeprefix("x_").removeprefix("x\u01c1")
        label = f"{where.replace(chr(0x1C1), '.')}:{text[:80]}"
        # The same text twice in one function: the second is `~2`, and so on.
        seen[f"{kind}{label}#{variant}"] = count = seen.get(f"{kind}{label}#{variant}", 0) + 1
        if count > 1:
            label += f"~{count}"
        return Site(kind, line, node.col_offset, variant, owner, label)

    sites = []
    # In source order, so `~2` means the later one.
    nodes = sorted(
        (n for n in ast.walk(tree) if hasattr(n, "lineno")), key=lambda n: (n.lineno, n.col_offset)
    )
    for node in nodes:
        if isinstance(node, (ast.If, ast.While, ast.Assert, ast.IfExp)):
            sites += [site("force", node.test, v) for v in (0, 1)]
        elif isinstance(node, ast.BoolOp):
            sites += [site("side", node, v) for v in range(len(node.values))]
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            sites.append(site("delete", node, 0))
    return sites


def _covering_tests(
    copy: Path, module: Module
) -> tuple[dict[str, list[str]], dict[str, float]] | None:
    """mutmut's record of which tests run each function of the module (written by its `run`),
    keyed by the short name (`x_verify`), and each test's duration; None when mutmut has not
    run here."""
    stats = copy / "mutants" / "mutmut-stats.json"
    if not stats.is_file():
        return None
    recorded = json.loads(stats.read_text(encoding="utf-8"))
    prefix = module.path.removesuffix(".py").replace("/", ".") + "."
    tests = {
        k.removeprefix(prefix): sorted(v)
        for k, v in recorded["tests_by_mangled_function_name"].items()
        if k.startswith(prefix)
    }
    return tests, recorded["duration_by_test"]


class _Apply(ast.NodeTransformer):
    def __init__(self, site: Site) -> None:
        self.site = site
        self.applied = False

    def _at(self, node: ast.AST) -> bool:
        return (node.lineno, node.col_offset) == (self.site.lineno, self.site.col)

    def generic_visit(self, node: ast.AST) -> ast.AST:
        node = super().generic_visit(node)
        kind = self.site.kind
        if kind == "force" and isinstance(node, (ast.If, ast.While, ast.Assert, ast.IfExp)):
            if self._at(node.test):
                node.test = ast.copy_location(ast.Constant(bool(self.site.variant)), node.test)
                self.applied = True
        elif kind == "side" and isinstance(node, ast.BoolOp) and self._at(node):
            self.applied = True
            return ast.copy_location(node.values[self.site.variant], node)
        elif kind == "delete" and isinstance(node, ast.Expr) and self._at(node):
            self.applied = True
            return ast.copy_location(ast.Pass(), node)
        return node


def _passes(copy: Path, tests: list[str], log, timeout: float | None) -> bool:
    """Whether the tests pass on the copy as it is; running past the timeout is a failure."""
    try:
        result = subprocess.run(  # noqa: S603 - our own interpreter's pytest
            [sys.executable, "-m", "pytest", *PYTEST_ARGS, *tests],
            cwd=copy,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=timeout,
            env=ENV,
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def run_driver(copy: Path, module: Module, log, patterns: list[str] | None = None) -> Outcome:
    target = copy / module.path
    original = target.read_text(encoding="utf-8")
    outcome = Outcome()
    # Like mutmut, run only the tests that execute the mutated function when it has recorded
    # them (after `--kinds all`); a function no test runs is a survivor with nothing run.
    covering, durations = _covering_tests(copy, module) or (None, {})
    started = time.monotonic()
    if not _passes(copy, list(module.tests), log, None):
        raise SystemExit(f"{module.path}: its tests fail without any mutation (see the log)")
    # A mutant that makes a test loop forever (a `while` forced True) counts as killed once it
    # runs five times as long as its tests did unmutated (plus a second, and at least a
    # minute for pytest's start-up), as mutmut's own timeouts do; without mutmut's record,
    # five times the whole set.
    whole = time.monotonic() - started
    try:
        for site in driver_sites(ast.parse(original)):
            applier = _Apply(site)
            mutated = applier.visit(ast.parse(original))
            if not applier.applied or not _wanted(f"{module.path}:{site.name}", patterns or []):
                continue
            outcome.total += 1
            tests, expected = list(module.tests), whole
            # A function mutmut does not mutate (a decorated one) has no record: run them all.
            if covering is not None and site.function in covering:
                tests = covering[site.function]
                if not tests:
                    outcome.survivors.append(f"{module.path}:{site.name} (no tests)")
                    continue
                expected = sum(durations.get(t, whole) for t in tests) + 1
            timeout = max(60.0, TIMEOUT_FACTOR * expected)
            target.write_text(ast.unparse(ast.fix_missing_locations(mutated)), encoding="utf-8")
            if not _passes(copy, tests, log, timeout):
                outcome.killed += 1
            else:
                outcome.survivors.append(f"{module.path}:{site.name} (survived)")
    finally:
        target.write_text(original, encoding="utf-8")
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated short names: jws,crypto,…")
    parser.add_argument("--kinds", choices=("all", "mutmut", "driver"), default="all")
    parser.add_argument("--diffs", action="store_true", help="print each mutmut survivor's diff")
    parser.add_argument("--mutants", default="", help="comma-separated name patterns: only these")
    args = parser.parse_args(argv)
    wanted = {name for name in args.only.split(",") if name}
    patterns = [p for p in args.mutants.split(",") if p]
    modules = [m for m in MODULES if not wanted or m.short in wanted]
    if wanted - {m.short for m in modules}:
        parser.error(f"unknown module: {', '.join(sorted(wanted - {m.short for m in MODULES}))}")
    equivalent = json.loads(EQUIVALENT_FILE.read_text(encoding="utf-8"))
    results = {}
    for module in modules:
        with tempfile.TemporaryDirectory(prefix="fleetportal-mutation-") as tmp:
            copy = Path(tmp)
            _copy_tree(copy)
            with (copy / "mutation.log").open("w", encoding="utf-8") as log:
                parts = []
                # Given patterns, a half none of them names is skipped (a driver name has "@").
                kinds = {args.kinds} if args.kinds != "all" else {"mutmut", "driver"}
                if patterns:
                    kinds &= {"driver" if "@" in p else "mutmut" for p in patterns}
                if "mutmut" in kinds:
                    parts.append(run_mutmut(copy, module, log, args.diffs, patterns))
                if "driver" in kinds:
                    parts.append(run_driver(copy, module, log, patterns))
            results[module.path] = Outcome(
                killed=sum(p.killed for p in parts),
                total=sum(p.total for p in parts),
                survivors=[s for p in parts for s in p.survivors],
                diffs={k: v for p in parts for k, v in p.diffs.items()},
            )
        outcome = results[module.path]
        print(f"mutation: {module.path}={outcome.killed}/{outcome.total}", flush=True)
    for path, outcome in results.items():
        for survivor in outcome.survivors:
            key = survivor.rsplit(" (", 1)[0]
            reason = equivalent.get(key)
            label = f"equivalent: {reason}" if reason else "SURVIVED: a test should kill it"
            print(f"  {path}: {survivor} -- {label}")
            if not reason and key in outcome.diffs:
                print(outcome.diffs[key])
    return 0


if __name__ == "__main__":
    sys.exit(main())
