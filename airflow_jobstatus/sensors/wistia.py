"""WistiaJobSensor: wait for Wistia background jobs to finish."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_jobstatus.hooks.wistia import WistiaHook
from airflow_jobstatus.sensors.base import JobSensor


class WistiaJobSensor(JobSensor):
    """Waits for Wistia background jobs (``/background_job_status/{id}``) to end; returns their final status.

    Succeeds when every job ``finished``; fails on ``failed``, on a job id Wistia does not know, and at
    ``timeout``. Wistia has no batch read: each job is one call per poll. A status value Wistia adds
    later keeps the wait going, with one warning.

    :param job_id: one background job id, or a list of them (templated).
    :param wistia_conn_id: the Airflow connection (default ``wistia_default``).
    :param poll_interval: seconds between status reads (default 30).
    :param max_poll_interval: deferred waits read less often, up to this many seconds, while the jobs'
        progress says they are far from done (see :class:`~airflow_jobstatus.sensors.base.JobSensor`).
    :param timeout: seconds to wait in all (default: Airflow's sensor default, 7 days).
    :param wait_for_all: ``False`` (default): with several jobs, fail as soon as one of them ends badly,
        naming it and listing the jobs still running (Wistia keeps running them: nothing is cancelled);
        ``True``: wait until every job has ended, then report them all.
    :param deferrable: wait in the triggerer, or if False poll in the worker; default: the deployment's
        ``[operators] default_deferrable`` where it sets one, else True.
    """

    hook_class = WistiaHook

    def __init__(
        self,
        *,
        job_id: str | int | Sequence[str | int],
        wistia_conn_id: str = WistiaHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(job_id=job_id, conn_id=wistia_conn_id, **kwargs)
        self.wistia_conn_id = wistia_conn_id
