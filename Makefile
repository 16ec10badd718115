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

test: lint
	$(BIN)/pytest -n 2 --dist loadfile --durations=25

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
