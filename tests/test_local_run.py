"""`make run`: the port is a variable, and how to log in is printed last, boxed."""

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[1]


def login_box(settings, **options) -> list[str]:
    settings.DEBUG = True
    out = io.StringIO()
    call_command("ensure_local_login", stdout=out, no_color=True, **options)
    return out.getvalue().strip().splitlines()


@pytest.mark.django_db
def test_an_empty_database_gets_a_login_printed_in_a_box(settings):
    lines = login_box(settings, url="http://127.0.0.1:8001/")
    assert lines[0] == lines[-1] and set(lines[0]) == {"+", "-"}
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines[1:-1])
    assert len({len(line) for line in lines}) == 1
    text = "\n".join(lines)
    password = text.split("Password: ")[1].split()[0]
    assert "http://127.0.0.1:8001/" in text and "Username: admin" in text
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert "manage.py changepassword admin" in text


@pytest.mark.django_db
def test_later_runs_say_how_to_log_in_and_reset_without_a_password(settings):
    login_box(settings)
    text = "\n".join(login_box(settings))
    assert "Log in as admin" in text and "manage.py changepassword admin" in text
    assert "Password:" not in text
    assert get_user_model().objects.count() == 1


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_make_run_takes_the_port_from_port_and_defaults_to_8000():
    def commands(*args: str) -> str:
        done = subprocess.run(
            ["make", "-n", "run", *args],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout

    assert "runserver 127.0.0.1:8001" in commands("PORT=8001")
    assert "--url http://127.0.0.1:8001/" in commands("PORT=8001")
    assert "runserver 127.0.0.1:8000" in commands()
