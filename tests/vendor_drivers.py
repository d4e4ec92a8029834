"""How the vendor-parametrized suites drive each declared vendor: its declaration (the registry,
``airflow_jobstatus.vendors``) joined to a test driver (what only tests need: where status reads go, how
to make a job in the sandbox, an operator case, an id no job has).

The shipped vendors' drivers are here; a vendor declared in tests brings its own and adds it with
:func:`add_driver` next to its ``register()`` (tests/conftest.py does so for tests/fourth_vendor).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.vendors import VendorDeclaration, get, load

#: Make a job of ``duration`` seconds in the sandbox that reads as running (or as ``unknown``, a status
#: word the vendor never documented) from the start and ends well; return its id.
CreateJob = Callable[[SandboxServer, float, "str | None"], str]


@dataclass(frozen=True)
class VendorDriver:
    """What the tests need to drive one vendor's sandbox, beyond its declaration."""

    name: str
    #: Import path of the sensor class the fault matrix runs.
    sensor: str
    #: Path prefix of the status reads (faults are injected there, reads are counted there).
    status_path: str
    create: CreateJob
    #: An operator that submits one job: import path and keyword arguments.
    operator: tuple[str, dict[str, Any]]
    #: A job id of the vendor's shape that no job has.
    unknown_id: str
    #: Keyword arguments the sensor needs besides job_id, as DAG source (the Trade Desk's job_kind).
    sensor_kwargs: str = ""
    #: Keyword arguments of the hook besides the connection (the Trade Desk's job_kind).
    hook_params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Vendor:
    """One vendor as the suites see it: its declaration and its test driver."""

    declaration: VendorDeclaration
    driver: VendorDriver

    @property
    def name(self) -> str:
        """The vendor's short name (``zendesk``)."""
        return self.declaration.name

    @cached_property
    def hook(self) -> Any:
        """The hook class (imported on first use)."""
        return load(self.declaration.hook_class)

    @property
    def display(self) -> str:
        """The vendor as messages name it (the hook's ``vendor``: "The Trade Desk")."""
        return str(self.hook.vendor)

    @property
    def sensor(self) -> str:
        """Import path of the sensor class."""
        return self.driver.sensor

    @property
    def sensor_kwargs(self) -> str:
        """The sensor's keyword arguments besides job_id, as DAG source."""
        return self.driver.sensor_kwargs

    @property
    def conn_arg(self) -> str:
        """The name of the sensor's and operator's connection argument (``zendesk_conn_id``)."""
        return str(self.hook.conn_name_attr)

    @property
    def conn_env(self) -> str:
        """The ``AIRFLOW_CONN_*`` variable of the default connection."""
        return self.declaration.conn_env

    @property
    def status_path(self) -> str:
        """Path prefix of the status reads."""
        return self.driver.status_path

    def connection(self, url: str, **overrides: Any) -> str:
        """The default connection pointing at a sandbox at ``url`` (JSON ``AIRFLOW_CONN_*`` value)."""
        from conftest import sandbox_connection  # conftest imports this module: not at import time

        return sandbox_connection(self.declaration, url, **overrides)

    def env(self, sandbox: SandboxServer, **overrides: Any) -> dict[str, str]:
        """``AIRFLOW_CONN_*`` pointing at the sandbox."""
        return {self.conn_env: self.connection(sandbox.url, **overrides)}

    def create(self, sandbox: SandboxServer, duration: float, unknown: str | None) -> str:
        """Make a job in the sandbox (see :data:`CreateJob`)."""
        return self.driver.create(sandbox, duration, unknown)

    def store(self, sandbox: SandboxServer) -> Any:
        """The vendor's store in the sandbox."""
        return sandbox.state.store(self.name)

    def submits(self, sandbox: SandboxServer) -> int:
        """How many job-creating requests the sandbox accepted for this vendor."""
        return len(self.store(sandbox).submits)

    def make_hook(self, conn_id: str | None = None) -> Any:
        """A hook on ``conn_id`` (default: the vendor's default connection)."""
        return self.hook(conn_id or self.declaration.default_conn_id, **self.driver.hook_params)


def _zendesk(sandbox: SandboxServer, duration: float, unknown: str | None) -> str:
    return sandbox.state.zendesk.create_job(total=3, duration=duration, queued_for=0, unknown_status=unknown)


def _wistia(sandbox: SandboxServer, duration: float, unknown: str | None) -> str:
    sandbox.state.wistia.config.queued_fraction = 0.0  # running (or its unknown word) from the start
    return str(sandbox.state.wistia.create_job(duration=duration, unknown_status=unknown))


def _tradedesk(sandbox: SandboxServer, duration: float, unknown: str | None) -> str:
    return sandbox.state.tradedesk.create_job(kind="standard", duration=duration, unknown_status=unknown)


_DRIVERS: dict[str, VendorDriver] = {
    driver.name: driver
    for driver in (
        VendorDriver(
            "zendesk",
            "airflow_jobstatus.sensors.zendesk.ZendeskJobSensor",
            "/api/v2/job_statuses/",
            _zendesk,
            operator=(
                "airflow_jobstatus.operators.zendesk.ZendeskBulkOperator",
                {
                    "resource": "tickets",
                    "action": "update_many",
                    "items": [1, 2, 3],
                    "change": {"status": "solved"},
                },
            ),
            unknown_id="00000000000000000000000000000000",
        ),
        VendorDriver(
            "wistia",
            "airflow_jobstatus.sensors.wistia.WistiaJobSensor",
            "/wistia/background_job_status/",
            _wistia,
            operator=(
                "airflow_jobstatus.operators.wistia.WistiaBulkTagOperator",
                {"hashed_ids": ["a1"], "tag_names": ["t"]},
            ),
            unknown_id="999999999",
        ),
        VendorDriver(
            "tradedesk",
            "airflow_jobstatus.sensors.tradedesk.TradeDeskJobSensor",
            "/tradedesk/standardjob/",
            _tradedesk,
            operator=(
                "airflow_jobstatus.operators.tradedesk.TradeDeskGraphQLBulkQueryOperator",
                {"query": "query { a }"},
            ),
            unknown_id="999999999",
            sensor_kwargs='job_kind="standard", ',
            hook_params={"job_kind": "standard"},
        ),
    )
}


def add_driver(driver: VendorDriver) -> None:
    """Add the test driver of a vendor registered outside the package (once per name)."""
    if _DRIVERS.get(driver.name, driver) != driver:
        raise ValueError(f"vendor {driver.name!r} has another test driver already")
    _DRIVERS[driver.name] = driver


def vendor(name: str) -> Vendor:
    """The vendor ``name`` (declared and with a test driver)."""
    return vendors_of([get(name)])[0]


def vendors_of(declarations: Sequence[VendorDeclaration]) -> list[Vendor]:
    """The vendors of these declarations; a declared vendor without a test driver is an error naming it."""
    missing = [d.name for d in declarations if d.name not in _DRIVERS]
    if missing:
        raise LookupError(f"vendors {missing} are declared but have no test driver: add_driver() them")
    return [Vendor(declaration, _DRIVERS[declaration.name]) for declaration in declarations]
