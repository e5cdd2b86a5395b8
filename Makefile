# Loupe. A fresh machine needs only `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
EMULATOR_PORT ?= 8765
export PORT EMULATOR_PORT

.PHONY: install run web worker beat migrate emulate test lint format bench loadtest clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

## Serve on http://127.0.0.1:$(PORT): web + Celery worker (+ the emulator when no key is set).
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py ensure_local_account
	$(BIN)/python manage.py library_demo
	./scripts/run-local.sh

## Production shape, one part at a time, each exactly as compose.yaml runs it (set
## DATABASE_URL and CELERY_BROKER_URL first). Stop or kill one; the others carry on.
migrate: install
	$(BIN)/python manage.py migrate --noinput

web: migrate
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	./scripts/web.sh

worker: install
	./scripts/worker.sh

beat: install
	./scripts/beat.sh

## Only the provider emulator, on $(EMULATOR_PORT).
emulate: install
	$(BIN)/python -m webapp.emulator --host 127.0.0.1 --port $(EMULATOR_PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy webapp tests bench

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install lint
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m bench

## A bounded Locust run against a running Loupe (LOADTEST_HOST, default http://127.0.0.1:$(PORT)).
loadtest: install
	./scripts/loadtest.sh

clean:
	rm -rf var/broker var/media var/staticfiles .pytest_cache .mypy_cache .ruff_cache
