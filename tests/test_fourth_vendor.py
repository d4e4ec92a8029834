"""The made-up fourth vendor's hook against the sandbox (tests/fourth_vendor): what the shared suites do
not already cover (the connection test, a refused submit, the end states it maps to)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import CANARY_TOKEN
from fourth_vendor.hooks import AcmeHook

from airflow_jobstatus.core.models import JobState
from airflow_jobstatus.errors import PermanentVendorError
from airflow_jobstatus.sandbox import SandboxServer


def test_the_connection_test_says_what_is_wrong(vendor_conn: Callable[..., str]) -> None:
    vendor_conn("acme")
    ok, message = AcmeHook().test_connection()
    assert ok and message.startswith("connected to Acme at http://127.0.0.1:") and message.endswith("/acme")
    vendor_conn("acme", password="revoked-key")
    ok, message = AcmeHook().test_connection()
    assert not ok and "rejected by Acme (HTTP 401" in message and "revoked-key" not in message


def test_a_refused_submit_names_what_and_why(sandbox: SandboxServer, vendor_conn: Callable[..., str]) -> None:
    vendor_conn("acme")
    items = [{"key": f"k{i}"} for i in range(51)]
    with pytest.raises(PermanentVendorError) as raised:
        AcmeHook().submit_bulk("upsert", items)
    assert str(raised.value) == (
        "Acme refused a bulk upsert of 51 items (POST /v1/bulk_jobs, HTTP 422): at most 50 items per job"
    )
    assert sandbox.state.store("acme").submits == [] and CANARY_TOKEN not in str(raised.value)


def test_end_states_partial_and_failed(sandbox: SandboxServer, vendor_conn: Callable[..., str]) -> None:
    vendor_conn("acme")
    acme = sandbox.state.store("acme")
    partial = acme.create_job(keys=["a", "b-itemfail", "c"], duration=0)
    failed = acme.create_job(outcome="failed", duration=0)
    running = acme.create_job(duration=60, queued_for=0)
    jobs = AcmeHook().get_jobs([partial, failed, running])
    assert [job.state for job in jobs] == [JobState.PARTIAL, JobState.FAILED, JobState.RUNNING]
    assert [(item.index, item.id) for item in jobs[0].failed_items] == [(1, "b-itemfail")]
    assert jobs[1].message == "the job failed (sandbox marker)" and jobs[1].results == []
    assert (jobs[2].progress, jobs[2].total, jobs[2].vendor_status) == (0, 3, "working")
