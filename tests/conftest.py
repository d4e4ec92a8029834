"""Shared fixtures: one sandbox for the session, Airflow connections pointing at it, a canary token.

The vendors come from the registry (``airflow_jobstatus.vendors``): the shipped ones, and the made-up
fourth vendor of tests/fourth_vendor, registered here from its one declaration.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_harness import configure_session

# Airflow reads its home, DB and dags folder at import time: configure them before anything imports it.
_AIRFLOW_ROOT = Path(tempfile.mkdtemp(prefix="airflow-tests-"))
atexit.register(shutil.rmtree, _AIRFLOW_ROOT, ignore_errors=True)
configure_session(_AIRFLOW_ROOT)

from fourth_vendor.declaration import DECLARATION as FOURTH_VENDOR  # noqa: E402
from fourth_vendor.driver import DRIVER as FOURTH_VENDOR_DRIVER  # noqa: E402
from vendor_drivers import add_driver  # noqa: E402

from airflow_jobstatus.http.budget import forget_budgets  # noqa: E402
from airflow_jobstatus.sandbox import SandboxServer, SandboxState  # noqa: E402
from airflow_jobstatus.vendors import VendorDeclaration, get, load, register, registered  # noqa: E402

#: The made-up fourth vendor joins the shipped three: in the sandbox, the fault matrix, the reattach and
#: trigger suites (tests/vendor_drivers.py says how the suites drive it).
register(FOURTH_VENDOR)
add_driver(FOURTH_VENDOR_DRIVER)

#: The API token of every test connection: it must never show up in logs, XCom, events or errors.
CANARY_TOKEN = "canary-7f3e9a1c5b-never-log-me"
AGENT_EMAIL = "agent@example.com"


#: Test waits poll several times a second, far above the vendors' default triggerer budgets (100 to 300
#: requests a minute): test connections raise it. tests/test_budget.py tests the defaults.
TEST_BUDGET = {"requests_per_minute": 60000}


def connection_json(**fields: Any) -> str:
    """An ``AIRFLOW_CONN_*`` value (JSON form); a dict ``extra`` is added to the test budget."""
    if isinstance(fields.get("extra", {}), dict):
        fields["extra"] = {**TEST_BUDGET, **fields.get("extra", {})}
    return json.dumps(fields)


def sandbox_connection(vendor: VendorDeclaration | str, url: str, **overrides: Any) -> str:
    """The vendor's connection type pointing at its routes of the sandbox at ``url`` (the declaration's
    ``url_prefix``), with the canary token as its secret and the declaration's other sandbox fields."""
    declaration = get(vendor) if isinstance(vendor, str) else vendor
    assert declaration.sandbox is not None, f"the sandbox does not emulate {declaration.name}"
    fields: dict[str, Any] = {
        "conn_type": declaration.connection.connection_type,
        "host": f"{url}{declaration.sandbox.url_prefix}",
        **declaration.sandbox.connection_fields,
        "password": CANARY_TOKEN,
    }
    fields.update(overrides)
    return connection_json(**fields)


def zendesk_connection(url: str, **overrides: Any) -> str:
    """Our Zendesk connection type pointing at ``url``, with the canary token as API token."""
    return sandbox_connection("zendesk", url, **overrides)


def wistia_connection(url: str, **overrides: Any) -> str:
    """Our Wistia connection type pointing at the sandbox's Wistia routes, with the canary token."""
    return sandbox_connection("wistia", url, **overrides)


def tradedesk_connection(url: str, **overrides: Any) -> str:
    """Our Trade Desk connection type pointing at the sandbox's Trade Desk routes, with the canary token."""
    return sandbox_connection("tradedesk", url, **overrides)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    """One sandbox for the whole run, emulating every registered vendor; every API token is the canary."""
    configs = {
        vendor.name: load(vendor.sandbox.config_class)(api_token=CANARY_TOKEN, job_seconds=1.0)
        for vendor in registered()
        if vendor.sandbox is not None
    }
    with SandboxServer(state=SandboxState(vendors=registered(), **configs)) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    """The session's sandbox, reset to a clean state for this test; after the test, no request it
    received may hold the canary token anywhere the sandbox logs it (path, query, recorded auth). The
    process's rate budgets start afresh too: what the last test's account said does not slow this one."""
    sandbox_server.reset()
    forget_budgets()
    yield sandbox_server
    with sandbox_server.state.lock:
        logged = repr(sandbox_server.state.requests)
    assert CANARY_TOKEN not in logged, "the canary token is in the sandbox's request log"


@pytest.fixture(scope="session", autouse=True)
def _no_canary_left_behind() -> Iterator[None]:
    """At the end of the session (of each pytest-xdist worker), nothing the worker's tests left in its
    metadata DB or under its AIRFLOW_HOME holds the canary token (tests/canary.py)."""
    yield
    from canary import leaks_in_database, leaks_in_files

    leaks = leaks_in_database() + leaks_in_files()
    assert not leaks, f"the canary token was left in: {leaks}"


@pytest.fixture
def vendor_conn(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Point a vendor's default connection at the sandbox: ``vendor_conn("acme", **overrides)`` returns
    the conn id."""

    def connect(name: str, **overrides: Any) -> str:
        declaration = get(name)
        monkeypatch.setenv(declaration.conn_env, sandbox_connection(declaration, sandbox.url, **overrides))
        return declaration.default_conn_id

    return connect


@pytest.fixture
def zendesk_conn(vendor_conn: Callable[..., str]) -> str:
    """``zendesk_default`` pointing at the sandbox (returns the conn id)."""
    return vendor_conn("zendesk")


@pytest.fixture
def wistia_conn(vendor_conn: Callable[..., str]) -> str:
    """``wistia_default`` pointing at the sandbox (returns the conn id)."""
    return vendor_conn("wistia")


@pytest.fixture
def tradedesk_conn(vendor_conn: Callable[..., str]) -> str:
    """``tradedesk_default`` pointing at the sandbox (returns the conn id)."""
    return vendor_conn("tradedesk")


#: Modules of the fast layer that still take seconds a test (subprocess imports, thousands of waits).
SLOW_MODULES = frozenset(
    {
        "test_light_imports",
        "test_cancel_at_load",
        "test_ledger_scale",
        "test_coalesced_polling",
        "test_trigger_event_loop",
    }
)
_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``slow`` what ``make check`` leaves out: tests/e2e, tests/reliability, every test of a module
    that runs whole DAGs (it imports the harness's ``run_dag``, ``run_dag_module`` or ``DagRunResult``), and
    SLOW_MODULES."""
    slow_dirs = (_TESTS / "e2e", _TESTS / "reliability", _TESTS / "cluster")
    for item in items:
        path = Path(str(item.path)).resolve()
        module = getattr(item, "module", None)
        if (
            any(folder in path.parents for folder in slow_dirs)
            or path.stem in SLOW_MODULES
            or (
                module is not None
                and any(hasattr(module, name) for name in ("run_dag", "run_dag_module", "DagRunResult"))
            )
        ):
            item.add_marker(pytest.mark.slow)
