"""SingleJobOperator: one request, one job, one result (the engine's other shape, beside bulk items).

The engine (:mod:`airflow_jobstatus.operators.engine`) submits the request as the one item of the task,
records the job in the task state store and in XCom (``job_ids`` and ``job_id``), waits for it and
resumes; a retry reattaches to it. Once it ended, the job is judged (``on_partial`` for a partial
success); a failed one fails the task with ``{"job_id", "status", "errors"}`` in ``return_value``, and
one that may deliver gives the operator's result (:meth:`SingleJobOperator.deliver`). A vendor that
answers some requests in full, without a job, raises :class:`~airflow_jobstatus.errors.NoJobCreated`
from its submit: the answer is then the result (:meth:`SingleJobOperator.deliver_answer`).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_jobstatus.core.ledger import Ledger
from airflow_jobstatus.core.models import Job
from airflow_jobstatus.core.outcomes import Verdict, judge
from airflow_jobstatus.errors import NoJobCreated
from airflow_jobstatus.job_task import HookT
from airflow_jobstatus.operators.engine import JobEngineOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class SingleJobOperator(JobEngineOperator[HookT]):
    """Base of the operators whose request is one job with one result (see the module docstring).

    A vendor operator sets ``hook_class`` and defines :meth:`request`, :meth:`submit` and
    :meth:`deliver`, and may name the request in the log (:meth:`request_name`) and deliver an answer
    that came without a job (:meth:`deliver_answer`). The arguments are the engine's
    (:class:`~airflow_jobstatus.operators.base.SubmitJobOperator` documents them).
    """

    max_items_per_job: ClassVar[int] = 1

    # --- what a vendor operator defines ------------------------------------------------------------
    @abstractmethod
    def request(self) -> Any:
        """The rendered request (a query, a payload), checked before anything is sent."""

    @abstractmethod
    def submit(self, request: Any) -> Job:
        """Send the request and return the queued job."""

    @abstractmethod
    def deliver(self, context: Context, job: Job, verdict: Verdict) -> Any:
        """The return value for an ended job that may deliver (``verdict.ok``, or a partial success with
        ``on_partial="warn"``); may set ``verdict.ok = False`` (e.g. its result is gone)."""

    def judge_job(self, job: Job) -> Verdict:
        """The verdict on the ended job (``on_partial`` for a partial success); a vendor may reword it."""
        return judge([job], self.on_partial)

    def deliver_answer(self, context: Context, answer: Any) -> Any:
        """The return value when the vendor answered the request in full, without a job (default: the
        answer as it is)."""
        return answer

    def request_name(self) -> str:
        """What the one request is called in the log: ``submitted the GraphQL query as job 9000001``."""
        return "the request"

    # --- the engine --------------------------------------------------------------------------------
    def prepare_items(self) -> list[Any]:
        """The one request, as the task's one item."""
        return [self.request()]

    def submit_items(self, items: list[Any]) -> Job:
        """Submit the one request (:meth:`submit`)."""
        (request,) = items
        return self.submit(request)

    def submitted_line(self, job_id: str, chunk: list[int]) -> str:
        """``submitted the GraphQL query as job 9000001``: one request, one job, no items to name."""
        return f"submitted {self.request_name()} as job {job_id}"

    def publish_job_ids(self, context: Context, ledger: Ledger) -> None:
        """``job_ids`` as for every operator, and ``job_id``: the job that answers for the request."""
        super().publish_job_ids(context, ledger)
        context["ti"].xcom_push(key="job_id", value=ledger.job_ids()[-1])

    def conclude(
        self, context: Context, items: list[Any], ledger: Ledger, jobs: dict[str, Job]
    ) -> tuple[Any, Verdict]:
        """Judge the job; if it may deliver, its result (:meth:`deliver`), else its summary."""
        (record,) = ledger.answering()
        job = jobs[record.id]
        verdict = self.judge_job(job)
        summary = job_summary(job)
        if not verdict.ok:
            return summary, verdict
        result = self.deliver(context, job, verdict)
        return (result if verdict.ok else summary), verdict

    def execute(self, context: Context) -> Any:
        """Submit and wait; an answer without a job is the result itself (:meth:`deliver_answer`)."""
        try:
            return super().execute(context)
        except NoJobCreated as answered:
            self.log.info("%s", answered)
            return self.deliver_answer(context, answered.payload)


def job_summary(job: Job) -> dict[str, Any]:
    """What a single-job task returns when its job cannot deliver: ``{"job_id", "status", "errors"}``."""
    return {"job_id": job.id, "status": job.vendor_status, "errors": job.errors}
