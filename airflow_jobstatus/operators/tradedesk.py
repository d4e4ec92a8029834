"""Trade Desk operators: submit a GraphQL bulk query or a standard job, wait, then deliver its result.

Each operator submits one job on the worker, records its id in the task state store and in XCom
(``job_id``), defers until it ends, and returns the result. What it returns depends on its arguments
only, never on the size of the result: with ``output_path``, always ``{"path", "size", "sha256"}`` of the
copy streamed there; without, always the parsed JSON, and a result above ``inline_limit`` fails the task
(see :mod:`airflow_jobstatus.core.results`). A retry reattaches to the job instead of submitting again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_jobstatus.compat import AirflowFailException
from airflow_jobstatus.core.ledger import LEDGER_KEY
from airflow_jobstatus.core.models import Job, JobState
from airflow_jobstatus.core.outcomes import OnPartial, Verdict
from airflow_jobstatus.core.result_location import default_result_path
from airflow_jobstatus.core.results import (
    DEFAULT_INLINE_LIMIT,
    ResultNotText,
    ResultSource,
    ResultTooLarge,
    check_inline_limit,
    check_output_path,
    deliver_result,
)
from airflow_jobstatus.core.wording import plural
from airflow_jobstatus.defaults import (
    DEFAULT_MAX_JOBS_IN_FLIGHT,
    DEFAULT_ON_PARTIAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_REATTACH_ON_CLEAR,
    DEFAULT_RESUBMIT_UNCONFIRMED,
    DEFAULT_TIMEOUT,
    DEFAULT_WAIT_FOR_COMPLETION,
)
from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.hooks.tradedesk import TradeDeskHook
from airflow_jobstatus.hooks.tradedesk_models import JobKind
from airflow_jobstatus.hooks.tradedesk_submits import (
    SAFE_TO_REPEAT,
    STANDARD_JOBS,
    as_payload,
    check_payload,
    check_query,
)
from airflow_jobstatus.operators.single_job import SingleJobOperator, job_summary

if TYPE_CHECKING:
    from airflow.sdk import Context

#: How long The Trade Desk keeps a finished job's results.
RESULT_RETENTION = "24 hours"
#: The name a validate-only answer (no job) is stored under in the task's default location.
NO_JOB_RESULT = "validate_only"


class TradeDeskJobOperator(SingleJobOperator[TradeDeskHook]):
    """Base of the Trade Desk operators: one request, one job, one result.

    ``Success`` delivers the result; ``PartialSuccess`` follows ``on_partial`` (``"warn"`` delivers the
    result and logs the job's errors); ``Failure`` and ``Cancelled`` fail the task with the job's
    errors; ``ResultsExpired`` fails saying the results are gone. On failure a summary
    (``job_id``, ``status``, ``errors``) is still pushed to ``return_value``.

    :param tradedesk_conn_id: the Airflow connection (default ``tradedesk_default``).
    :param output_path: where to write the result (templated; default None): ``s3://...``, ``gs://...``,
        ``file:///...`` or an absolute path; the task then returns ``{"path", "size", "sha256"}``.
    :param inline_limit: without ``output_path``, the most bytes returned inline (default 1,000,000); a
        bigger result fails the task, without retries. 0: always write to the task's default location.
    :param poll_interval: seconds between status reads, the shortest wait between them (default 30.0).
    :param max_poll_interval: the longest wait between reads while the job's completion percentage says
        it is far from done (default None: 10 x ``poll_interval``, at most 600 s).
    :param timeout: how long one try waits for the job, seconds or a timedelta (default one day); a
        retry reattaches to it.
    :param on_partial: ``PartialSuccess``: ``"fail"`` (default) fails the task with the job's errors,
        ``"warn"`` logs them and delivers the result. ``Failure`` and ``Cancelled`` always fail.
    :param max_jobs_in_flight: the most jobs queued or running at once (default 10); one request is one
        job, so any value works the same here.
    :param resubmit_unconfirmed: on a retry, send again a request whose answer was lost (default False).
    :param wait_for_completion: True (default) waits and delivers the result; False submits the job and
        returns ``[job_id]`` at once, for a ``TradeDeskJobSensor`` downstream.
    :param reattach_on_clear: False (default): a cleared task submits the request anew; True: it
        reattaches to the earlier run's job (its result is kept 24 hours), like a retry.
    :param deferrable: wait in the triggerer, or if False poll in the worker. Default (None): the
        deployment's ``[operators] default_deferrable`` where it sets one, else True.

    ``results_path`` (per-item rows) is refused: set ``output_path`` instead. Details in README: "The
    Trade Desk" > "Operators", "What a retry does", "Retry vs clear", "Deferrable or not", "Submit without
    waiting" and "Many waits on one connection".
    """

    hook_class = TradeDeskHook
    job_kind: ClassVar[JobKind] = "standard"

    def __init__(
        self,
        *,
        tradedesk_conn_id: str = TradeDeskHook.default_conn_name,
        output_path: str | None = None,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        on_partial: OnPartial = DEFAULT_ON_PARTIAL,
        max_jobs_in_flight: int = DEFAULT_MAX_JOBS_IN_FLIGHT,
        resubmit_unconfirmed: bool = DEFAULT_RESUBMIT_UNCONFIRMED,
        wait_for_completion: bool = DEFAULT_WAIT_FOR_COMPLETION,
        reattach_on_clear: bool = DEFAULT_REATTACH_ON_CLEAR,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        # Not in the signature: results_path is the bulk operators' rows file (one row per input item).
        if kwargs.get("results_path"):
            raise ConfigurationError(
                "results_path is for operators with one result row per input item; a Trade Desk "
                "operator delivers one result: set output_path (a file, e.g. "
                "'s3://bucket/results/{{ run_id }}.json') instead"
            )
        super().__init__(
            conn_id=tradedesk_conn_id,
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
        self.tradedesk_conn_id = tradedesk_conn_id
        self.output_path = output_path
        self.inline_limit = check_inline_limit(inline_limit)

    # --- SingleJobOperator --------------------------------------------------------------------------
    def hook_params(self) -> dict[str, Any]:
        """The job kind: it picks the status path, in the worker and in the trigger."""
        return {"job_kind": self.job_kind}

    def prepare_items(self) -> list[Any]:
        """The one request this task sends; ``output_path`` is checked before it goes."""
        if self.output_path:
            check_output_path(self.output_path)
        return super().prepare_items()

    def judge_job(self, job: Job) -> Verdict:
        """As for any job; ``ResultsExpired`` says the results are gone and what a retry does."""
        verdict = super().judge_job(job)
        if job.state is JobState.EXPIRED:
            # The ledger counts an expired job as not done: a retry (or clearing the task) submits anew.
            again = "A retry of this task, or clearing it, submits the request again as a new job"
            self._results_gone(verdict, job.id, "the job reports ResultsExpired", again)
        return verdict

    def deliver(self, context: Context, job: Job, verdict: Verdict) -> Any:
        """Read the job afresh (inline result, fresh link) and deliver its result."""
        hook = self.hook
        fresh = hook.get_job(job.id)
        if fresh.raw_result is None and fresh.result_url is None:
            verdict.ok = False
            again = (
                "The job itself counts as done, so a retry would find the same: to run it again, change "
                f"the request, or delete this task's state key '{LEDGER_KEY}' and clear the task"
            )
            why = "it carries neither an inline result nor a link"
            self._results_gone(verdict, job.id, why, again)
            return None
        try:
            return hook.download_result(
                fresh, self.destination(context, fresh.id), inline_limit=self.inline_limit
            )
        except (ResultTooLarge, ResultNotText) as error:
            context["ti"].xcom_push(key="return_value", value=job_summary(job))
            raise AirflowFailException(self._not_inline(fresh, error)) from None

    def destination(self, context: Context, name: str) -> str | None:
        """Where the result is written: ``output_path``; with ``inline_limit=0`` and no ``output_path``,
        the task's default location (file ``name``.json); None: returned inline. Decided by the
        arguments alone, before the result's size is known."""
        if self.output_path:
            return str(self.output_path)
        if self.inline_limit == 0:
            return default_result_path(context, name)
        return None

    def deliver_answer(self, context: Context, answer: Any) -> Any:
        """A submit answered in full, without a job (validate-only): delivered as a job's result would
        be, so the return value has the same shape (written to ``output_path`` when it is set)."""
        text = json.dumps(answer, ensure_ascii=False)
        source = ResultSource(NO_JOB_RESULT, text, None)
        hook = self.hook
        try:
            return deliver_result(
                source,
                hook.open_result,
                output_path=self.destination(context, NO_JOB_RESULT),
                inline_limit=self.inline_limit,
            )
        except (ResultTooLarge, ResultNotText) as error:
            raise AirflowFailException(self._not_inline(None, error)) from None

    def _not_inline(self, job: Job | None, error: ResultTooLarge | ResultNotText) -> str:
        """Why a result cannot be returned inline, and the fix; ``job`` None: a validate-only answer."""
        if isinstance(error, ResultTooLarge):
            # An answer without a job is held whole already: its size, without the words of a download.
            size = error.detail if job is not None or error.size is None else plural(error.size, "byte")
            why = f"is {size}, above inline_limit ({plural(error.limit, 'byte')})"
        else:
            why = f"is not UTF-8 text ({error.detail})"
        if job is None:
            what = f"{self.hook_class.vendor} answered {self.request_name()} in full (no job), but the answer"
            again, rerun = "the same request gets the same answer", "sends the request again"
        else:
            job_id = job.id
            ended = "succeeded" if job.state is JobState.SUCCEEDED else f"ended {job.vendor_status}"
            what = f"job {job_id} {ended}, but its result"
            again = "the same job gives the same result"
            rerun = (
                f"reattaches to job {job_id} and downloads its result again (The Trade Desk keeps it "
                f"{RESULT_RETENTION} after the job completes)"
                if self.reattach_on_clear
                else "submits the request again as a new job (reattach_on_clear=True would reuse "
                f"job {job_id} instead)"
            )
        return (
            f"{what} {why}, so the task cannot return it inline (XCom). Set output_path on the task (e.g. "
            "output_path='s3://bucket/results/{{ run_id }}.json') to have it written there and get "
            '{"path", "size", "sha256"} back, or inline_limit=0 to write it to the task\'s default '
            f"location ([jobstatus] result_base_path). Not retried: {again}. Once the task is changed, "
            f"clearing it {rerun}"
        )

    def _results_gone(self, verdict: Verdict, job_id: str, why: str, again: str) -> None:
        """Make ``verdict`` fail because the job's results are gone: the headline says so, the one
        failure line adds the retention and what a retry does."""
        verdict.headline = f"the results of job {job_id} are gone ({why})"
        verdict.failures = [
            f"{verdict.headline}: The Trade Desk keeps a job's results for {RESULT_RETENTION} after it "
            f"completes. {again}"
        ]


class TradeDeskGraphQLBulkQueryOperator(TradeDeskJobOperator):
    """Runs a GraphQL bulk query job (``POST /graphqlbulkqueryjob``) and delivers its result.

    A query The Trade Desk refuses (GraphQL errors in a 200 answer, no job) fails the task at once,
    showing the errors. The job's ``queryGqlErrors`` and ``runtimeErrors`` are in the log and the
    failure message. A lost submit answer is resent on a retry (a query changes nothing).

    :param query: the GraphQL query (templated; required), or a ``.graphql``/``.gql`` file to render.
    :param callback_url: optional URL The Trade Desk calls when the job ends (default None).
    :param callback_headers: headers for that call (default None).
    :param tradedesk_conn_id: the Airflow connection (default ``tradedesk_default``).
    :param output_path: where to write the result (templated; default None): ``s3://...``, ``gs://...``,
        ``file:///...`` or an absolute path; the task then returns ``{"path", "size", "sha256"}``.
    :param inline_limit: without ``output_path``, the most bytes returned inline (default 1,000,000); a
        bigger result fails the task, without retries. 0: always write to the task's default location.
    :param poll_interval: seconds between status reads, the shortest wait between them (default 30.0).
    :param max_poll_interval: the longest wait between reads while the job's completion percentage says
        it is far from done (default None: 10 x ``poll_interval``, at most 600 s).
    :param timeout: how long one try waits for the job, seconds or a timedelta (default one day); a
        retry reattaches to it.
    :param on_partial: ``PartialSuccess``: ``"fail"`` (default) fails the task with the job's errors,
        ``"warn"`` logs them and delivers the result. ``Failure`` and ``Cancelled`` always fail.
    :param max_jobs_in_flight: the most jobs queued or running at once (default 10); one request is one
        job, so any value works the same here.
    :param resubmit_unconfirmed: on a retry, send again a request whose answer was lost (default True: a
        query changes nothing).
    :param wait_for_completion: True (default) waits and delivers the result; False submits the job and
        returns ``[job_id]`` at once, for a ``TradeDeskJobSensor`` downstream.
    :param reattach_on_clear: False (default): a cleared task submits the request anew; True: it
        reattaches to the earlier run's job (its result is kept 24 hours), like a retry.
    :param deferrable: wait in the triggerer, or if False poll in the worker. Default (None): the
        deployment's ``[operators] default_deferrable`` where it sets one, else True.

    ``results_path`` (per-item rows) is refused: set ``output_path`` instead. Details in README: "The
    Trade Desk" > "Operators", "What a retry does", "Retry vs clear", "Deferrable or not", "Submit without
    waiting" and "Many waits on one connection".
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
        tradedesk_conn_id: str = TradeDeskHook.default_conn_name,
        output_path: str | None = None,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        on_partial: OnPartial = DEFAULT_ON_PARTIAL,
        max_jobs_in_flight: int = DEFAULT_MAX_JOBS_IN_FLIGHT,
        resubmit_unconfirmed: bool = True,
        wait_for_completion: bool = DEFAULT_WAIT_FOR_COMPLETION,
        reattach_on_clear: bool = DEFAULT_REATTACH_ON_CLEAR,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            tradedesk_conn_id=tradedesk_conn_id,
            output_path=output_path,
            inline_limit=inline_limit,
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
        self.query = query
        self.callback_url = callback_url
        self.callback_headers = callback_headers

    def request(self) -> Any:
        """The rendered query."""
        return check_query(self.query)

    def request_name(self) -> str:
        """``the GraphQL query``."""
        return "the GraphQL query"

    def submit(self, request: Any) -> Job:
        """``POST /graphqlbulkqueryjob``."""
        hook = self.hook
        return hook.submit_graphql_query(
            request, callback_url=self.callback_url, callback_headers=self.callback_headers
        )


class TradeDeskStandardJobOperator(TradeDeskJobOperator):
    """Runs a standard job (data reports, campaign and ad group bulk create/update) and delivers its result.

    An update sent with ``validateInputOnly`` that The Trade Desk answers in full (no job) returns that
    answer at once. A lost submit answer is resent on a retry for reports and updates, not for creates
    (they would create twice) unless ``resubmit_unconfirmed=True``.

    :param kind: ``first_party_data``, ``third_party_data``, ``campaign_create``, ``campaign_update``,
        ``ad_group_create`` or ``ad_group_update`` (required).
    :param payload: the request body (templated; required), camelCase as the API takes it, e.g.
        ``{"advertiserId": "abc123"}`` or ``{"input": [{"id": "c1", "name": "New name"}]}``.
    :param tradedesk_conn_id: the Airflow connection (default ``tradedesk_default``).
    :param output_path: where to write the result (templated; default None): ``s3://...``, ``gs://...``,
        ``file:///...`` or an absolute path; the task then returns ``{"path", "size", "sha256"}``.
    :param inline_limit: without ``output_path``, the most bytes returned inline (default 1,000,000); a
        bigger result fails the task, without retries. 0: always write to the task's default location.
    :param poll_interval: seconds between status reads, the shortest wait between them (default 30.0).
    :param max_poll_interval: the longest wait between reads while the job's completion percentage says
        it is far from done (default None: 10 x ``poll_interval``, at most 600 s).
    :param timeout: how long one try waits for the job, seconds or a timedelta (default one day); a
        retry reattaches to it.
    :param on_partial: ``PartialSuccess``: ``"fail"`` (default) fails the task with the job's errors,
        ``"warn"`` logs them and delivers the result. ``Failure`` and ``Cancelled`` always fail.
    :param max_jobs_in_flight: the most jobs queued or running at once (default 10); one request is one
        job, so any value works the same here.
    :param resubmit_unconfirmed: on a retry, send again a request whose answer was lost. Default (None):
        yes for reports and updates, no for creates (they would create twice).
    :param wait_for_completion: True (default) waits and delivers the result; False submits the job and
        returns ``[job_id]`` at once, for a ``TradeDeskJobSensor`` downstream.
    :param reattach_on_clear: False (default): a cleared task submits the request anew; True: it
        reattaches to the earlier run's job (its result is kept 24 hours), like a retry.
    :param deferrable: wait in the triggerer, or if False poll in the worker. Default (None): the
        deployment's ``[operators] default_deferrable`` where it sets one, else True.

    ``results_path`` (per-item rows) is refused: set ``output_path`` instead. Details in README: "The
    Trade Desk" > "Operators", "What a retry does", "Retry vs clear", "Deferrable or not", "Submit without
    waiting" and "Many waits on one connection".
    """

    template_fields: Sequence[str] = ("payload", "output_path")
    template_fields_renderers = {"payload": "json"}
    job_kind = "standard"

    def __init__(
        self,
        *,
        kind: str,
        payload: Any,
        tradedesk_conn_id: str = TradeDeskHook.default_conn_name,
        output_path: str | None = None,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        on_partial: OnPartial = DEFAULT_ON_PARTIAL,
        max_jobs_in_flight: int = DEFAULT_MAX_JOBS_IN_FLIGHT,
        resubmit_unconfirmed: bool | None = None,
        wait_for_completion: bool = DEFAULT_WAIT_FOR_COMPLETION,
        reattach_on_clear: bool = DEFAULT_REATTACH_ON_CLEAR,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if kind not in STANDARD_JOBS:
            raise ConfigurationError(f"kind must be one of {', '.join(STANDARD_JOBS)}, not {kind!r}")
        if resubmit_unconfirmed is None:
            resubmit_unconfirmed = kind in SAFE_TO_REPEAT
        super().__init__(
            tradedesk_conn_id=tradedesk_conn_id,
            output_path=output_path,
            inline_limit=inline_limit,
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
        self.kind = kind
        self.payload = payload

    def request(self) -> Any:
        """The rendered payload, checked for the kind."""
        return check_payload(STANDARD_JOBS[self.kind], as_payload(self.payload))

    def request_name(self) -> str:
        """``the first_party_data request`` (the kind)."""
        return f"the {self.kind} request"

    def request_identity(self) -> Any:
        """The kind: the same payload for another kind is another request."""
        return ["standard", self.kind]

    def submit(self, request: Any) -> Job:
        """The standard job's call; an update with ``validateInputOnly`` may be answered without a job
        (:meth:`deliver_answer` then delivers the answer)."""
        return self.hook.submit_standard_job(self.kind, request)
