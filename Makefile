# The two commands the README starts with: `make run` and `make test`.
PYTHON ?= python3
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint check pytest benchmark

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# Runs the app at http://127.0.0.1:$(PORT) (8000 unless `make run PORT=8001`) on the
# embedded defaults (SQLite, in-memory channel layer, demo model), creating a local
# login on an empty database; how to log in is printed last, boxed.
run: $(VENV)/.installed
	@DEBUG=true $(BIN)/python manage.py migrate --noinput --verbosity 0
	@DEBUG=true $(BIN)/python manage.py recover_replies --all
	@DEBUG=true $(BIN)/python manage.py ensure_local_login --url http://127.0.0.1:$(PORT)/
	@DEBUG=true $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

check: $(VENV)/.installed
	DEBUG=true $(BIN)/python manage.py check
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run
	SECRET_KEY=check-deploy-only-key-0123456789abcdefghijklmnopqrstuvwxyz \
		ALLOWED_HOSTS=chat.example.com $(BIN)/python manage.py check --deploy --fail-level WARNING

pytest: $(VENV)/.installed
	$(BIN)/python -m pytest

# Streaming figures against the raw SDK (see docs/benchmarks.md); not part of `make test`.
benchmark: $(VENV)/.installed
	$(BIN)/python -m benchmarks.streaming $(ARGS)

# Everything: lint, Django checks, migrations, every test (browser tests included).
test: lint check pytest
