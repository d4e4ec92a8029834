# Everything a fresh machine needs: `make demo` and `make test` create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CODE := airflow_jobstatus tests example_dags scripts

.PHONY: venv test lint types unit demo sandbox clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet -e ".[test]"
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

types: venv
	$(BIN)/mypy airflow_jobstatus

unit: venv
	$(BIN)/pytest

test: lint types unit

demo: venv
	$(BIN)/python scripts/demo.py

sandbox: venv
	$(BIN)/python -m airflow_jobstatus.sandbox

clean:
	rm -rf $(VENV) .airflow .pytest_cache .mypy_cache .ruff_cache
