"""Importing sensors and operators (what every DAG parse pays for) must not import aiohttp, requests (only a
running task needs it), the sandbox, or another vendor's modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_jobstatus.vendors import VendorDeclaration, built_in, get, registered

TESTS = Path(__file__).resolve().parent


def _vendor_modules() -> list[Any]:
    """Every hook, operator and sensor module of every declared vendor (the registry): (vendor, module)."""
    return [
        pytest.param(vendor, module, id=module)
        for vendor in registered()
        for module in (*vendor.sensor_modules, *vendor.operator_modules, vendor.hook_module)
    ]


def _sandbox_modules(vendor: VendorDeclaration) -> list[str]:
    """The modules of a vendor's part of the sandbox."""
    part = vendor.sandbox
    paths = (part.config_class, part.state_class, part.routes) if part is not None else ()
    return sorted({path.rpartition(".")[0] for path in paths})


def heavy_imports(vendor: VendorDeclaration, module: str) -> list[str]:
    """What importing ``module`` (in a fresh interpreter) loads that a module of ``vendor`` must not:
    aiohttp, requests, the sandbox (the package's or any vendor's part of it), another vendor's hooks."""
    forbidden = ["airflow_jobstatus.sandbox", *(m for v in registered() for m in _sandbox_modules(v))]
    forbidden += [other.hook_module for other in registered() if other.name != vendor.name]
    code = (
        f"import sys, json; import {module}; "
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('aiohttp', 'requests') "
        f"or any(m.startswith(prefix) for prefix in {forbidden!r}))))"
    )
    # The vendors declared in tests live in packages under tests/ (tests/fourth_vendor).
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(("vendor", "module"), _vendor_modules())
def test_import_stays_light(vendor: VendorDeclaration, module: str) -> None:
    assert heavy_imports(vendor, module) == []


def test_a_heavy_import_is_seen() -> None:
    """The check can fail: the fourth vendor's sandbox routes load aiohttp and the sandbox."""
    found = heavy_imports(get("acme"), "fourth_vendor.sandbox_routes")
    assert {"aiohttp", "airflow_jobstatus.sandbox", "fourth_vendor.sandbox_store"} <= set(found)


def test_provider_info_is_light_to_import() -> None:
    """Airflow loads the provider info at start-up: it and the registry import the standard library only."""
    code = (
        "import sys, json; from airflow_jobstatus.provider_info import get_provider_info; "
        "get_provider_info(); print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('airflow', 'aiohttp', 'requests', 'pydantic') or m.startswith('airflow_jobstatus.sandbox'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_provider_info_declares_the_connection_form() -> None:
    from airflow_jobstatus.provider_info import get_provider_info

    info = get_provider_info()
    forms = {conn["connection-type"]: conn for conn in info["connection-types"]}
    assert set(forms) == {"jobstatus_zendesk", "jobstatus_wistia", "jobstatus_tradedesk"}
    conn = forms["jobstatus_zendesk"]
    assert conn["connection-type"] == "jobstatus_zendesk" != "zendesk"
    assert conn["hook-class-name"] == "airflow_jobstatus.hooks.zendesk.ZendeskJobHook"
    assert conn["ui-field-behaviour"]["relabeling"] == {
        "host": "Zendesk subdomain or URL",
        "login": "Agent email",
        "password": "API token",
    }
    assert conn["conn-fields"]["oauth_token"]["schema"]["format"] == "password"
    wistia = forms["jobstatus_wistia"]
    assert wistia["hook-class-name"] == "airflow_jobstatus.hooks.wistia.WistiaHook"
    assert wistia["ui-field-behaviour"]["relabeling"]["password"] == "API token"
    assert wistia["conn-fields"]["api_version"]["label"] == "API version"
    assert (
        {entry["python-modules"][0] for entry in info["operators"]}
        == {module for vendor in built_in() for module in vendor.operator_modules}
        == {
            "airflow_jobstatus.operators.zendesk",
            "airflow_jobstatus.operators.wistia",
            "airflow_jobstatus.operators.tradedesk",
        }
    )
    assert "jobstatus_acme" not in forms  # a vendor registered in tests is not part of this provider
    tradedesk = forms["jobstatus_tradedesk"]
    assert tradedesk["ui-field-behaviour"]["relabeling"]["password"] == "TTD-Auth token"
    environment = tradedesk["conn-fields"]["environment"]["schema"]
    assert environment["enum"] == ["production", "sandbox"]  # no literal "null" choice in the form
    assert environment["type"] == ["string", "null"]  # optional: the form shows no "*" after the label
    assert environment["default"] == "production"
    option = info["config"]["jobstatus"]["options"]["result_base_path"]
    assert option["type"] == "string" and option["default"] == ""


def test_airflow_lists_the_provider() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    packages = {row["package_name"]: row for row in json.loads(out.stdout[out.stdout.index("[") :])}
    assert packages["airflow-jobstatus"]["version"] == "0.1.0"


def test_ui_connection_form_shows_labelled_fields() -> None:
    """What the UI's connection form endpoint serves for our type (Airflow reads it from provider info)."""
    import airflow
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
    from packaging.version import Version

    if Version(airflow.__version__) < Version("3.2"):
        pytest.skip("Airflow < 3.2 builds connection forms from hook classmethods, not from provider info")

    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "jobstatus_zendesk"]
    form = meta.model_dump()
    assert form["hook_name"] == "Zendesk (job status)"
    assert form["standard_fields"]["host"]["title"] == "Zendesk subdomain or URL"
    assert form["standard_fields"]["login"]["title"] == "Agent email"
    assert form["standard_fields"]["password"]["title"] == "API token"
    assert form["standard_fields"]["port"]["hidden"] is True
    assert form["extra_fields"]["oauth_token"]["schema"]["title"] == "OAuth access token"
    (wistia,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "jobstatus_wistia"]
    form = wistia.model_dump()
    assert form["hook_name"] == "Wistia (background jobs)"
    assert form["standard_fields"]["host"]["title"] == "API base URL (optional)"
    assert form["standard_fields"]["password"]["title"] == "API token"
    assert form["standard_fields"]["login"]["hidden"] is True
    assert form["extra_fields"]["api_version"]["schema"]["title"] == "API version"
    (tradedesk,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "jobstatus_tradedesk"]
    form = tradedesk.model_dump()
    assert form["standard_fields"]["password"]["title"] == "TTD-Auth token"
    assert form["standard_fields"]["host"]["title"] == "API base URL (optional)"
    assert form["extra_fields"]["environment"]["schema"]["title"] == "Environment"
    for meta in HookMetaService.hook_meta_data():
        if meta.connection_type.startswith("jobstatus_"):
            budget = meta.model_dump()["extra_fields"]["requests_per_minute"]
            assert budget["schema"]["title"] == "Requests per minute", meta.connection_type
            reserve = meta.model_dump()["extra_fields"]["rate_limit_reserve_percent"]
            assert reserve["schema"]["title"] == "Rate limit reserve (%)", meta.connection_type
