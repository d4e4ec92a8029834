"""Provider metadata read by Airflow (entry point ``apache_airflow_provider``), including connection forms."""

from __future__ import annotations

from typing import Any

from airflow_jobstatus import __version__

ZENDESK = "Zendesk job statuses"
WISTIA = "Wistia background jobs"
TRADEDESK = "The Trade Desk Workflows jobs"
_SECRET = {"type": ["string", "null"], "format": "password"}


def _budget_field(default: int, why: str) -> dict[str, Any]:
    """The form field of the triggerer's rate budget (extra ``requests_per_minute``)."""
    return {
        "label": "Triggerer requests per minute",
        "description": f"Most status reads a minute, all waits on this connection. Empty: {default} ({why}).",
        "schema": {"type": ["integer", "null"], "minimum": 1},
    }


def _zendesk_connection() -> dict[str, Any]:
    return {
        "connection-type": "jobstatus_zendesk",
        "hook-class-name": "airflow_jobstatus.hooks.zendesk.ZendeskJobHook",
        "hook-name": "Zendesk (job status)",
        "ui-field-behaviour": {
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
        "conn-fields": {
            "oauth_token": {
                "label": "OAuth access token",
                "description": "Sent as 'Authorization: Bearer'; used instead of the API token when set.",
                "schema": _SECRET,
            },
            "requests_per_minute": _budget_field(100, "half of the Team plan's account limit"),
        },
    }


def _wistia_connection() -> dict[str, Any]:
    return {
        "connection-type": "jobstatus_wistia",
        "hook-class-name": "airflow_jobstatus.hooks.wistia.WistiaHook",
        "hook-name": "Wistia (background jobs)",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {"host": "API base URL (optional)", "password": "API token"},
            "placeholders": {
                "host": "https://api.wistia.com/modern",
                "password": "Wistia API token (Account settings > API access)",
            },
        },
        "conn-fields": {
            "api_version": {
                "label": "API version",
                "description": "Sent as X-Wistia-API-Version (YYYY-MM). Empty: 2026-03.",
                "schema": {"type": ["string", "null"], "pattern": "^(\\d{4}-\\d{2})?$"},
            },
            "requests_per_minute": _budget_field(300, "half of the account limit"),
        },
    }


def _tradedesk_connection() -> dict[str, Any]:
    return {
        "connection-type": "jobstatus_tradedesk",
        "hook-class-name": "airflow_jobstatus.hooks.tradedesk.TradeDeskHook",
        "hook-name": "The Trade Desk (Workflows jobs)",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {"host": "API base URL (optional)", "password": "TTD-Auth token"},
            "placeholders": {
                "host": "empty: chosen by Environment",
                "password": "The Trade Desk API token, sent as the TTD-Auth header",
            },
        },
        "conn-fields": {
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
            "requests_per_minute": _budget_field(300, "no documented limit"),
        },
    }


#: Each vendor: its integration name, docs, and module name under hooks/, operators/, sensors/.
VENDORS: list[tuple[str, str, str]] = [
    (
        ZENDESK,
        "https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/",
        "zendesk",
    ),
    (WISTIA, "https://docs.wistia.com/reference/", "wistia"),
    (TRADEDESK, "https://github.com/thetradedesk/ttd-workflows-python", "tradedesk"),
]


def _modules(kind: str) -> list[dict[str, Any]]:
    return [
        {"integration-name": name, "python-modules": [f"airflow_jobstatus.{kind}.{module}"]}
        for name, _, module in VENDORS
    ]


def get_provider_info() -> dict[str, Any]:
    """The provider description Airflow lists in ``airflow providers list`` and uses for connection forms."""
    return {
        "package-name": "airflow-jobstatus",
        "name": "Job Status",
        "description": (
            "Run and wait on vendor background jobs (Zendesk Support, Wistia, The Trade Desk) from Airflow."
        ),
        "versions": [__version__],
        "integrations": [
            {"integration-name": name, "external-doc-url": url, "tags": ["service"]}
            for name, url, _ in VENDORS
        ],
        "hooks": _modules("hooks"),
        "operators": _modules("operators"),
        "sensors": _modules("sensors"),
        "triggers": [
            {"integration-name": name, "python-modules": ["airflow_jobstatus.triggers.job"]}
            for name, _, _ in VENDORS
        ],
        "connection-types": [_zendesk_connection(), _wistia_connection(), _tradedesk_connection()],
        "config": {
            "jobstatus": {
                "description": "Settings of the airflow-jobstatus provider.",
                "options": {
                    "result_base_path": {
                        "description": (
                            "Where a job result too large for XCom goes when the operator has no output_path "
                            "(any object storage URL). Empty: [common.io] xcom_objectstorage_path when set, "
                            "else AIRFLOW_HOME/jobstatus_results on the worker's own disk."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "s3://aws_default@my-bucket/jobstatus",
                        "default": "",
                    }
                },
            }
        },
    }
