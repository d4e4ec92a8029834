"""ZendeskJobSensor: wait for Zendesk Support job statuses to complete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_jobstatus.hooks.zendesk import ZendeskJobHook
from airflow_jobstatus.sensors.base import JobSensor


class ZendeskJobSensor(JobSensor):
    """Waits for Zendesk jobs (``/api/v2/job_statuses``) to end; returns the final job status(es).

    Succeeds when every job ``completed``; fails on ``failed`` / ``killed``, on a job id Zendesk no
    longer knows (its status data expired, or the id is wrong), and at ``timeout``. A job that
    completed with failed items is PARTIAL and follows ``on_partial``. Several ids are read with
    ``show_many`` (100 per call).

    :param job_id: one Zendesk job id, or a list of them (templated).
    :param zendesk_conn_id: the Airflow connection (default ``zendesk_default``).
    :param poll_interval: seconds between status reads (default 30).
    :param max_poll_interval: deferred waits read less often, up to this many seconds, while the jobs'
        progress says they are far from done (see :class:`~airflow_jobstatus.sensors.base.JobSensor`).
    :param timeout: seconds to wait in all (default: Airflow's sensor default, 7 days).
    :param on_partial: ``"fail"`` (default) or ``"warn"`` when items of a completed job failed.
    :param wait_for_all: ``False`` (default): with several jobs, fail as soon as one of them ends badly,
        naming it and listing the jobs still running (Zendesk keeps running them: nothing is cancelled);
        ``True``: wait until every job has ended, then report them all.
    :param deferrable: wait in the triggerer, or if False poll in the worker; default: the deployment's
        ``[operators] default_deferrable`` where it sets one, else True.
    """

    hook_class = ZendeskJobHook

    def __init__(
        self,
        *,
        job_id: str | Sequence[str],
        zendesk_conn_id: str = ZendeskJobHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(job_id=job_id, conn_id=zendesk_conn_id, **kwargs)
        self.zendesk_conn_id = zendesk_conn_id
