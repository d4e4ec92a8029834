"""The vendor registry (``airflow_jobstatus.vendors``): what Airflow and the sandbox read from it stays what
it was when the vendors were written out by hand, and a vendor registered from elsewhere joins them."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
from fourth_vendor.declaration import DECLARATION as FOURTH_VENDOR
from fourth_vendor.sandbox_store import AcmeSandboxConfig

from airflow_jobstatus import __version__
from airflow_jobstatus.provider_info import get_provider_info
from airflow_jobstatus.sandbox import SandboxServer, SandboxState, ZendeskSandboxConfig
from airflow_jobstatus.sandbox.__main__ import printed_lines
from airflow_jobstatus.vendors import built_in, get, load, register, registered, unregister

SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "provider_info.json"

#: What ``python -m airflow_jobstatus.sandbox`` printed before the registry, after its first line.
PRINTED = [
    "zendesk: email agent@example.com, API token 'sandbox-token' (basic 'agent@example.com/token'), "
    "password 'sandbox-password', OAuth bearer 'sandbox-oauth-token'",
    "wistia: base URL {url}/wistia, bearer API token 'sandbox-wistia-token'",
    "tradedesk: base URL {url}/tradedesk, TTD-Auth token 'sandbox-ttd-token', "
    "results host {url}/tradedesk-results",
]


def test_provider_info_is_the_snapshot_taken_before_the_registry() -> None:
    info = get_provider_info()
    assert info.pop("versions") == [__version__]
    assert info == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_the_sandbox_command_prints_the_lines_it_printed_before_the_registry() -> None:
    command = [sys.executable, "-m", "airflow_jobstatus.sandbox", "--port", "0", "--job-seconds", "0.5"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("sandbox listening on http://127.0.0.1:")
        url = first.rsplit(" ", 1)[1]
        lines = [process.stdout.readline().rstrip("\n") for _ in PRINTED]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
    assert lines == [line.format(url=url) for line in PRINTED]


# ----- the registry -----
def test_the_shipped_vendors_then_the_registered_one() -> None:
    assert [vendor.name for vendor in built_in()] == ["zendesk", "wistia", "tradedesk"]
    assert [vendor.name for vendor in registered()] == ["zendesk", "wistia", "tradedesk", "acme"]
    assert get("acme") is FOURTH_VENDOR and get("acme").conn_env == "AIRFLOW_CONN_ACME_DEFAULT"
    with pytest.raises(KeyError, match="no vendor 'nope' is declared"):
        get("nope")


def test_the_provider_lists_its_own_vendors_and_a_registered_one_has_its_entries() -> None:
    """A vendor registered from elsewhere is not part of this provider (its own package lists it), but its
    declaration gives the same entries the shipped ones give."""
    info = get_provider_info()
    assert "jobstatus_acme" not in {form["connection-type"] for form in info["connection-types"]}
    entry = FOURTH_VENDOR.connection_entry()
    assert entry["hook-class-name"] == "fourth_vendor.hooks.AcmeHook"
    assert entry["ui-field-behaviour"]["relabeling"]["password"] == "API key"
    entry["conn-fields"].clear()  # a copy: the declaration is unchanged
    assert "requests_per_minute" in FOURTH_VENDOR.connection_entry()["conn-fields"]
    assert FOURTH_VENDOR.modules_entry("triggers") == {
        "integration-name": "Acme bulk jobs",
        "python-modules": ["airflow_jobstatus.triggers.job"],
    }


def test_each_declaration_names_the_classes_it_stands_for() -> None:
    """The import paths are right: the hook's connection type, name and default connection are the
    declaration's, and the sandbox paths load."""
    for vendor in registered():
        hook = load(vendor.hook_class)
        assert (hook.conn_type, hook.hook_name, hook.default_conn_name) == (
            vendor.connection.connection_type,
            vendor.connection.hook_name,
            vendor.default_conn_id,
        ), vendor.name
        assert vendor.sandbox is not None
        for path in (vendor.sandbox.config_class, vendor.sandbox.state_class, vendor.sandbox.routes):
            assert callable(load(path)), path


