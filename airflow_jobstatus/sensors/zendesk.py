"""ZendeskJobSensor: wait for Zendesk Support job statuses to complete."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow_jobstatus.core.outcomes import OnPartial
from airflow_jobstatus.defaults import DEFAULT_ON_PARTIAL, DEFAULT_POLL_INTERVAL, DEFAULT_WAIT_FOR_ALL
from airflow_jobstatus.hooks.zendesk import ZendeskJobHook
from airflow_jobstatus.sensors.base import JobSensor


class ZendeskJobSensor(JobSensor[ZendeskJobHook]):
    """Waits for Zendesk jobs (``/api/v2/job_statuses``) to end; returns the final job status(es).

    Succeeds when every job ``completed``; fails on ``failed`` / ``killed``, on a job id Zendesk no
    longer knows (its status data expired, or the id is wrong), and at ``timeout``. A job that
    completed with failed items is PARTIAL and follows ``on_partial``. Several ids are read with
    ``show_many`` (100 per call).

    :param job_id: one Zendesk job id, or a list of them (templated; required).
    :param zendesk_conn_id: the Airflow connection (default ``zendesk_default``).
    :param poll_interval: seconds between status reads (default 30.0); also the ``poke_interval`` of a
        wait in the worker unless that is given.
    :param max_poll_interval: deferred waits read less often, up to this many seconds, while the jobs'
        progress says they are far from done (default None: 10 x ``poll_interval``, at most 600).
    :param timeout: seconds (or a timedelta) to wait in all, then fail with the jobs' last progress
        (default None: ``[sensors] default_timeout``, 7 days unless the deployment changes it).
    :param on_partial: ``"fail"`` (default) or ``"warn"`` (log every failed item and succeed) when items of
        a completed job failed.
    :param wait_for_all: ``False`` (default): with several jobs, fail as soon as one of them ends badly,
        naming it and listing the jobs still running (Zendesk keeps running them: nothing is
        cancelled); ``True``: wait until every job has ended, then report them all.
    :param deferrable: wait in the triggerer, or if False poll in the worker (``mode="reschedule"`` frees
        the slot between polls). Default (None): the deployment's ``[operators] default_deferrable``
        where it sets one, else True.

    Details in README: "Wait for jobs in a DAG", "Deferrable or not" and "Many waits on one connection".
    """

    hook_class = ZendeskJobHook

    def __init__(
        self,
        *,
        job_id: str | Sequence[str],
        zendesk_conn_id: str = ZendeskJobHook.default_conn_name,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        timeout: float | timedelta | None = None,
        on_partial: OnPartial = DEFAULT_ON_PARTIAL,
        wait_for_all: bool = DEFAULT_WAIT_FOR_ALL,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            job_id=job_id,
            conn_id=zendesk_conn_id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            timeout=timeout,
            on_partial=on_partial,
            wait_for_all=wait_for_all,
            deferrable=deferrable,
            **kwargs,
        )
        self.zendesk_conn_id = zendesk_conn_id
