"""Test settings: the project's settings read from a fixed test environment."""

import os

_TEST_ENV = {
    "SECRET_KEY": "tests-only-secret-key",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
    "DATABASE_URL": os.environ.get("TEST_DATABASE_URL", "sqlite:///:memory:"),
    "REDIS_URL": "",
    "OPENAI_API_KEY": "",
    "OPENAI_BASE_URL": "",
    "LLM_MODEL": "",
    "LLM_MODELS": "",
    "LLM_MAX_RETRIES": "0",
    "LLM_TIMEOUT": "5",
    "LLM_DEMO_TOKEN_DELAY": "0",
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
}
for _name, _value in _TEST_ENV.items():
    os.environ[_name] = _value
for _name in ("LLM_MODEL", "LLM_MODELS"):
    del os.environ[_name]

from chatsite.settings import *  # noqa: E402, F403

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CHAT_CHECKPOINT_INTERVAL = 0.2
# Tests sweep for dead replies themselves (`turns.sweep`), never behind their back.
CHAT_SWEEPER = False
# Gateway layers off unless a test turns them on: the suite's many calls must not
# trip limits meant for people, nor be answered from another test's cache.
LLM_CACHE_TTL = 0
LLM_GLOBAL_RPM = 0
LLM_GLOBAL_TPM = 0
LLM_USER_RPM = 0
CHAT_MESSAGES_PER_MINUTE = 0
CHAT_CONVERSATIONS_PER_MINUTE = 0
LOGIN_RATE = LOGIN_RATE_PER_IP = PASSWORD_RESET_RATE = PASSWORD_RESET_RATE_PER_IP = ""
