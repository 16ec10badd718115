# The two commands: `make run` and `make test`. Both set up .venv on first use.
# `make run ERP=tryton` runs the stack on a real Tryton instead of the reference ERP.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ERP ?= reference
STAMP := $(VENV)/.installed-stamp

.PHONY: run test install lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[dev,tryton]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/continuum up --erp $(ERP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# --tb=native: Python 3.11.7 can raise SystemError ("AST constructor recursion depth mismatch",
# python/cpython#106905) while pytest parses source for a failure's traceback, which aborts the
# whole run (pytest-dev/pytest#10874); the standard library's traceback parses nothing.
test: lint
	$(BIN)/pytest -n 2 --dist loadfile --durations=25 --tb=native

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
