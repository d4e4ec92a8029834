"""TradeDeskJobSensor: wait for The Trade Desk's GraphQL, standard or legacy bulk jobs to end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_jobstatus.hooks.tradedesk import TradeDeskHook, check_job_kind
from airflow_jobstatus.sensors.base import JobSensor


class TradeDeskJobSensor(JobSensor):
    """Waits for Trade Desk jobs to end; returns the final job status(es), without the inline result.

    Succeeds on ``Success``; fails on ``Failure``, ``Cancelled``, ``ResultsExpired``, an id The Trade
    Desk does not know (or of another ``job_kind``), and at ``timeout``. ``PartialSuccess`` follows
    ``on_partial``; the job's ``errors`` are in the log and the failure message. Read the result with
    ``TradeDeskHook(job_kind=...).download_result(hook.get_job(job_id), output_path)``.

    :param job_id: one job id, or a list of them (templated).
    :param job_kind: ``"graphql"`` (GraphQL bulk query jobs), ``"standard"`` (default) or ``"legacy"``.
    :param tradedesk_conn_id: the Airflow connection (default ``tradedesk_default``).
    :param poll_interval: seconds between status reads (default 30).
    :param max_poll_interval: deferred waits read less often, up to this many seconds, while the jobs'
        progress says they are far from done (see :class:`~airflow_jobstatus.sensors.base.JobSensor`).
    :param timeout: seconds to wait in all (default: Airflow's sensor default, 7 days).
    :param on_partial: ``"fail"`` (default) or ``"warn"`` on ``PartialSuccess``.
    :param deferrable: wait in the triggerer (default True); False polls in the worker.
    """

    hook_class = TradeDeskHook

    def __init__(
        self,
        *,
        job_id: str | int | Sequence[str | int],
        job_kind: str = "standard",
        tradedesk_conn_id: str = TradeDeskHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(job_id=job_id, conn_id=tradedesk_conn_id, **kwargs)
        self.job_kind = check_job_kind(job_kind)
        self.tradedesk_conn_id = tradedesk_conn_id

    def hook_params(self) -> dict[str, Any]:
        """The job kind: it picks the status path, in the worker and in the trigger."""
        return {"job_kind": self.job_kind}
