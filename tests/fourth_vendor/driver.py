"""How the vendor-parametrized suites drive the Acme sandbox (tests/vendor_drivers.py)."""

from __future__ import annotations

from typing import cast

from vendor_drivers import VendorDriver

from airflow_jobstatus.sandbox import SandboxServer
from fourth_vendor.sandbox_store import AcmeState


def create(sandbox: SandboxServer, duration: float, unknown: str | None) -> str:
    """A job of three items, working (or reporting ``unknown``) from the start, that ends done."""
    return cast(AcmeState, sandbox.state.store("acme")).create_job(
        duration=duration, queued_for=0, unknown_status=unknown
    )


DRIVER = VendorDriver(
    "acme",
    "fourth_vendor.sensors.AcmeJobSensor",
    "/acme/v1/bulk_jobs/",
    create,
    operator=("fourth_vendor.operators.AcmeBulkOperator", {"items": [{"key": "sku-1"}, {"key": "sku-2"}]}),
    unknown_id="bj_999999",
)
