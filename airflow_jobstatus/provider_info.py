"""Provider metadata read by Airflow (entry point ``apache_airflow_provider``), including connection forms."""

from __future__ import annotations

from typing import Any

from airflow_jobstatus import __version__

ZENDESK = "Zendesk job statuses"
_SECRET = {"type": ["string", "null"], "format": "password"}


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
        },
    }


def _modules(kind: str) -> list[dict[str, Any]]:
    return [{"integration-name": ZENDESK, "python-modules": [f"airflow_jobstatus.{kind}.zendesk"]}]


def get_provider_info() -> dict[str, Any]:
    """The provider description Airflow lists in ``airflow providers list`` and uses for connection forms."""
    return {
        "package-name": "airflow-jobstatus",
        "name": "Job Status",
        "description": "Run and wait on vendor background jobs (Zendesk Support bulk jobs) from Airflow.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": ZENDESK,
                "external-doc-url": "https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": ZENDESK,
                "python-modules": ["airflow_jobstatus.hooks.zendesk"],
            }
        ],
        "operators": [
            {
                "integration-name": ZENDESK,
                "python-modules": ["airflow_jobstatus.operators.zendesk"],
            }
        ],
        "sensors": [
            {
                "integration-name": ZENDESK,
                "python-modules": ["airflow_jobstatus.sensors.zendesk"],
            }
        ],
        "triggers": [
            {"integration-name": "Zendesk job statuses", "python-modules": ["airflow_jobstatus.triggers.job"]}
        ],
        "connection-types": [_zendesk_connection()],
    }
