"""TradeDeskJobSensor: wait for The Trade Desk's GraphQL, standard or legacy bulk jobs to end."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_jobstatus.core.outcomes import OnPartial
from airflow_jobstatus.defaults import DEFAULT_ON_PARTIAL, DEFAULT_POLL_INTERVAL, DEFAULT_WAIT_FOR_ALL
from airflow_jobstatus.errors import ConfigurationError, JobNotFoundError
from airflow_jobstatus.hooks.tradedesk import STATUS_PATHS, TradeDeskHook, check_job_kind
from airflow_jobstatus.sensors.base import JobSensor

if TYPE_CHECKING:
    from airflow.sdk import Context

#: What each ``job_kind`` reads, for the error of a sensor given none.
KIND_CHOICES = (
    "'graphql' (GraphQL bulk query jobs), 'standard' (standard jobs: data reports, campaign and ad group "
    "bulk jobs) or 'legacy' (bulk jobs of SDKs up to 0.6)"
)


class TradeDeskJobSensor(JobSensor[TradeDeskHook]):
    """Waits for Trade Desk jobs to end; returns the final job status(es), without the inline result.

    Succeeds on ``Success``; fails on ``Failure``, ``Cancelled``, ``ResultsExpired``, an id The Trade
    Desk does not know (or of another ``job_kind``), and at ``timeout``. ``PartialSuccess`` follows
    ``on_partial``; the job's ``errors`` are in the log and the failure message. Read the result with
    ``TradeDeskHook(job_kind=...).download_result(hook.get_job(job_id), output_path)``.

    :param job_id: one job id, or a list of them (templated; required).
    :param job_kind: required, no default: ``"graphql"`` (GraphQL bulk query jobs), ``"standard"`` (standard
        jobs) or ``"legacy"`` (bulk jobs of SDKs up to 0.6). Each kind has its own status path: an id read
        as the wrong kind is not found, and the task fails saying which kind it read.
    :param tradedesk_conn_id: the Airflow connection (default ``tradedesk_default``).
    :param poll_interval: seconds between status reads (default 30.0); also the ``poke_interval`` of a
        wait in the worker unless that is given.
    :param max_poll_interval: deferred waits read less often, up to this many seconds, while the jobs'
        completion percentage says they are far from done (default None: 10 x ``poll_interval``, at most
        600).
    :param timeout: seconds (or a timedelta) to wait in all, then fail with the jobs' last progress
        (default None: ``[sensors] default_timeout``, 7 days unless the deployment changes it).
    :param on_partial: ``"fail"`` (default) or ``"warn"`` (log the job's errors and succeed) on
        ``PartialSuccess``.
    :param wait_for_all: ``False`` (default): with several jobs, fail as soon as one of them ends badly,
        naming it and listing the jobs still running (The Trade Desk keeps running them: nothing is
        cancelled); ``True``: wait until every job has ended, then report them all.
    :param deferrable: wait in the triggerer, or if False poll in the worker (``mode="reschedule"`` frees
        the slot between polls). Default (None): the deployment's ``[operators] default_deferrable``
        where it sets one, else True.

    Details in README: "The Trade Desk" > "Sensor and hook", "Wait for jobs in a DAG" and "Deferrable or
    not".
    """

    hook_class = TradeDeskHook

    def __init__(
        self,
        *,
        job_id: str | int | Sequence[str | int],
        job_kind: str | None = None,
        tradedesk_conn_id: str = TradeDeskHook.default_conn_name,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        timeout: float | timedelta | None = None,
        on_partial: OnPartial = DEFAULT_ON_PARTIAL,
        wait_for_all: bool = DEFAULT_WAIT_FOR_ALL,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        # None only to say what is missing: Airflow's own "missing keyword argument" lists no choices.
        if job_kind is None:
            raise ConfigurationError(
                f"TradeDeskJobSensor {kwargs.get('task_id')!r} needs job_kind: {KIND_CHOICES}. There is no "
                "default: each kind has its own status path, and the id alone does not tell them apart"
            )
        kind = check_job_kind(job_kind)
        super().__init__(
            job_id=job_id,
            conn_id=tradedesk_conn_id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            timeout=timeout,
            on_partial=on_partial,
            wait_for_all=wait_for_all,
            deferrable=deferrable,
            **kwargs,
        )
        self.job_kind = kind
        self.tradedesk_conn_id = tradedesk_conn_id

    def hook_params(self) -> dict[str, Any]:
        """The job kind: it picks the status path, in the worker and in the trigger."""
        return {"job_kind": self.job_kind}

    def execute(self, context: Context) -> Any:
        """As :meth:`JobSensor.execute`; an unknown id also says which kind it was read as."""
        with self._naming_the_kind():
            return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """As :meth:`JobSensor.execute_complete`; an unknown id also says which kind it was read as."""
        with self._naming_the_kind():
            return super().execute_complete(context, event)

    @contextmanager
    def _naming_the_kind(self) -> Iterator[None]:
        try:
            yield
        except JobNotFoundError as error:
            path = STATUS_PATHS[self.job_kind]
            raise JobNotFoundError(
                f"{error}: this sensor reads them as job_kind={self.job_kind!r} (GET {path}); the kinds are "
                f"{KIND_CHOICES}",
                job_ids=error.job_ids,
                status=error.status,
            ) from None
