"""A test session in a fork of a process that already read the test settings (how mutmut runs
each mutant, `make mutation`) gets its own SQLite file and broker folder (conftest.py,
pytest_configure): forks sharing them fail each other's tests, which mutmut counts as kills."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The parent runs a session, then two forks run one each at the same time; every session
# records the database file and broker folder it used.
SCRIPT = """
import json, os, sys
import pytest

out = sys.argv[1]
args = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "fleetportal/tests/test_celery.py"]


class Record:
    def pytest_sessionfinish(self, session):
        from django.conf import settings

        used = {
            "db": settings.DATABASES["default"]["TEST"]["NAME"],
            "broker": settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"],
        }
        with open(os.path.join(out, str(os.getpid())), "w") as fh:
            json.dump(used, fh)


codes = [int(pytest.main(args, plugins=[Record()]))]
children = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        os._exit(int(pytest.main(args, plugins=[Record()])))
    children.append(pid)
codes += [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
print("codes", codes)
"""


def _mutation_tool_env() -> dict[str, str]:
    """The environment `make mutation` runs its forks in (scripts/mutation.py, ENV)."""
    name = "scripts_mutation"
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "mutation.py")
    assert spec is not None and spec.loader is not None
    tool = sys.modules[name] = importlib.util.module_from_spec(spec)  # its dataclasses need it
    spec.loader.exec_module(tool)
    return tool.ENV


def test_forks_of_a_test_session_run_at_once_on_their_own_database_and_broker(tmp_path):
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed script
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=ROOT,
        env=_mutation_tool_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "codes [0, 0, 0]" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    used = [json.loads(p.read_text()) for p in tmp_path.iterdir()]
    assert len(used) == 3
    assert len({u["db"] for u in used}) == 3
    assert len({u["broker"] for u in used}) == 3
