"""Zendesk Support bulk jobs (``/api/v2/job_statuses``): the vendor's declaration."""

from __future__ import annotations

from .declaration import ConnectionForm, SandboxDeclaration, VendorDeclaration, budget_field, secret_field

DECLARATION = VendorDeclaration(
    name="zendesk",
    product="Zendesk Support",
    integration_name="Zendesk job statuses",
    docs_url="https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/",
    hook_class="airflow_jobstatus.hooks.zendesk.ZendeskJobHook",
    operator_modules=("airflow_jobstatus.operators.zendesk",),
    sensor_modules=("airflow_jobstatus.sensors.zendesk",),
    default_conn_id="zendesk_default",
    connection=ConnectionForm(
        connection_type="jobstatus_zendesk",
        hook_name="Zendesk (job status)",
        ui_field_behaviour={
            "hidden-fields": ["schema", "port"],
            "relabeling": {
                "host": "Zendesk subdomain or URL",
                "login": "Agent email",
                "password": "API token",
            },
            "placeholders": {
                "host": "yoursubdomain.zendesk.com",
                "login": "agent@example.com",
                "password": "Zendesk API token (Admin Center > Apps and integrations > Zendesk API)",
            },
        },
        conn_fields={
            "oauth_token": secret_field(
                "OAuth access token",
                "Sent as 'Authorization: Bearer'; used instead of the API token when set.",
            ),
            "requests_per_minute": budget_field(100, "half of the Team plan's account limit"),
        },
    ),
    sandbox=SandboxDeclaration(
        config_class="airflow_jobstatus.sandbox.zendesk_jobs.ZendeskSandboxConfig",
        state_class="airflow_jobstatus.sandbox.zendesk_jobs.ZendeskState",
        routes="airflow_jobstatus.sandbox.zendesk.add_routes",
        url_prefix="",
        printed=(
            "zendesk: email {config.email}, API token {config.api_token!r} (basic '{config.email}/token'), "
            "password {config.password!r}, OAuth bearer {config.oauth_token!r}",
        ),
        connection_fields={"login": "agent@example.com"},
    ),
)
