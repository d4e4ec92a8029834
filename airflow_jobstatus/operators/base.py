"""SubmitJobOperator: submit any number of items as vendor bulk jobs, wait for them, return per-item results.

The bulk shape on the engine (:mod:`airflow_jobstatus.operators.engine`, which submits, keeps the job
slots full, waits and resumes): the input is split into requests of at most ``max_items_per_job`` items;
once every job has ended, the per-item results are merged back into input order and judged
(``on_partial``). Where they go (XCom or object storage) is decided before the first submit
(:mod:`airflow_jobstatus.operators.row_store`).

A later try reattaches to jobs still running, keeps what finished well and sends again only the items
that never reached the vendor or that their job reported failed
(:mod:`airflow_jobstatus.operators.reattach`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_jobstatus.core.ledger import Ledger
from airflow_jobstatus.core.models import Job
from airflow_jobstatus.core.outcomes import OnPartial, Verdict
from airflow_jobstatus.defaults import (
    DEFAULT_MAX_JOBS_IN_FLIGHT,
    DEFAULT_ON_PARTIAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_REATTACH_ON_CLEAR,
    DEFAULT_RESUBMIT_UNCONFIRMED,
    DEFAULT_TIMEOUT,
    DEFAULT_WAIT_FOR_COMPLETION,
)
from airflow_jobstatus.errors import INPUT_REFUSED_STATUSES, JobWaitTimeout
from airflow_jobstatus.job_task import HookT
from airflow_jobstatus.operators.engine import JobEngineOperator
from airflow_jobstatus.operators.items import merge_results
from airflow_jobstatus.operators.row_store import RowStore
from airflow_jobstatus.operators.submitting import REFUSED_SUBMIT_WAIT

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["INPUT_REFUSED", "REFUSED_SUBMIT_WAIT", "JobWaitTimeout", "SubmitJobOperator"]

#: Kept for imports of earlier releases: :data:`airflow_jobstatus.errors.INPUT_REFUSED_STATUSES`.
INPUT_REFUSED = INPUT_REFUSED_STATUSES


class SubmitJobOperator(JobEngineOperator[HookT]):
    """Base of the bulk operators: many items, sent as jobs of ``max_items_per_job``, one result per item.

    A vendor operator sets ``hook_class`` and defines :meth:`prepare_items` and :meth:`submit_items`,
    and usually :meth:`item_results`.

    Vendor operators repeat these arguments in their own signatures, with the defaults of
    :mod:`airflow_jobstatus.defaults`. Details: README, "Run a Zendesk bulk job in a DAG" and the
    sections after it.

    :param conn_id: the Airflow connection (default None: the hook's default connection; vendor
        operators name it, e.g. ``zendesk_conn_id``).
    :param poll_interval: seconds between status reads while waiting, the shortest wait between them
        (default 30.0).
    :param max_poll_interval: reads come less often while the jobs' progress says they are far from done,
        up to this many seconds (default None: 10 x ``poll_interval``, at most 600); set it to
        ``poll_interval`` for a fixed interval. See README, "Many waits on one connection" (how often a
        wait polls).
    :param timeout: how long one try waits for all its jobs, in seconds or as a timedelta (default one
        day); then the try fails with the jobs' last progress, and a retry reattaches to them.
    :param on_partial: items that failed in finished jobs: ``"fail"`` the task listing them (default) or
        ``"warn"``: log each and succeed. A failed or killed job always fails the task.
    :param max_jobs_in_flight: the most jobs this task keeps queued or running at once (default 10).
    :param resubmit_unconfirmed: on a retry, send again a request whose answer was lost (it may have
        reached the vendor; default False). Vendor operators turn it on for requests that are safe to
        repeat. See README, "What a retry does".
    :param results_path: a folder (object storage URL such as ``s3://bucket/prefix``, or an absolute local
        path) for the per-item results (default None): the task then returns a manifest of
        ``results.jsonl`` there instead of the rows. Without it, an input of more than ``[jobstatus]
        max_xcom_items`` items (default 1,000) goes to the deployment's ``[jobstatus] result_base_path``
        the same way; see README, "What XCom holds".
    :param wait_for_completion: True (default) waits for the jobs and returns their results; False
        submits every job, pushes their ids (XCom ``job_ids``) and returns that list at once, for a
        vendor sensor downstream to wait on. The input must then fit in ``max_jobs_in_flight`` jobs.
        See README, "Submit without waiting".
    :param reattach_on_clear: a cleared task runs again and submits everything anew (default False); True
        makes a clear carry on like a retry: reattach to the jobs of the earlier run. See README,
        "Retry vs clear".
    :param deferrable: wait in the triggerer or, if False, poll in the worker. Default (None): the
        deployment's ``[operators] default_deferrable`` where it sets one, else True. See README,
        "Deferrable or not".
    """

    def __init__(
        self,
        *,
        conn_id: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        on_partial: OnPartial = DEFAULT_ON_PARTIAL,
        max_jobs_in_flight: int = DEFAULT_MAX_JOBS_IN_FLIGHT,
        resubmit_unconfirmed: bool = DEFAULT_RESUBMIT_UNCONFIRMED,
        results_path: str | None = None,
        wait_for_completion: bool = DEFAULT_WAIT_FOR_COMPLETION,
        reattach_on_clear: bool = DEFAULT_REATTACH_ON_CLEAR,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            conn_id=conn_id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            timeout=timeout,
            on_partial=on_partial,
            max_jobs_in_flight=max_jobs_in_flight,
            resubmit_unconfirmed=resubmit_unconfirmed,
            wait_for_completion=wait_for_completion,
            reattach_on_clear=reattach_on_clear,
            deferrable=deferrable,
            **kwargs,
        )
        self.results_path = results_path

    def choose_rows(self, context: Context, items: list[Any]) -> RowStore:
        """XCom for a small input, else object storage (``results_path``, or the deployment's result
        base), checked before anything is sent."""
        rows = RowStore.choose(context, len(items), self.results_path)
        rows.check()
        return rows

    def conclude(
        self, context: Context, items: list[Any], ledger: Ledger, jobs: dict[str, Job]
    ) -> tuple[Any, Verdict]:
        """The return value and the verdict once every job has ended (``jobs``: by id).

        By default one result per input item, in input order (:func:`merge_results`); a vendor whose
        jobs report no per-item outcome may return one row per job instead.
        """
        answering = ledger.answering()
        per_job = {record.id: self.item_results(jobs[record.id], record, items) for record in answering}
        merged = merge_results(len(items), ledger.owners(), jobs, per_job, self.on_partial)
        return merged.items, merged.verdict
