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

.PHONY: install run test system-deps bench clean mutate

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
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

clean:
	rm -rf $(VENV) .pytest_cache
