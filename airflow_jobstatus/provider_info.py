"""Provider metadata read by Airflow (entry point ``apache_airflow_provider``), including connection forms.

Every vendor entry comes from the vendor's declaration (:mod:`airflow_jobstatus.vendors`): this lists the
vendors the package ships (:func:`~airflow_jobstatus.vendors.built_in`), in their order.
"""

from __future__ import annotations

from typing import Any

from airflow_jobstatus import __version__
from airflow_jobstatus.vendors import ModuleKind, VendorDeclaration, built_in

#: Each shipped vendor: its integration name, docs, and module name under hooks/, operators/, sensors/.
VENDORS: list[tuple[str, str, str]] = [
    (vendor.integration_name, vendor.docs_url, vendor.name) for vendor in built_in()
]


def _modules(vendors: tuple[VendorDeclaration, ...], kind: ModuleKind) -> list[dict[str, Any]]:
    entries = (vendor.modules_entry(kind) for vendor in vendors)
    return [entry for entry in entries if entry is not None]


def get_provider_info() -> dict[str, Any]:
    """The provider description Airflow lists in ``airflow providers list`` and uses for connection forms."""
    vendors = built_in()
    products = ", ".join(vendor.product for vendor in vendors)
    return {
        "package-name": "airflow-jobstatus",
        "name": "Job Status",
        "description": f"Run and wait on vendor background jobs ({products}) from Airflow.",
        "versions": [__version__],
        "integrations": [vendor.integration_entry() for vendor in vendors],
        "hooks": _modules(vendors, "hooks"),
        "operators": _modules(vendors, "operators"),
        "sensors": _modules(vendors, "sensors"),
        "triggers": _modules(vendors, "triggers"),
        "connection-types": [vendor.connection_entry() for vendor in vendors],
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
                    },
                    "rate_limit_storage": {
                        "description": (
                            "A Redis every triggerer and worker reaches (e.g. the Celery broker's), where "
                            "they count each vendor account's requests together, so that all of them send at "
                            "most a connection's requests_per_minute (and the account's limit minus its "
                            "reserve). Needs airflow-jobstatus[redis]. Empty: each process keeps its own "
                            "budget. If the store fails, each process falls back to its own budget and says "
                            "so once in its log."
                        ),
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "redis://redis:6379/1",
                        "default": "",
                    },
                },
            }
        },
    }
