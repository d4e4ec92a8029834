"""The one declaration of the Acme vendor (plain data: nothing here imports Airflow or the sandbox)."""

from __future__ import annotations

from airflow_jobstatus.vendors import ConnectionForm, SandboxDeclaration, VendorDeclaration, budget_field

DECLARATION = VendorDeclaration(
    name="acme",
    product="Acme Bulk",
    integration_name="Acme bulk jobs",
    docs_url="https://api.acme.example/docs/bulk-jobs",
    hook_class="fourth_vendor.hooks.AcmeHook",
    operator_modules=("fourth_vendor.operators",),
    sensor_modules=("fourth_vendor.sensors",),
    default_conn_id="acme_default",
    connection=ConnectionForm(
        connection_type="jobstatus_acme",
        hook_name="Acme (bulk jobs)",
        ui_field_behaviour={
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {"host": "API base URL (optional)", "password": "API key"},
            "placeholders": {"host": "https://api.acme.example", "password": "Acme API key"},
        },
        conn_fields={"requests_per_minute": budget_field(120, "half of the account limit")},
    ),
    sandbox=SandboxDeclaration(
        config_class="fourth_vendor.sandbox_store.AcmeSandboxConfig",
        state_class="fourth_vendor.sandbox_store.AcmeState",
        routes="fourth_vendor.sandbox_routes.add_routes",
        url_prefix="/acme",
        printed=("acme: base URL {url}/acme, bearer API key {config.api_token!r}",),
    ),
)
