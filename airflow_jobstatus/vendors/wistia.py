"""Wistia background jobs (``/background_job_status``): the vendor's declaration."""

from __future__ import annotations

from .declaration import ConnectionForm, SandboxDeclaration, VendorDeclaration, budget_field

DECLARATION = VendorDeclaration(
    name="wistia",
    product="Wistia",
    integration_name="Wistia background jobs",
    docs_url="https://docs.wistia.com/reference/",
    hook_class="airflow_jobstatus.hooks.wistia.WistiaHook",
    operator_modules=("airflow_jobstatus.operators.wistia",),
    sensor_modules=("airflow_jobstatus.sensors.wistia",),
    default_conn_id="wistia_default",
    connection=ConnectionForm(
        connection_type="jobstatus_wistia",
        hook_name="Wistia (background jobs)",
        ui_field_behaviour={
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {"host": "API base URL (optional)", "password": "API token"},
            "placeholders": {
                "host": "https://api.wistia.com/modern",
                "password": "Wistia API token (Account settings > API access)",
            },
        },
        conn_fields={
            "api_version": {
                "label": "API version",
                "description": "Sent as X-Wistia-API-Version (YYYY-MM). Empty: 2026-03.",
                "schema": {"type": ["string", "null"], "pattern": "^(\\d{4}-\\d{2})?$"},
            },
            "requests_per_minute": budget_field(300, "half of the account limit"),
        },
    ),
    sandbox=SandboxDeclaration(
        config_class="airflow_jobstatus.sandbox.wistia_jobs.WistiaSandboxConfig",
        state_class="airflow_jobstatus.sandbox.wistia_jobs.WistiaState",
        routes="airflow_jobstatus.sandbox.wistia.add_routes",
        url_prefix="/wistia",
        printed=("wistia: base URL {url}/wistia, bearer API token {config.api_token!r}",),
    ),
)
