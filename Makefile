# Build, run and test DigiOne. From a fresh clone, `make run` and `make test` do everything.

PYTHON ?= python3
VENV := .venv
INSTALLED := $(VENV)/.installed
TEST_DATABASE := digione_test
TEST_DATABASE_URL := postgresql://postgres@127.0.0.1:5432/$(TEST_DATABASE)
PYTEST_ARGS ?=

.DEFAULT_GOAL := venv
.PHONY: venv run check test bench clean

venv: $(INSTALLED)

# The stamp is newer than pyproject.toml once the install succeeded, so reruns are fast.
$(INSTALLED): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

run: venv
	$(VENV)/bin/digione serve --demo

# The gates, before any test: lint, formatting and strict typing of the whole project.
check: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The browser tests (tests/web) drive Debian's chromium; Playwright never downloads one.
# Four workers on two cores: most tests wait on PostgreSQL and the broker, not the CPU;
# whole files go to one worker, so a module's fixtures are built once.
test: venv check
	bash scripts/ensure-postgres.sh $(TEST_DATABASE)
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
	DIGIONE_TEST_DATABASE_URL=$(TEST_DATABASE_URL) $(VENV)/bin/python -m pytest -q -n 4 --dist loadfile $(PYTEST_ARGS)

bench: venv
	$(VENV)/bin/digione bench

# Keeps .venv; stops the throwaway test cluster (if any) before deleting var/ under it.
clean:
	bash scripts/ensure-postgres.sh --stop
	rm -rf var/ test-artifacts/ .pytest_cache/ .mypy_cache/ .ruff_cache/
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