def test_register_refuses_what_another_vendor_has() -> None:
    assert register(FOURTH_VENDOR) is FOURTH_VENDOR  # the same declaration again: nothing happens
    with pytest.raises(ValueError, match="vendor 'acme' is registered already"):
        register(replace(FOURTH_VENDOR, product="Other"))
    with pytest.raises(ValueError, match="has the name of vendor 'zendesk'"):
        register(replace(FOURTH_VENDOR, name="zendesk"))
    with pytest.raises(ValueError, match="connection type 'jobstatus_acme' of vendor 'acme'"):
        register(replace(FOURTH_VENDOR, name="acme2"))
    other_form = replace(FOURTH_VENDOR.connection, connection_type="jobstatus_acme2")
    with pytest.raises(ValueError, match="default connection 'wistia_default' of vendor 'wistia'"):
        register(
            replace(FOURTH_VENDOR, name="acme2", connection=other_form, default_conn_id="wistia_default")
        )
    fresh = replace(
        FOURTH_VENDOR, name="acme2", connection=other_form, default_conn_id="acme2_default", sandbox=None
    )
    try:
        register(fresh)
        assert get("acme2") is fresh
    finally:
        unregister("acme2")
    assert "acme2" not in [vendor.name for vendor in registered()]
    with pytest.raises(KeyError, match="the shipped ones cannot be removed"):
        unregister("zendesk")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Acme Corp"}, "lower-case letters"),
        ({"name": "clock"}, "lower-case letters"),
        ({"hook_class": "AcmeHook"}, "dotted import path"),
        ({"sensor_modules": ("fourth_vendor/sensors.py",)}, "dotted import path"),
        ({"default_conn_id": " "}, "needs a default_conn_id"),
    ],
)
def test_a_declaration_the_registry_could_not_use_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(FOURTH_VENDOR, **changes)


def test_a_sandbox_part_with_a_bad_prefix_is_refused() -> None:
    assert FOURTH_VENDOR.sandbox is not None
    with pytest.raises(ValueError, match="url_prefix must be"):
        replace(FOURTH_VENDOR.sandbox, url_prefix="acme/")


# ----- the sandbox reads the registry -----
def test_a_registered_vendor_is_served_its_store_reachable_and_reset() -> None:
    config = AcmeSandboxConfig(api_token="acme-key", job_seconds=0.0)
    with SandboxServer(vendors=registered(), acme=config) as sandbox:
        store = sandbox.state.store("acme")
        assert sandbox.state.stores["acme"] is store and sandbox.state.names() >= {"zendesk", "acme"}
        headers = {"Authorization": "Bearer acme-key"}
        body = {"operation": "upsert", "items": [{"key": "a"}, {"key": "b-itemfail"}]}
        answer = requests.post(f"{sandbox.url}/acme/v1/bulk_jobs", json=body, headers=headers, timeout=5)
        assert answer.status_code == 202 and answer.json()["job"]["state"] == "queued"
        job_id = answer.json()["job"]["id"]
        job = requests.get(f"{sandbox.url}/acme/v1/bulk_jobs/{job_id}", headers=headers, timeout=5).json()[
            "job"
        ]
        assert job["state"] == "done" and [item["ok"] for item in job["results"]] == [True, False]
        assert requests.get(f"{sandbox.url}/acme/v1/me", timeout=5).status_code == 401
        shown = requests.post(f"{sandbox.url}/_sandbox/acme/config", json={"max_items": 1}, timeout=5).json()
        assert shown == {"job_seconds": 0.0, "max_items": 1, "queued_fraction": 0.2}  # no api_token
        assert sandbox.state.count(path_prefix="/acme/") == 3 and len(store.submits) == 1
        sandbox.reset()
        assert store.jobs == {} and store.submits == [] and store.config.max_items == 50
        assert sandbox.state.count() == 0 and store.config.api_token == "acme-key"


def test_by_default_the_sandbox_emulates_the_shipped_vendors_only() -> None:
    with SandboxServer() as sandbox:
        assert [vendor.name for vendor in sandbox.state.vendors] == ["zendesk", "wistia", "tradedesk"]
        assert requests.get(f"{sandbox.url}/acme/v1/me", timeout=5).status_code == 404  # no such route
        with pytest.raises(KeyError, match="emulates no vendor 'acme'"):
            sandbox.state.store("acme")


def test_configs_are_checked_against_the_vendors() -> None:
    assert SandboxState(ZendeskSandboxConfig(job_seconds=2.0)).zendesk.config.job_seconds == 2.0  # positional
    with pytest.raises(TypeError, match=r"no config for \['acme'\]"):
        SandboxState(acme=AcmeSandboxConfig())  # the shipped vendors only
    with pytest.raises(ValueError, match=r"give either state or vendors and vendor configs \(acme\)"):
        SandboxServer(state=SandboxState(vendors=registered()), acme=AcmeSandboxConfig())


def test_the_printed_lines_come_from_the_declarations() -> None:
    lines = printed_lines("http://h:1", SandboxState(vendors=registered()))
    assert lines == [line.format(url="http://h:1") for line in PRINTED] + [
        "acme: base URL http://h:1/acme, bearer API key 'sandbox-acme-token'"
    ]
