"""WistiaJobSensor: wait for Wistia background jobs to finish."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow_jobstatus.core.outcomes import OnPartial
from airflow_jobstatus.defaults import DEFAULT_ON_PARTIAL, DEFAULT_POLL_INTERVAL, DEFAULT_WAIT_FOR_ALL
from airflow_jobstatus.hooks.wistia import WistiaHook
from airflow_jobstatus.sensors.base import JobSensor


class WistiaJobSensor(JobSensor[WistiaHook]):
    """Waits for Wistia background jobs (``/background_job_status/{id}``) to end; returns their final status.

    Succeeds when every job ``finished``; fails on ``failed``, on a job id Wistia does not know, and at
    ``timeout``. Wistia has no batch read: each job is one call per poll. A status value Wistia adds
    later keeps the wait going, with one warning.

    :param job_id: one background job id, or a list of them (templated; required).
    :param wistia_conn_id: the Airflow connection (default ``wistia_default``).
    :param poll_interval: seconds between status reads (default 30.0); also the ``poke_interval`` of a
        wait in the worker unless that is given.
    :param max_poll_interval: deferred waits read less often, up to this many seconds, while progress says
        a job is far from done (default None: 10 x ``poll_interval``, at most 600); Wistia reports none,
        so reads stay at ``poll_interval``.
    :param timeout: seconds (or a timedelta) to wait in all, then fail with the jobs' last progress
        (default None: ``[sensors] default_timeout``, 7 days unless the deployment changes it).
    :param on_partial: ``"fail"`` (default) or ``"warn"`` for a job that ended with failed items; Wistia's
        jobs have no partial end (they finish or fail), so both behave the same.
    :param wait_for_all: ``False`` (default): with several jobs, fail as soon as one of them ends badly,
        naming it and listing the jobs still running (Wistia keeps running them: nothing is
        cancelled); ``True``: wait until every job has ended, then report them all.
    :param deferrable: wait in the triggerer, or if False poll in the worker (``mode="reschedule"`` frees
        the slot between polls). Default (None): the deployment's ``[operators] default_deferrable``
        where it sets one, else True.

    Details in README: "Wistia" > "Sensor and hook", "Wait for jobs in a DAG" and "Deferrable or not".
    """

    hook_class = WistiaHook

    def __init__(
        self,
        *,
        job_id: str | int | Sequence[str | int],
        wistia_conn_id: str = WistiaHook.default_conn_name,
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
            conn_id=wistia_conn_id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            timeout=timeout,
            on_partial=on_partial,
            wait_for_all=wait_for_all,
            deferrable=deferrable,
            **kwargs,
        )
        self.wistia_conn_id = wistia_conn_id
