"""The library stands alone: every module imports in a fresh interpreter where nothing but
the standard library and `teslafleet/requirements.txt` may be imported (no Django, no Celery,
nothing of the project)."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import teslafleet

ROOT = Path(teslafleet.__file__).resolve().parent

# Import names of the distributions in teslafleet/requirements.txt, and what they import.
ALLOWED_THIRD_PARTY = {
    "requests": {"requests", "urllib3", "charset_normalizer", "chardet", "idna", "certifi"},
    "cryptography": {"cryptography", "cffi", "_cffi_backend"},
    "ecdsa": {"ecdsa", "six"},
}

# A meta path finder that refuses every top-level module that is neither in the standard
# library nor allowed: importing teslafleet.* must not even try one.
GUARD = """
import sys
allowed = set(sys.argv[1].split(","))
modules = sys.argv[2].split(",")
sys.path.insert(0, sys.argv[3])  # the checkout: -I leaves the current folder out

class Refuse:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in allowed or top in sys.builtin_module_names:
            return None
        raise ImportError("teslafleet must not import " + name)

sys.meta_path.insert(0, Refuse())
import importlib
for module in modules:
    importlib.import_module(module)
print("ok", len(modules))
"""


def _library_modules() -> list[str]:
    return ["teslafleet"] + [
        f"teslafleet.{info.name}"
        for info in pkgutil.iter_modules([str(ROOT)])
        if info.name != "tests"
    ]


def test_the_requirements_file_lists_what_the_guard_allows():
    listed = {
        re.split(r"[=<>\[ ]", line.strip())[0]
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert listed == set(ALLOWED_THIRD_PARTY)


def test_every_library_module_imports_with_only_its_own_requirements():
    modules = _library_modules()
    allowed = {"teslafleet"}.union(*ALLOWED_THIRD_PARTY.values())
    result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-I",
            "-c",
            GUARD,
            ",".join(sorted(allowed)),
            ",".join(modules),
            str(ROOT.parent),
        ],
        cwd=ROOT.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", str(len(modules))]


def test_the_guard_refuses_a_module_outside_the_allowed_set():
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-I", "-c", GUARD, "teslafleet", "django", str(ROOT.parent)],
        cwd=ROOT.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and "must not import django" in result.stderr
