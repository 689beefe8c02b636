# Set-up and checks. Every target creates .venv and installs what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint format typecheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/orchestra run examples/research_team.py:team "Brief me on heat pumps for old houses"
	$(BIN)/orchestra run examples/replan_demo.py:team "Write a launch note for our new API"

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) typecheck

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# mypy cannot follow setuptools' package-dir mapping (orchestra.agents lives in agents/),
# so it checks an installed copy of the package, where the layout is the real one.
typecheck: $(STAMP)
	rm -rf .typecheck
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation --target .typecheck/site .
	cd .typecheck/site && ../../$(BIN)/mypy --config-file ../../pyproject.toml -p orchestra

clean:
	rm -rf $(VENV) .typecheck build *.egg-info .pytest_cache .ruff_cache .mypy_cache
