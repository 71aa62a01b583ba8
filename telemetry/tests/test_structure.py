"""Telemetry reaches other apps through their public names only."""

from __future__ import annotations

import ast
from pathlib import Path

TELEMETRY = Path(__file__).resolve().parents[1]
OTHER_APPS = ("accounts", "partners", "vehicles", "fleetportal")


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in OTHER_APPS:
            found += [
                f"{path.relative_to(TELEMETRY)}: {node.module}.{alias.name}"
                for alias in node.names
                if alias.name.startswith("_")
            ]
    return found


def test_telemetry_imports_no_private_name_of_another_app():
    sources = [p for p in TELEMETRY.rglob("*.py") if "tests" not in p.parts]

    assert [hit for path in sources for hit in _private_imports(path)] == []
