"""The vendors as the reliability suites see them: each declared vendor (``airflow_jobstatus.vendors``)
with its test driver (tests/vendor_drivers.py: how to make a job, where its status is read, which sensor
waits for it).

``VENDORS`` are the shipped vendors, in their order; ``ALL_VENDORS`` adds every vendor registered in this
process (tests/conftest.py registers the made-up fourth vendor of tests/fourth_vendor).
"""

from __future__ import annotations

from vendor_drivers import Vendor, vendor, vendors_of

from airflow_jobstatus.vendors import built_in, registered

__all__ = ["ALL_VENDORS", "VENDORS", "Vendor", "vendor"]

VENDORS = vendors_of(built_in())
ALL_VENDORS = vendors_of(registered())
