"""Trade Desk operators: submit a GraphQL bulk query or a standard job, wait, then deliver its result.

Each operator submits one job on the worker, records its id in the task state store and in XCom
(``job_id``), defers until it ends, and returns the result: its parsed JSON when small (at most
``inline_limit`` bytes), or ``{"path", "size", "sha256"}`` of the copy streamed to ``output_path`` (or,
for a bigger result without one, to the task's default location; see :mod:`airflow_jobstatus.results`).
A retry reattaches to the job instead of submitting again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from airflow_jobstatus.errors import ConfigurationError, NoJobCreated
from airflow_jobstatus.hooks.tradedesk import TradeDeskHook
from airflow_jobstatus.hooks.tradedesk_models import JobKind
from airflow_jobstatus.hooks.tradedesk_submits import (
    SAFE_TO_REPEAT,
    STANDARD_JOBS,
    as_payload,
    check_payload,
    check_query,
)
from airflow_jobstatus.ledger import LEDGER_KEY, Ledger
from airflow_jobstatus.models import Job, JobState
from airflow_jobstatus.operators.base import SubmitJobOperator
from airflow_jobstatus.outcomes import Verdict, judge
from airflow_jobstatus.result_location import default_result_path
from airflow_jobstatus.results import DEFAULT_INLINE_LIMIT, check_inline_limit, check_output_path

if TYPE_CHECKING:
    from airflow.sdk import Context

#: How long The Trade Desk keeps a finished job's results.
RESULT_RETENTION = "24 hours"


class TradeDeskJobOperator(SubmitJobOperator):
    """Base of the Trade Desk operators: one request, one job, one result.

    ``Success`` delivers the result; ``PartialSuccess`` follows ``on_partial`` (``"warn"`` delivers the
    result and logs the job's errors); ``Failure`` and ``Cancelled`` fail the task with the job's
    errors; ``ResultsExpired`` fails saying the results are gone. On failure a summary
    (``job_id``, ``status``, ``errors``) is still pushed to ``return_value``.

    :param tradedesk_conn_id: the Airflow connection (default ``tradedesk_default``).
    :param output_path: where to stream the result (templated): ``s3://...``, ``gs://...``,
        ``file:///...`` or an absolute path. Without it a result of at most ``inline_limit`` bytes is
        returned as parsed JSON, and a bigger one is streamed to the task's default location
        (``[jobstatus] result_base_path``, see :mod:`airflow_jobstatus.result_location`).
    :param inline_limit: the most bytes returned inline (default 1 MB; 0: always write to a path).

    Waiting and retries (``poll_interval``, ``max_poll_interval``, ``timeout``, ``on_partial``,
    ``resubmit_unconfirmed``, ``deferrable``) are described in
    :class:`~airflow_jobstatus.operators.base.SubmitJobOperator`.
    """

    hook_class = TradeDeskHook
    max_items_per_job = 1
    job_kind: ClassVar[JobKind] = "standard"

    def __init__(
        self,
        *,
        tradedesk_conn_id: str = TradeDeskHook.default_conn_name,
        output_path: str | None = None,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=tradedesk_conn_id, **kwargs)
        self.tradedesk_conn_id = tradedesk_conn_id
        self.output_path = output_path
        self.inline_limit = check_inline_limit(inline_limit)

    # --- what each Trade Desk operator defines ----------------------------------------------------
    def request(self) -> Any:
        """The rendered request (query or payload), checked before anything is sent."""
        raise NotImplementedError

    # --- SubmitJobOperator ------------------------------------------------------------------------
    def hook_params(self) -> dict[str, Any]:
        """The job kind: it picks the status path, in the worker and in the trigger."""
        return {"job_kind": self.job_kind}

    def prepare_items(self) -> list[Any]:
        """The one request this task sends; ``output_path`` is checked before it goes."""
        if self.output_path:
            check_output_path(self.output_path)
        return [self.request()]

    def publish_job_ids(self, context: Context, ledger: Ledger) -> None:
        """``job_ids`` as for every operator, and ``job_id``: the job that answers for the request."""
        super().publish_job_ids(context, ledger)
        context["ti"].xcom_push(key="job_id", value=ledger.job_ids()[-1])

    def conclude(
        self, context: Context, items: list[Any], ledger: Ledger, jobs: dict[str, Job]
    ) -> tuple[Any, Verdict]:
        """Judge the job; when it may deliver, read it afresh (inline result, fresh link) and deliver."""
        (record,) = ledger.answering()
        job = jobs[record.id]
        verdict = judge([job], self.on_partial)
        summary = {"job_id": job.id, "status": job.vendor_status, "errors": job.errors}
        if job.state is JobState.EXPIRED:
            # The ledger counts an expired job as not done: a retry (or clearing the task) submits anew.
            again = "A retry of this task, or clearing it, submits the request again as a new job"
            verdict.failures = [self._results_gone(job.id, "the job reports ResultsExpired", again)]
        if not verdict.ok:
            return summary, verdict
        hook = cast(TradeDeskHook, self.hook)
        fresh = hook.get_job(job.id)
        if fresh.raw_result is None and fresh.result_url is None:
            verdict.ok = False
            again = (
                "The job itself counts as done, so a retry would find the same: to run it again, change "
                f"the request, or delete this task's state key '{LEDGER_KEY}' and clear the task"
            )
            why = "it carries neither an inline result nor a link"
            verdict.failures = [self._results_gone(job.id, why, again)]
            return summary, verdict
        result = hook.download_result(
            fresh,
            self.output_path,
            inline_limit=self.inline_limit,
            overflow=lambda: default_result_path(context, fresh.id),
        )
        return result, verdict

    def _results_gone(self, job_id: str, why: str, again: str) -> str:
        return (
            f"the results of job {job_id} are gone ({why}): The Trade Desk keeps a job's results for "
            f"{RESULT_RETENTION} after it completes. {again}"
        )


class TradeDeskGraphQLBulkQueryOperator(TradeDeskJobOperator):
    """Runs a GraphQL bulk query job (``POST /graphqlbulkqueryjob``) and delivers its result.

    A query The Trade Desk refuses (GraphQL errors in a 200 answer, no job) fails the task at once,
    showing the errors. The job's ``queryGqlErrors`` and ``runtimeErrors`` are in the log and the
    failure message. A lost submit answer is resent on a retry (a query changes nothing).

    :param query: the GraphQL query (templated).
    :param callback_url: optional URL The Trade Desk calls when the job ends.
    :param callback_headers: headers for that call.
    """

    template_fields: Sequence[str] = ("query", "output_path")
    template_ext: Sequence[str] = (".graphql", ".gql")
    template_fields_renderers = {"query": "graphql"}
    job_kind = "graphql"

    def __init__(
        self,
        *,
        query: str,
        callback_url: str | None = None,
        callback_headers: Mapping[str, str] | None = None,
        resubmit_unconfirmed: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(resubmit_unconfirmed=resubmit_unconfirmed, **kwargs)
        self.query = query
        self.callback_url = callback_url
        self.callback_headers = callback_headers

    def request(self) -> Any:
        """The rendered query."""
        return check_query(self.query)

    def submit_items(self, items: list[Any]) -> Job:
        """``POST /graphqlbulkqueryjob``."""
        hook = cast(TradeDeskHook, self.hook)
        return hook.submit_graphql_query(
            items[0], callback_url=self.callback_url, callback_headers=self.callback_headers
        )


class TradeDeskStandardJobOperator(TradeDeskJobOperator):
    """Runs a standard job (data reports, campaign and ad group bulk create/update) and delivers its result.

    An update sent with ``validateInputOnly`` that The Trade Desk answers in full (no job) returns that
    answer at once. A lost submit answer is resent on a retry for reports and updates, not for creates
    (they would create twice) unless ``resubmit_unconfirmed=True``.

    :param kind: ``first_party_data``, ``third_party_data``, ``campaign_create``, ``campaign_update``,
        ``ad_group_create`` or ``ad_group_update``.
    :param payload: the request body (templated), camelCase as the API takes it, e.g.
        ``{"advertiserId": "abc123"}`` or ``{"input": [{"id": "c1", "name": "New name"}]}``.
    """

    template_fields: Sequence[str] = ("payload", "output_path")
    template_fields_renderers = {"payload": "json"}
    job_kind = "standard"

    def __init__(
        self, *, kind: str, payload: Any, resubmit_unconfirmed: bool | None = None, **kwargs: Any
    ) -> None:
        if kind not in STANDARD_JOBS:
            raise ConfigurationError(f"kind must be one of {', '.join(STANDARD_JOBS)}, not {kind!r}")
        if resubmit_unconfirmed is None:
            resubmit_unconfirmed = kind in SAFE_TO_REPEAT
        super().__init__(resubmit_unconfirmed=resubmit_unconfirmed, **kwargs)
        self.kind = kind
        self.payload = payload

    def request(self) -> Any:
        """The rendered payload, checked for the kind."""
        return check_payload(STANDARD_JOBS[self.kind], as_payload(self.payload))

    def request_identity(self) -> Any:
        """The kind: the same payload for another kind is another request."""
        return ["standard", self.kind]

    def submit_items(self, items: list[Any]) -> Job:
        """The standard job's call."""
        return cast(TradeDeskHook, self.hook).submit_standard_job(self.kind, items[0])

    def execute(self, context: Context) -> Any:
        """Submit and wait; an answer without a job (validate-only) is the result itself."""
        try:
            return super().execute(context)
        except NoJobCreated as answered:
            self.log.info("%s", answered)
            return answered.payload
