"""A redirect never carries a token anywhere: the API's answer is refused with what to fix, and a result
link (which carries no token at all) may redirect freely."""

from __future__ import annotations

import pytest
from conftest import CANARY_TOKEN
from vendors import ALL_VENDORS, Vendor

from airflow_jobstatus.errors import PermanentVendorError
from airflow_jobstatus.sandbox import SandboxServer


@pytest.mark.parametrize("vendor", [pytest.param(v, id=v.name) for v in ALL_VENDORS])
def test_a_redirect_to_another_host_is_not_followed(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, vendor: Vendor
) -> None:
    for name, value in vendor.env(sandbox).items():
        monkeypatch.setenv(name, value)
    job_id = vendor.create(sandbox, 0.0, None)
    elsewhere = f"http://localhost:{sandbox.port}{vendor.status_path}{job_id}"  # another origin
    sandbox.state.add_fault(vendor.status_path, method="GET", status=302, headers={"Location": elsewhere})
    with pytest.raises(PermanentVendorError) as raised:
        vendor.make_hook().get_job(job_id)
    message = str(raised.value)
    assert f"with a redirect (HTTP 302) to {elsewhere}" in message
    assert "credentials are never sent across a redirect" in message and CANARY_TOKEN not in message
    assert len(sandbox.state.requests) == 1  # the redirect was not followed
