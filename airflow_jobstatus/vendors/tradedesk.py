"""The Trade Desk Workflows jobs (GraphQL bulk queries, standard and legacy bulk jobs): the vendor's
declaration."""

from __future__ import annotations

from .declaration import ConnectionForm, SandboxDeclaration, VendorDeclaration, budget_field

DECLARATION = VendorDeclaration(
    name="tradedesk",
    product="The Trade Desk",
    integration_name="The Trade Desk Workflows jobs",
    docs_url="https://github.com/thetradedesk/ttd-workflows-python",
    hook_class="airflow_jobstatus.hooks.tradedesk.TradeDeskHook",
    operator_modules=("airflow_jobstatus.operators.tradedesk",),
    sensor_modules=("airflow_jobstatus.sensors.tradedesk",),
    default_conn_id="tradedesk_default",
    connection=ConnectionForm(
        connection_type="jobstatus_tradedesk",
        hook_name="The Trade Desk (Workflows jobs)",
        ui_field_behaviour={
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {"host": "API base URL (optional)", "password": "TTD-Auth token"},
            "placeholders": {
                "host": "empty: chosen by Environment",
                "password": "The Trade Desk API token, sent as the TTD-Auth header",
            },
        },
        conn_fields={
            "environment": {
                "label": "Environment",
                "description": "production (api.thetradedesk.com) or sandbox (ext-api.sb.thetradedesk.com).",
                # Nullable type: the UI then shows the field as optional (no "*"); a cleared field means
                # production. No None in the enum: the UI would offer it as a literal "null" choice.
                "schema": {
                    "type": ["string", "null"],
                    "enum": ["production", "sandbox"],
                    "default": "production",
                    "values_display": {
                        "production": "production (api.thetradedesk.com)",
                        "sandbox": "sandbox (ext-api.sb.thetradedesk.com)",
                    },
                },
            },
            "requests_per_minute": budget_field(300, "no documented limit"),
        },
    ),
    sandbox=SandboxDeclaration(
        config_class="airflow_jobstatus.sandbox.tradedesk_jobs.TradeDeskSandboxConfig",
        state_class="airflow_jobstatus.sandbox.tradedesk_jobs.TradeDeskState",
        routes="airflow_jobstatus.sandbox.tradedesk.add_routes",
        url_prefix="/tradedesk",
        printed=(
            "tradedesk: base URL {url}/tradedesk, TTD-Auth token {config.api_token!r}, "
            "results host {url}/tradedesk-results",
        ),
    ),
)
