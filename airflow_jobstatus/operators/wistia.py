"""Wistia operators: tag, trim, archive, restore, move or copy media as background jobs, and wait for them.

Each operator splits its media into requests of at most 100, submits them on the worker (media moves
paced to Wistia's 10 per 5 minutes), records the job ids in the task state store and in XCom
(``job_ids``), waits for all of them with one deferral, and returns one row per job (see
:meth:`WistiaJobOperator.conclude`). A retry reattaches to the jobs of earlier tries.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_jobstatus.core.ledger import JobRecord, Ledger
from airflow_jobstatus.core.models import ItemResult, Job
from airflow_jobstatus.core.outcomes import OnPartial, Verdict
from airflow_jobstatus.defaults import (
    DEFAULT_MAX_JOBS_IN_FLIGHT,
    DEFAULT_ON_PARTIAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_REATTACH_ON_CLEAR,
    DEFAULT_TIMEOUT,
    DEFAULT_WAIT_FOR_COMPLETION,
)
from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.hooks.wistia import WistiaHook
from airflow_jobstatus.hooks.wistia_calls import (
    MAX_MEDIA_PER_REQUEST,
    MEDIA_BULK_ACTIONS,
    WistiaCall,
    bulk_tag_call,
    check_hashed_ids,
    check_id,
    media_bulk_call,
    trim_call,
)
from airflow_jobstatus.operators.base import SubmitJobOperator
from airflow_jobstatus.operators.items import job_level_results, job_outcomes, judge_job_outcomes

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Requests that change nothing more when sent twice: a lost answer may be resent on a retry.
SAFE_TO_REPEAT = frozenset({"tag", "archive", "restore", "move"})
#: How many hashed ids a failure line names before it shortens the list.
NAMED_MEDIA_LIMIT = 100


class WistiaJobOperator(SubmitJobOperator[WistiaHook]):
    """Base of the Wistia operators: media in, one background job per request, one row per job out.

    A subclass says which call a batch of media becomes (:meth:`build_call`). Each returned row is a
    dict: ``job_id``, ``hashed_ids`` (the media the job covered), ``status`` (Wistia's final word:
    ``finished`` or ``failed``), ``state``, ``success``, ``message`` (from the submit's answer),
    ``partial_errors`` (``[{"media_id", "error"}]``, media Wistia refused in a 207 answer) and ``extra``
    (other fields of the submit's answer, e.g. ``destination``).

    A failed job fails the task, naming its media. With ``on_partial="warn"`` failed jobs and partial
    errors are logged as warnings instead, unless every job failed. A 400/422 on submit fails the task
    before any wait, with Wistia's field errors.

    :param wistia_conn_id: the Airflow connection (default ``wistia_default``).
    :param poll_interval: seconds between status reads, the shortest wait between them (default 30.0).
    :param max_poll_interval: the longest wait between reads when progress says a job is far from done
        (default None: 10 x ``poll_interval``, at most 600 s); Wistia reports none, so reads stay at
        ``poll_interval``.
    :param timeout: how long one try waits for all its jobs, seconds or a timedelta (default one day); a
        retry reattaches to them.
    :param on_partial: ``"fail"`` (default): a failed job or media refused at submit fail the task;
        ``"warn"``: they are logged and the task succeeds, unless every job failed.
    :param max_jobs_in_flight: the most of this task's jobs queued or running at once (default 10).
    :param resubmit_unconfirmed: on a retry, send again a request whose answer was lost. Default (None):
        yes for requests that are safe to repeat (tag, archive, restore, move), no for trims and copies.
    :param results_path: a folder (templated) for the rows, returned as a manifest of ``results.jsonl``
        there. Default None: the rows in XCom, up to ``[jobstatus] max_xcom_items`` media.
    :param wait_for_completion: True (default) waits and returns the rows; False submits every job and
        returns their ids at once, for a ``WistiaJobSensor`` downstream.
    :param reattach_on_clear: False (default): a cleared task submits everything anew; True: it
        reattaches to the earlier run's jobs, like a retry.
    :param deferrable: wait in the triggerer, or if False poll in the worker. Default (None): the
        deployment's ``[operators] default_deferrable`` where it sets one, else True.

    Details in README: "Wistia" > "Operators", "What a retry does", "Retry vs clear", "Deferrable or
    not", "Submit without waiting", "What XCom holds" and "Many waits on one connection".
    """

    hook_class = WistiaHook
    max_items_per_job = MAX_MEDIA_PER_REQUEST
    #: The word for ``SAFE_TO_REPEAT`` (set by each operator).
    call_kind: ClassVar[str] = ""

    def __init__(
        self,
        *,
        wistia_conn_id: str = WistiaHook.default_conn_name,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        on_partial: OnPartial = DEFAULT_ON_PARTIAL,
        max_jobs_in_flight: int = DEFAULT_MAX_JOBS_IN_FLIGHT,
        resubmit_unconfirmed: bool | None = None,
        results_path: str | None = None,
        wait_for_completion: bool = DEFAULT_WAIT_FOR_COMPLETION,
        reattach_on_clear: bool = DEFAULT_REATTACH_ON_CLEAR,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if resubmit_unconfirmed is None:
            resubmit_unconfirmed = self.call_kind in SAFE_TO_REPEAT
        super().__init__(
            conn_id=wistia_conn_id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            timeout=timeout,
            on_partial=on_partial,
            max_jobs_in_flight=max_jobs_in_flight,
            resubmit_unconfirmed=resubmit_unconfirmed,
            results_path=results_path,
            wait_for_completion=wait_for_completion,
            reattach_on_clear=reattach_on_clear,
            deferrable=deferrable,
            **kwargs,
        )
        self.wistia_conn_id = wistia_conn_id

    # --- what each Wistia operator defines --------------------------------------------------------
    @abstractmethod
    def media(self) -> list[str]:
        """The rendered media (hashed ids) this task works on."""

    @abstractmethod
    def build_call(self, hashed_ids: list[str]) -> WistiaCall:
        """The request for one batch of media (checks every argument; raises ConfigurationError)."""

    # --- SubmitJobOperator ------------------------------------------------------------------------
    def prepare_items(self) -> list[Any]:
        """The media, checked; every other argument is checked too, by building the first request."""
        media = self.media()
        self.build_call(media[: self.max_items_per_job])
        return media

    def submit_items(self, items: list[Any]) -> Job:
        """One request for at most 100 media."""
        return self.hook.submit(self.build_call(items))

    def item_results(self, job: Job, record: JobRecord, items: list[Any]) -> dict[int, ItemResult]:
        """Each media shares its job's outcome, except media refused at submit (partial errors)."""
        results = job_level_results(job, record.items)
        refused = {str(item.id): item for item in record.rejected}
        for index in record.items:
            item = refused.get(items[index])
            if item is not None:
                results[index] = item.model_copy(update={"index": index})
        return {index: result.model_copy(update={"id": items[index]}) for index, result in results.items()}

    def conclude(
        self, context: Context, items: list[Any], ledger: Ledger, jobs: dict[str, Job]
    ) -> tuple[list[dict[str, Any]], Verdict]:
        """One row per job, in submit order, and the verdict (see the class docstring)."""
        outcomes = job_outcomes(ledger.owners(), ledger.answering(), jobs)
        rows = [
            {
                "job_id": outcome.job.id,
                "hashed_ids": [items[i] for i in outcome.covered],
                "status": outcome.job.vendor_status,
                "state": outcome.job.state.value,
                "success": outcome.success,
                "message": outcome.record.message,
                "partial_errors": [{"media_id": item.id, "error": item.error} for item in outcome.rejected],
                "extra": outcome.record.submitted.get("extra", {}),
            }
            for outcome in outcomes
        ]
        verdict = judge_job_outcomes(
            outcomes, self.on_partial, lambda covered: name_media(items, covered), noun=("media", "media")
        )
        media_count = sum(len(row["hashed_ids"]) for row in rows)
        verdict.summary += f"; {media_count} media"
        return rows, verdict


def name_media(items: Sequence[str], indexes: Sequence[int]) -> str:
    """``media abc, def`` for failure lines (long lists shortened, with the count)."""
    named = [items[i] for i in indexes[:NAMED_MEDIA_LIMIT]]
    more = len(indexes) - len(named)
    suffix = f" and {more} more" if more else ""
    return f"media {', '.join(named)}{suffix}"


class WistiaBulkTagOperator(WistiaJobOperator):
    """Adds tags to any number of media (``POST /taggings/bulk_create``, 100 media per job).

    :param hashed_ids: the media (templated; required): a list of hashed ids.
    :param tag_names: the tags to add (templated; required): a list of names.
    :param wistia_conn_id: the Airflow connection (default ``wistia_default``).
    :param poll_interval: seconds between status reads, the shortest wait between them (default 30.0).
    :param max_poll_interval: the longest wait between reads when progress says a job is far from done
        (default None: 10 x ``poll_interval``, at most 600 s); Wistia reports none, so reads stay at
        ``poll_interval``.
    :param timeout: how long one try waits for all its jobs, seconds or a timedelta (default one day); a
        retry reattaches to them.
    :param on_partial: ``"fail"`` (default): a failed job or media refused at submit fail the task;
        ``"warn"``: they are logged and the task succeeds, unless every job failed.
    :param max_jobs_in_flight: the most of this task's jobs queued or running at once (default 10).
    :param resubmit_unconfirmed: on a retry, send again a request whose answer was lost. Default (None):
        yes (tagging twice adds nothing more).
    :param results_path: a folder (templated) for the rows, returned as a manifest of ``results.jsonl``
        there. Default None: the rows in XCom, up to ``[jobstatus] max_xcom_items`` media.
    :param wait_for_completion: True (default) waits and returns the rows; False submits every job and
        returns their ids at once, for a ``WistiaJobSensor`` downstream.
    :param reattach_on_clear: False (default): a cleared task submits everything anew; True: it
        reattaches to the earlier run's jobs, like a retry.
    :param deferrable: wait in the triggerer, or if False poll in the worker. Default (None): the
        deployment's ``[operators] default_deferrable`` where it sets one, else True.

    Details in README: "Wistia" > "Operators", "What a retry does", "Retry vs clear", "Deferrable or
    not", "Submit without waiting", "What XCom holds" and "Many waits on one connection".
    """

    template_fields: Sequence[str] = ("hashed_ids", "tag_names", "results_path")
    call_kind = "tag"

    def __init__(
        self,
        *,
        hashed_ids: Any,
        tag_names: Any,
        wistia_conn_id: str = WistiaHook.default_conn_name,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        on_partial: OnPartial = DEFAULT_ON_PARTIAL,
        max_jobs_in_flight: int = DEFAULT_MAX_JOBS_IN_FLIGHT,
        resubmit_unconfirmed: bool | None = None,
        results_path: str | None = None,
        wait_for_completion: bool = DEFAULT_WAIT_FOR_COMPLETION,
        reattach_on_clear: bool = DEFAULT_REATTACH_ON_CLEAR,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            wistia_conn_id=wistia_conn_id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            timeout=timeout,
            on_partial=on_partial,
            max_jobs_in_flight=max_jobs_in_flight,
            resubmit_unconfirmed=resubmit_unconfirmed,
            results_path=results_path,
            wait_for_completion=wait_for_completion,
            reattach_on_clear=reattach_on_clear,
            deferrable=deferrable,
            **kwargs,
        )
        self.hashed_ids = hashed_ids
        self.tag_names = tag_names
        self.keep_given_text(hashed_ids=hashed_ids, tag_names=tag_names)

    def media(self) -> list[str]:
        """The rendered ``hashed_ids``."""
        return check_hashed_ids(self.list_argument("hashed_ids"))

    def request_identity(self) -> Any:
        """The tags: a retry with other tags submits afresh."""
        return ["tag", self.tag_names]

    def build_call(self, hashed_ids: list[str]) -> WistiaCall:
        """``POST /taggings/bulk_create`` for these media."""
        return bulk_tag_call(hashed_ids, self.list_argument("tag_names"))


class WistiaTrimMediaOperator(WistiaJobOperator):
    """Makes a media from trim ranges of another (``POST /medias/{hashed_id}/trims``): one job.

    A range Wistia refuses (422, e.g. past the media's end) fails the task before any wait, with
    Wistia's field errors. Not resent on a retry when the answer was lost (trimming twice is not the
    same as once) unless ``resubmit_unconfirmed=True``.

    :param hashed_id: the media to trim (templated; required).
    :param trims: ranges ``HH:MM:SS.mmm-HH:MM:SS.mmm`` (templated; required).
    :param keep_trims: Wistia's ``keep_trims``: keep the ranges instead of cutting them out (default
        None: Wistia's default, not sent).
    :param wistia_conn_id: the Airflow connection (default ``wistia_default``).
    :param poll_interval: seconds between status reads, the shortest wait between them (default 30.0).
    :param max_poll_interval: the longest wait between reads when progress says a job is far from done
        (default None: 10 x ``poll_interval``, at most 600 s); Wistia reports none, so reads stay at
        ``poll_interval``.
    :param timeout: how long one try waits for all its jobs, seconds or a timedelta (default one day); a
        retry reattaches to them.
    :param on_partial: ``"fail"`` (default): a failed job or media refused at submit fail the task;
        ``"warn"``: they are logged and the task succeeds, unless every job failed.
    :param max_jobs_in_flight: the most jobs queued or running at once (default 10); a trim is one job,
        so any value works the same here.
    :param resubmit_unconfirmed: on a retry, send again a request whose answer was lost. Default (None):
        no (a second trim makes a second media).
    :param results_path: a folder for the row, returned as a manifest of ``results.jsonl`` there.
        Default None: the row in XCom.
    :param wait_for_completion: True (default) waits and returns the rows; False submits every job and
        returns their ids at once, for a ``WistiaJobSensor`` downstream.
    :param reattach_on_clear: False (default): a cleared task submits everything anew; True: it
        reattaches to the earlier run's jobs, like a retry.
    :param deferrable: wait in the triggerer, or if False poll in the worker. Default (None): the
        deployment's ``[operators] default_deferrable`` where it sets one, else True.

    Details in README: "Wistia" > "Operators", "What a retry does", "Retry vs clear", "Deferrable or
    not", "Submit without waiting", "What XCom holds" and "Many waits on one connection".
    """

    template_fields: Sequence[str] = ("hashed_id", "trims", "results_path")
    call_kind = "trim"
    max_items_per_job = 1

    def __init__(
        self,
        *,
        hashed_id: str,
        trims: Any,
        keep_trims: bool | None = None,
        wistia_conn_id: str = WistiaHook.default_conn_name,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        on_partial: OnPartial = DEFAULT_ON_PARTIAL,
        max_jobs_in_flight: int = DEFAULT_MAX_JOBS_IN_FLIGHT,
        resubmit_unconfirmed: bool | None = None,
        results_path: str | None = None,
        wait_for_completion: bool = DEFAULT_WAIT_FOR_COMPLETION,
        reattach_on_clear: bool = DEFAULT_REATTACH_ON_CLEAR,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            wistia_conn_id=wistia_conn_id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            timeout=timeout,
            on_partial=on_partial,
            max_jobs_in_flight=max_jobs_in_flight,
            resubmit_unconfirmed=resubmit_unconfirmed,
            results_path=results_path,
            wait_for_completion=wait_for_completion,
            reattach_on_clear=reattach_on_clear,
            deferrable=deferrable,
            **kwargs,
        )
        self.hashed_id = hashed_id
        self.trims = trims
        self.keep_given_text(trims=trims)
        self.keep_trims = keep_trims

    def media(self) -> list[str]:
        """The one media to trim."""
        return [check_id(self.hashed_id, "hashed_id")]

    def request_identity(self) -> Any:
        """The ranges: a retry with other ranges submits afresh."""
        return ["trim", self.trims, self.keep_trims]

    def build_call(self, hashed_ids: list[str]) -> WistiaCall:
        """``POST /medias/{hashed_id}/trims``."""
        return trim_call(hashed_ids[0], self.list_argument("trims"), self.keep_trims)

    def submitted_line(self, job_id: str, chunk: list[int]) -> str:
        """``submitted the trim of media abc123 as job 382477``: one media, one job."""
        return f"submitted the trim of media {check_id(self.hashed_id, 'hashed_id')} as job {job_id}"


class WistiaMediaBulkOperator(WistiaJobOperator):
    """Archives, restores, moves or copies any number of media (``PUT /medias/{action}``, 100 per job).

    Moves are paced to Wistia's limit of 10 requests per 5 minutes by waiting; media Wistia could not
    move (a 207 answer) are listed in their job's ``partial_errors`` and follow ``on_partial``.

    :param action: ``"archive"``, ``"restore"``, ``"move"`` or ``"copy"`` (required).
    :param hashed_ids: the media (templated; required).
    :param folder_id: restore, move and copy: the destination folder's hashed id (templated; default None).
    :param subfolder_id: move only: a subfolder of ``folder_id`` (templated; default None).
    :param wistia_conn_id: the Airflow connection (default ``wistia_default``).
    :param poll_interval: seconds between status reads, the shortest wait between them (default 30.0).
    :param max_poll_interval: the longest wait between reads when progress says a job is far from done
        (default None: 10 x ``poll_interval``, at most 600 s); Wistia reports none, so reads stay at
        ``poll_interval``.
    :param timeout: how long one try waits for all its jobs, seconds or a timedelta (default one day); a
        retry reattaches to them.
    :param on_partial: ``"fail"`` (default): a failed job or media refused at submit fail the task;
        ``"warn"``: they are logged and the task succeeds, unless every job failed.
    :param max_jobs_in_flight: the most of this task's jobs queued or running at once (default 10).
    :param resubmit_unconfirmed: on a retry, send again a request whose answer was lost. Default (None):
        yes for archive, restore and move (repeating them changes nothing), no for copy.
    :param results_path: a folder (templated) for the rows, returned as a manifest of ``results.jsonl``
        there. Default None: the rows in XCom, up to ``[jobstatus] max_xcom_items`` media.
    :param wait_for_completion: True (default) waits and returns the rows; False submits every job and
        returns their ids at once, for a ``WistiaJobSensor`` downstream.
    :param reattach_on_clear: False (default): a cleared task submits everything anew; True: it
        reattaches to the earlier run's jobs, like a retry.
    :param deferrable: wait in the triggerer, or if False poll in the worker. Default (None): the
        deployment's ``[operators] default_deferrable`` where it sets one, else True.

    Details in README: "Wistia" > "Operators", "What a retry does", "Retry vs clear", "Deferrable or
    not", "Submit without waiting", "What XCom holds" and "Many waits on one connection".
    """

    template_fields: Sequence[str] = ("hashed_ids", "folder_id", "subfolder_id", "results_path")

    def __init__(
        self,
        *,
        action: str,
        hashed_ids: Any,
        folder_id: str | None = None,
        subfolder_id: str | None = None,
        wistia_conn_id: str = WistiaHook.default_conn_name,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        on_partial: OnPartial = DEFAULT_ON_PARTIAL,
        max_jobs_in_flight: int = DEFAULT_MAX_JOBS_IN_FLIGHT,
        resubmit_unconfirmed: bool | None = None,
        results_path: str | None = None,
        wait_for_completion: bool = DEFAULT_WAIT_FOR_COMPLETION,
        reattach_on_clear: bool = DEFAULT_REATTACH_ON_CLEAR,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if action not in MEDIA_BULK_ACTIONS:
            raise ConfigurationError(f"action must be one of {sorted(MEDIA_BULK_ACTIONS)}, not {action!r}")
        if resubmit_unconfirmed is None:
            resubmit_unconfirmed = action in SAFE_TO_REPEAT
        super().__init__(
            wistia_conn_id=wistia_conn_id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            timeout=timeout,
            on_partial=on_partial,
            max_jobs_in_flight=max_jobs_in_flight,
            resubmit_unconfirmed=resubmit_unconfirmed,
            results_path=results_path,
            wait_for_completion=wait_for_completion,
            reattach_on_clear=reattach_on_clear,
            deferrable=deferrable,
            **kwargs,
        )
        self.action = action
        self.hashed_ids = hashed_ids
        self.keep_given_text(hashed_ids=hashed_ids)
        self.folder_id = folder_id
        self.subfolder_id = subfolder_id

    def media(self) -> list[str]:
        """The rendered ``hashed_ids``."""
        return check_hashed_ids(self.list_argument("hashed_ids"))

    def request_identity(self) -> Any:
        """The action and destination: a retry with others submits afresh."""
        return [self.action, self.folder_id, self.subfolder_id]

    def build_call(self, hashed_ids: list[str]) -> WistiaCall:
        """``PUT /medias/{action}`` for these media."""
        return media_bulk_call(self.action, hashed_ids, self.folder_id, self.subfolder_id)
