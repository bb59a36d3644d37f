# kesu — two commands do all the set-up: `make run` (with the tokens in .env) runs the bot,
# `make test` runs the tests; both install what they need first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run lint test bench clean

install: $(STAMP)

# Re-install whenever the dependency list changes; a fresh clone starts here.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "kesu needs Python >= 3.11, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/kesu run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot storage

# Two workers, each taking the next test as it finishes (worksteal): the process tests spend
# most of their time waiting, and one long test no longer holds up a finished worker.
test: lint
	$(BIN)/pytest -n 2 --dist worksteal

bench: install
	$(BIN)/python bench/case_numbers.py
	$(BIN)/python bench/classify.py
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/desk.py
	$(BIN)/python bench/sweep.py
	$(BIN)/python bench/bursts.py
	$(BIN)/python bench/inbox_kill.py
	$(BIN)/python bench/two_instances.py --customers 50

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
