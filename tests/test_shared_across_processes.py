"""Limits and the response cache hold across processes through one Redis (real Redis
on 127.0.0.1:6379; with CI=true it must be there)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> str:
    with socket.socket() as sock:
        sock.settimeout(1)
        reachable = sock.connect_ex(("127.0.0.1", 6379)) == 0
    if not reachable:
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is required in CI and is not listening on 127.0.0.1:6379")
        pytest.skip("Redis is not listening on 127.0.0.1:6379")
    return REDIS_URL


def worker_env(redis_url: str, upstream_url: str, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "SECRET_KEY": "worker-tests-secret-key",
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": f"test-{uuid.uuid4().hex}",  # this test's keys only
        "OPENAI_BASE_URL": upstream_url,
        "OPENAI_API_KEY": "sk-test",
        "LLM_MODEL": "gpt-4o-mini",
        "LLM_MAX_RETRIES": "0",
        "LLM_RATE_WINDOW": "3600",  # one window for the whole test
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def run_workers(
    env: dict[str, str], tmp: Path, jobs: list[tuple[int, str]]
) -> list[dict[str, int]]:
    """Start one process per job at once (each with its own database), then collect
    what each reports."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.gateway_worker", str(calls), message],
            cwd=ROOT,
            env=env | {"DATABASE_URL": f"sqlite:///{tmp / f'{uuid.uuid4().hex}.sqlite3'}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for calls, message in jobs
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_per_user_rate_limit_holds_across_two_processes(redis_url, fake_upstream, tmp_path):
    env = worker_env(redis_url, fake_upstream.url, LLM_USER_RPM="4", LLM_CACHE_TTL="0")
    first, second = run_workers(env, tmp_path, [(3, "one"), (3, "two")])
    assert first["ok"] + second["ok"] == 4
    assert first["blocked"] + second["blocked"] == 2
    assert len(fake_upstream.requests) == 4


def test_response_cache_is_shared_by_two_processes(redis_url, fake_upstream, tmp_path):
    env = worker_env(redis_url, fake_upstream.url, LLM_CACHE_TTL="60", LLM_USER_RPM="0")
    (first,) = run_workers(env, tmp_path, [(1, "same question")])
    (second,) = run_workers(env, tmp_path, [(1, "same question")])
    assert (first["cache_hits"], second["cache_hits"]) == (0, 1)
    assert len(fake_upstream.requests) == 1
