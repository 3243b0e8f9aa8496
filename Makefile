# make run  — install, create the SQLite database, load reference and demo data, serve on 127.0.0.1:$(PORT)
#             with the background job worker beside it
# make test — install what the tests need (Debian packages too, where allowed) and run the whole suite
PYTHON ?= python3
VENV ?= .venv
PORT ?= 5000
FLASK := $(VENV)/bin/flask --app app
# Tests run on SQLite unless TEST_DATABASE_URL names a PostgreSQL database.
TEST_DATABASE_URL ?=
PYTEST_ARGS ?=

.PHONY: install run test system-deps bench clean mutate lock

# Exact versions with their hashes (requirements-test.lock, made by `make lock`): two machines
# installed a week apart run the same code. The portal itself goes in without dependencies.
$(VENV)/.installed: pyproject.toml requirements-test.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements-test.lock
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed

# The job worker (SMS, sheets) runs beside the web server and stops with it.
run: install
	$(FLASK) init-db
	$(FLASK) demo --if-empty
	$(FLASK) worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

system-deps:
	@bash scripts/system-deps.sh

test: install system-deps
	TEST_DATABASE_URL='$(TEST_DATABASE_URL)' $(VENV)/bin/pytest $(PYTEST_ARGS)

# make mutate — mutation testing of the rule, workflow, form-rule and parsing modules (setup.cfg
# [mutmut] lists them and their tests); by hand, not in CI. MUTANTS narrows the run, e.g.
# make mutate MUTANTS='portal.params*'. mutmut is installed here, pinned, and not in the test extra:
# CI and `make test` never use it.
MUTANTS ?=
mutate: install
	$(VENV)/bin/pip install --quiet 'mutmut==3.8.1'
	$(VENV)/bin/mutmut run $(if $(MUTANTS),'$(MUTANTS)'); $(VENV)/bin/mutmut results

# make bench — the load generator of `python -m bench.load` (Locust, the bench extra) added to the
# virtualenv from requirements-bench.lock: by hand only, never in CI or production.
bench: install
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements-bench.lock

# make lock — after a change of pyproject.toml's dependencies: pin every package with its hashes,
# for production (requirements.lock), the tests (requirements-test.lock) and the load bench
# (requirements-bench.lock, held to the test lock's versions so that `make bench` changes none of them).
LOCK := $(VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links
lock: install
	$(VENV)/bin/pip install --quiet 'pip-tools==7.6.2'
	$(LOCK) --output-file=requirements.lock pyproject.toml
	$(LOCK) --extra=test --output-file=requirements-test.lock pyproject.toml
	$(LOCK) --extra=bench --constraint=requirements-test.lock --output-file=requirements-bench.lock pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache
