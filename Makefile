# One-command tasks. Each creates .venv and installs what it needs first.
#   make run    web on http://localhost:6400 and a worker (SQLite and a folder
#               as the broker: nothing else needed)
#   make test   ruff and the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-dev run migrate superuser test lint format bench mutation clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "TaskOverflow needs Python 3.11 or newer as $(PYTHON)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV) || \
	  { echo "Could not create $(VENV): on Debian/Ubuntu, apt-get install python3-venv" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.installed

# checkov (the tests run it on terraform/) in a virtualenv of its own: its pins
# conflict with requirements-dev.txt.
$(VENV)/checkov/.installed: requirements-checkov.txt | $(BIN)/python
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/checkov/bin/pip install --quiet -r requirements-checkov.txt
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev $(VENV)/checkov/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

# Both processes of the Procfile; Ctrl-C stops both.
run: migrate
	exec $(BIN)/honcho start -f Procfile

superuser: migrate
	$(BIN)/python manage.py createsuperuser

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles var mutants

# Mutation testing of the fault machinery (docs/mutation.md): mutmut over the
# job lifecycle, tasks, sweeper and throttling, its survivors listed; then the
# hand mutants of settings, Terraform and what only real processes show. Needs
# PostgreSQL and Redis on 127.0.0.1, as the tests do. About 20 minutes on 2 cores.
mutation: install-dev
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	@echo "== mutmut's survivors (docs/mutation.md explains each)"
	@$(BIN)/mutmut results
	@echo "== hand mutants (tests/support/mutants.py)"
	$(BIN)/python -m tests.support.mutants

# Benchmarks print figures; they are not tests. Needs Redis on 127.0.0.1:6379 and
# PostgreSQL on 127.0.0.1:5432 (user postgres, trust), and wrk for the HTTP one
# (apt-get install wrk; without it a slower Python load generator is used).
bench: install-dev
	$(BIN)/python -m bench.calendar_build
	$(BIN)/python -m bench.calendar_job
	$(BIN)/python -m bench.feed_build
	$(BIN)/python -m bench.http_throughput
	$(BIN)/python -m bench.job_latency
