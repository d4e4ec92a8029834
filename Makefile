# Everything a fresh machine needs: `make demo` and `make test` create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CODE := airflow_jobstatus tests example_dags scripts benchmarks
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: venv test check lint types unit compat demo sandbox bench clean airflow browser

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

# pytest-xdist: every test may run in any of the workers; tests/e2e stays in one (loadgroup).
PYTEST_WORKERS ?= 4
# The whole suite waits more than it computes (jobs, retries, a real Airflow): on 2 cores 6 workers finish
# it about a fifth sooner than 4; the edit loop (check) keeps 4, whose start-up costs less.
UNIT_WORKERS ?= 6

unit: venv
	$(BIN)/pytest -n $(UNIT_WORKERS) --dist loadgroup

# The edit loop: lint, types and the fast layer (no e2e, reliability, soak or whole-DAG runs).
check: lint types
	$(BIN)/pytest -n $(PYTEST_WORKERS) -m "not slow"

test: lint types unit compat

# The oldest Airflow we claim (3.1.0) in its own .venv-compat: imports, providers list, one example DAG.
compat: venv
	$(BIN)/python scripts/compat_smoke.py

demo: venv
	$(BIN)/python scripts/demo.py

sandbox: venv
	$(BIN)/python -m airflow_jobstatus.sandbox

# The sandbox and a real local Airflow (UI on :8080, AIRFLOW_HOME .airflow/local) until Ctrl-C.
airflow: venv
	$(BIN)/python scripts/local_airflow.py

# Production-like: PostgreSQL, Redis (Debian's packages, installed when missing), the CeleryExecutor with two
# workers and two triggerers, the sandbox and the example DAGs, all in a temporary directory until Ctrl-C.
.PHONY: cluster
cluster: venv
	bash scripts/install_services.sh
	$(BIN)/python scripts/make_cluster.py

# Headless Chromium and chromedriver from Debian for tests/e2e/test_ui.py (apt-get; root or sudo).
browser:
	bash scripts/install_browser.sh

# The benchmarks of issue 8 with their anchors (the `bench` extra): writes benchmarks/RESULTS.md (~10 min).
$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/uv pip install --python $(BIN)/python --quiet -e ".[test,bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .venv-compat .airflow .pytest_cache .mypy_cache .ruff_cache
