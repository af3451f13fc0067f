"""The layer contract (.importlinter) holds, and it catches an import cycle."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ["accounts", "agents", "chatsite", "contacts", "conversations", "mcp_servers", "payments"]


def lint_imports(where: Path) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"]
    return subprocess.run(command, cwd=where, capture_output=True, text=True, timeout=120)


def copy_of_the_project(tmp_path: Path) -> Path:
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def test_the_project_keeps_its_import_contracts():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout


def test_a_cycle_between_two_modules_breaks_the_contract(tmp_path):
    project = copy_of_the_project(tmp_path)
    with open(project / "agents" / "events.py", "a") as events:
        events.write("\nfrom agents import loop  # noqa\n")  # loop imports events

    result = lint_imports(project)

    assert result.returncode != 0
    assert "No import cycles between the modules of an app BROKEN" in result.stdout


def test_a_door_imported_by_the_turn_service_breaks_the_contract(tmp_path):
    project = copy_of_the_project(tmp_path)
    with open(project / "conversations" / "turns.py", "a") as turns:
        turns.write("\nfrom conversations import sse  # noqa\n")

    result = lint_imports(project)

    assert result.returncode != 0
    assert "Doors above the turn service" in result.stdout and "BROKEN" in result.stdout
