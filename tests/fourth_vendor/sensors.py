"""AcmeJobSensor: wait for Acme bulk jobs to end."""

from __future__ import annotations

from typing import Any

from airflow_jobstatus.sensors.base import JobSensor
from fourth_vendor.hooks import AcmeHook


class AcmeJobSensor(JobSensor[AcmeHook]):
    """Waits for Acme bulk jobs (``GET /v1/bulk_jobs/{id}``); every argument of :class:`JobSensor`.

    :param job_id: one job id, or a list of them (templated; required).
    :param acme_conn_id: the Airflow connection (default ``acme_default``).
    """

    hook_class = AcmeHook

    def __init__(self, *, job_id: Any, acme_conn_id: str = AcmeHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(job_id=job_id, conn_id=acme_conn_id, **kwargs)
        self.acme_conn_id = acme_conn_id
