# Build, run and test DigiOne. From a fresh clone, `make run` and `make test` do everything.

PYTHON ?= python3
VENV := .venv
INSTALLED := $(VENV)/.installed
TEST_DATABASE := digione_test
TEST_DATABASE_URL := postgresql://postgres@127.0.0.1:5432/$(TEST_DATABASE)
PYTEST_ARGS ?=

.DEFAULT_GOAL := venv
.PHONY: venv lock run check test durations bench clean

venv: $(INSTALLED)

# Versions come from constraints.txt (`make lock` writes it), so every machine and CI get
# the set the suite passed with. The stamp is written last, once the install succeeded, and
# lives inside .venv: a venv that ensure-venv.sh finds broken is made anew, stamp and all.
$(INSTALLED): pyproject.toml constraints.txt
	bash scripts/ensure-venv.sh $(PYTHON) $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

# After changing a dependency in pyproject.toml (or upgrading one in .venv): installs what
# pyproject.toml asks for, unconstrained, and pins what .venv then holds.
lock:
	bash scripts/ensure-venv.sh $(PYTHON) $(VENV)
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	{ echo "# Exact versions of every dependency, for pip install -c (see the Makefile)."; \
	  echo "# Written by make lock from a working .venv; do not edit by hand."; \
	  $(VENV)/bin/python -m pip freeze --exclude-editable | grep -iv '^digione[ =@]'; \
	} > constraints.txt.new
	mv constraints.txt.new constraints.txt
	touch $(INSTALLED)

run: venv
	$(VENV)/bin/digione serve --demo

# The gates, before any test: lint, formatting and strict typing of the whole project.
check: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The browser tests (tests/web) drive Debian's chromium; Playwright never downloads one
# (scripts/ensure-chromium.sh installs it as root, else says what to run and leaves them out).
# Four workers on two cores: most tests wait on PostgreSQL and the broker, not the CPU;
# whole files go to one worker, so a module's fixtures are built once, heaviest modules
# first (tests/module_order.py) so that the workers finish together.
PYTEST_RUN = $(VENV)/bin/python -m pytest -q -n 4 --dist loadfile --no-loadscope-reorder

test: venv check
	bash scripts/ensure-postgres.sh $(TEST_DATABASE)
	browser_args="$$(bash scripts/ensure-chromium.sh)" && \
	DIGIONE_TEST_DATABASE_URL=$(TEST_DATABASE_URL) $(PYTEST_RUN) $$browser_args $(PYTEST_ARGS)

# The whole suite, then each module's seconds into tests/durations.json (the order above).
durations: venv
	bash scripts/ensure-postgres.sh $(TEST_DATABASE)
	browser_args="$$(bash scripts/ensure-chromium.sh)" && \
	DIGIONE_TEST_DATABASE_URL=$(TEST_DATABASE_URL) $(PYTEST_RUN) $$browser_args \
	  --junitxml=var/test-durations.xml $(PYTEST_ARGS)
	$(VENV)/bin/python scripts/test-durations.py var/test-durations.xml tests/durations.json

bench: venv
	$(VENV)/bin/digione bench

# Keeps .venv; stops the throwaway test cluster (if any) before deleting var/ under it.
clean:
	bash scripts/ensure-postgres.sh --stop
	rm -rf var/ test-artifacts/ .pytest_cache/ .mypy_cache/ .ruff_cache/
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
