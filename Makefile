# orb-finance: the two commands a new user needs are `make demo` and `make test`.
SHELL      := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON     ?= python3.11
VENV       := .venv
BIN        := $(VENV)/bin
PIP_FLAGS  := --disable-pip-version-check --no-input -q
export DO_NOT_TRACK := 1
export DBT_USE_COLORS := false
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

# Fall back to python3 when python3.11 is not on PATH (checked: it must still be 3.11).
ifeq ($(shell command -v $(PYTHON) 2>/dev/null),)
PYTHON := python3
endif

.PHONY: venv demo test test-fast test-spark bench docs clean constraints

$(BIN)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "orb-finance needs Python 3.11, got " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) -c constraints.txt -e '.[test]' 2>&1 | sed '/^WARNING: Location/d'
	$(BIN)/python -c 'import dbt.adapters.duckdb, orb_finance'
	@touch $@

venv: $(BIN)/.installed

## make demo: install, then the nightly on a sample Orb export: warehouse, Beancount books, reports (build/demo/)
demo: venv
	$(BIN)/orbfin demo

## make test: install if needed, then run every test (pytest drives real dbt, DuckDB, bean-check, Tryton), in two
## sessions side by side (pytest-xdist, one test file per session at a time): dbt's per-node work holds one core
TEST_WORKERS ?= 2
test: venv
	$(BIN)/python -m pytest tests/python -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=20

## make test-spark: the same models on Spark (local pyspark, Java 17): every mart equal to DuckDB's
$(BIN)/.spark-installed: $(BIN)/.installed pyproject.toml constraints.txt
	$(BIN)/pip install $(PIP_FLAGS) -c constraints.txt -e '.[test,spark]' 2>&1 | sed '/^WARNING: Location/d'
	@touch $@

test-spark: $(BIN)/.spark-installed
	$(BIN)/python -m pytest tests/spark -v -s

test-fast: venv
	$(BIN)/python -m pytest tests/python -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow and not tryton"

## make docs: dbt docs of the warehouse (after make demo): build/docs/static_index.html, one self-contained page
docs: venv
	$(BIN)/orbfin docs --out build/docs

bench: venv
	$(BIN)/python scripts/bench.py

clean:
	rm -rf target logs build warehouse/*.duckdb

constraints: venv
	{ echo "# Every package make installs, pinned (pip install -c constraints.txt). Regenerate with: make constraints"; \
	  $(BIN)/pip freeze --exclude-editable; } > constraints.txt
