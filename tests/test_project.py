"""Project set-up: settings from the environment, deploy checks, vendored files."""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BASE_ENV = {
    "PATH": os.environ.get("PATH", ""),
    "DJANGO_SETTINGS_MODULE": "chatsite.settings",
    "DATABASE_URL": "sqlite:///:memory:",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=BASE_ENV | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_without_secret_key_refuses_to_start():
    result = manage("check", DEBUG="false", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_refuses_wildcard_allowed_hosts():
    result = manage("check", DEBUG="false", SECRET_KEY="x" * 60, ALLOWED_HOSTS="*")
    assert result.returncode != 0
    assert '"*" is refused' in result.stderr


def test_deploy_check_passes_with_debug_off():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="k" * 20 + "-production-secret-" + "z" * 30,
        ALLOWED_HOSTS="chat.example.com",
    )
    assert result.returncode == 0, result.stderr


def test_vendored_files_match_recorded_checksums():
    table = (ROOT / "static/vendor/README.md").read_text()
    rows = re.findall(r"^\| (\S+\.js) \|.*\| ([0-9a-f]{64}) \|$", table, re.MULTILINE)
    assert {name for name, _ in rows} == {p.name for p in (ROOT / "static/vendor").glob("*.js")}
    for name, digest in rows:
        assert hashlib.sha256((ROOT / "static/vendor" / name).read_bytes()).hexdigest() == digest


def test_only_the_agents_app_imports_the_sdk():
    offenders = [
        path
        for path in ROOT.glob("*/**/*.py")
        if path.parts[len(ROOT.parts)] not in {"agents", "tests", ".venv", ".venv-litellm"}
        and re.search(r"^\s*(import|from) openai\b", path.read_text(), re.MULTILINE)
    ]
    assert offenders == []


def test_env_example_names_every_setting_read_from_the_environment():
    settings_source = (ROOT / "chatsite/settings.py").read_text()
    example = (ROOT / ".env.example").read_text()
    required = [
        "SECRET_KEY",
        "DEBUG",
        "ALLOWED_HOSTS",
        "DATABASE_URL",
        "REDIS_URL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "LLM_MODEL",
        "LLM_MODELS",
        "LLM_TIMEOUT",
    ]
    for name in required:
        assert f'"{name}"' in settings_source
        assert re.search(rf"^#? ?{name}=", example, re.MULTILINE), name


ASYNC_ORM = re.compile(
    r"sync_to_async\(|database_sync_to_async|"
    r"\.a(get|create|exists|update|count|delete|first|last|save|refresh_from_db|aggregate|"
    r"get_or_create|update_or_create|bulk_create|iterator|in_bulk|contains)\("
)


def test_app_code_reaches_the_orm_from_async_code_one_way():
    """`chatsite.db.run` is the one path from async code to the ORM: the async ORM and a
    bare `sync_to_async` queue on one shared thread, which is what it avoids."""
    offenders = []
    for app in ("accounts", "agents", "chatsite", "contacts", "conversations", "payments"):
        for path in (ROOT / app).rglob("*.py"):
            if path == ROOT / "chatsite" / "db.py" or "migrations" in path.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if ASYNC_ORM.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
