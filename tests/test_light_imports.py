"""Importing sensors and operators (what every DAG parse pays for) must not import aiohttp, requests (only a
running task needs it), the sandbox, or another vendor's modules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "airflow_jobstatus.sensors.zendesk",
        "airflow_jobstatus.operators.zendesk",
        "airflow_jobstatus.hooks.zendesk",
        "airflow_jobstatus.sensors.wistia",
        "airflow_jobstatus.operators.wistia",
        "airflow_jobstatus.hooks.wistia",
        "airflow_jobstatus.sensors.tradedesk",
        "airflow_jobstatus.operators.tradedesk",
        "airflow_jobstatus.hooks.tradedesk",
    ],
)
def test_import_stays_light(module: str) -> None:
    vendor = module.rsplit(".", 1)[1]
    others = [v for v in ("zendesk", "wistia", "tradedesk") if v != vendor]
    code = (
        f"import sys, json; import {module}; "
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('aiohttp', 'requests') or m.startswith('airflow_jobstatus.sandbox') "
        f"or any(m.startswith('airflow_jobstatus.hooks.' + v) for v in {others!r}))))"
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
    assert {entry["python-modules"][0] for entry in info["operators"]} == {
        "airflow_jobstatus.operators.zendesk",
        "airflow_jobstatus.operators.wistia",
        "airflow_jobstatus.operators.tradedesk",
    }
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
            assert budget["schema"]["title"] == "Triggerer requests per minute", meta.connection_type
