"""ZendeskBulkOperator: any number of items through Zendesk's bulk endpoints, with per-item results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow_jobstatus.core.ledger import JobRecord
from airflow_jobstatus.core.models import ItemResult, Job
from airflow_jobstatus.core.outcomes import OnPartial
from airflow_jobstatus.defaults import (
    DEFAULT_MAX_JOBS_IN_FLIGHT,
    DEFAULT_ON_PARTIAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_REATTACH_ON_CLEAR,
    DEFAULT_TIMEOUT,
    DEFAULT_WAIT_FOR_COMPLETION,
)
from airflow_jobstatus.hooks.zendesk import ZendeskJobHook
from airflow_jobstatus.hooks.zendesk_bulk import MAX_ITEMS_PER_JOB, bulk_action, check_items, item_key
from airflow_jobstatus.operators.base import SubmitJobOperator


class ZendeskBulkOperator(SubmitJobOperator[ZendeskJobHook]):
    """Creates, updates or deletes any number of Zendesk records with the bulk endpoints; returns one
    result per input item, in input order.

    The input is split into requests of at most 100 items; each becomes a Zendesk job. When Zendesk
    refuses more jobs (about 30 may be queued or running per account), the operator waits for its own
    jobs, or Zendesk's ``Retry-After``, and sends the same request again. Each returned item is a dict:
    ``index`` (into ``items``), ``id``, ``success``, ``action``, ``status``, ``error``, ``details``,
    ``job_id`` and ``extra`` (other fields Zendesk sent, such as ``email``).

    :param resource: ``tickets``, ``deleted_tickets``, ``ticket_imports``, ``users``, ``organizations``,
        ``organization_memberships`` or ``group_memberships`` (required).
    :param action: ``create_many``, ``update_many``, ``create_or_update_many``, ``destroy_many``,
        ``mark_many_as_spam`` or ``merge`` (where the resource has it; required).
    :param items: the records (templated; required): objects for create/update/import, record ids for
        destroy_many, mark_many_as_spam, merge and the ``change`` form of update_many.
    :param change: update_many only (templated; default None): one change applied to every id in ``items``.
    :param use_external_ids: ``items`` are external ids (users and organizations update/destroy;
        default False).
    :param target_id: merge only (templated; default None): the ticket the ``items`` are merged into.
    :param zendesk_conn_id: the Airflow connection (default ``zendesk_default``).
    :param poll_interval: seconds between status reads, the shortest wait between them (default 30.0).
    :param max_poll_interval: the longest wait between reads while the jobs' progress says they are far
        from done (default None: 10 x ``poll_interval``, at most 600 s).
    :param timeout: how long one try waits for all its jobs, seconds or a timedelta (default one day,
        Zendesk's retention of job statuses); a retry reattaches to them.
    :param on_partial: items that failed in completed jobs: ``"fail"`` (default) fails the task listing
        them, ``"warn"`` logs each and succeeds. A failed or killed job always fails the task.
    :param max_jobs_in_flight: the most of this task's jobs queued or running at once (default 10).
    :param resubmit_unconfirmed: on a retry, send again a request whose answer was lost. Default (None):
        yes for requests that are safe to repeat (update, destroy, spam, merge, create_or_update), no for
        those that create records.
    :param results_path: a folder (templated) for the per-item results, returned as a manifest of
        ``results.jsonl`` there. Default None: the rows in XCom, up to ``[jobstatus] max_xcom_items``.
    :param wait_for_completion: True (default) waits and returns the results; False submits every job and
        returns their ids at once, for a ``ZendeskJobSensor`` downstream.
    :param reattach_on_clear: False (default): a cleared task submits everything anew; True: it
        reattaches to the earlier run's jobs, like a retry.
    :param deferrable: wait in the triggerer, or if False poll in the worker. Default (None): the
        deployment's ``[operators] default_deferrable`` where it sets one, else True.

    Details in README: "Run a Zendesk bulk job in a DAG", "What a retry does", "Retry vs clear",
    "Deferrable or not", "Submit without waiting", "What XCom holds" and "Many waits on one connection"
    (how often a wait polls).
    """

    hook_class = ZendeskJobHook
    max_items_per_job = MAX_ITEMS_PER_JOB
    template_fields: Sequence[str] = ("items", "change", "target_id", "results_path")
    template_fields_renderers = {"items": "json", "change": "json"}

    def __init__(
        self,
        *,
        resource: str,
        action: str,
        items: Any,
        change: Mapping[str, Any] | None = None,
        use_external_ids: bool = False,
        target_id: int | str | None = None,
        zendesk_conn_id: str = ZendeskJobHook.default_conn_name,
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
        self.bulk = bulk_action(resource, action)
        if resubmit_unconfirmed is None:
            resubmit_unconfirmed = not self.bulk.creates_records
        super().__init__(
            conn_id=zendesk_conn_id,
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
        self.resource = resource
        self.action = action
        self.items = items
        self.keep_given_text(items=items)
        self.change = change
        self.use_external_ids = use_external_ids
        self.target_id = target_id

    def prepare_items(self) -> list[Any]:
        """The rendered ``items``, checked against the endpoint before any request."""
        return check_items(
            self.bulk,
            self.list_argument("items"),
            change=self.change,
            use_external_ids=self.use_external_ids,
            target_id=self.target_id,
        )

    def request_identity(self) -> Any:
        """The endpoint and the non-item arguments: a retry with others submits afresh."""
        return [self.resource, self.action, self.change, self.use_external_ids, self.target_id]

    def submit_items(self, items: list[Any]) -> Job:
        """One bulk request for at most 100 items."""
        hook = self.hook
        return hook.submit_bulk(
            self.resource,
            self.action,
            items,
            change=self.change,
            use_external_ids=self.use_external_ids,
            target_id=int(self.target_id) if self.target_id is not None else None,
        )

    def item_results(self, job: Job, record: JobRecord, items: list[Any]) -> dict[int, ItemResult]:
        """Zendesk's results matched to input items: by ``index``, else by record id, else in order."""
        indexes = record.items
        keys = [item_key(self.bulk, items[i], use_external_ids=self.use_external_ids) for i in indexes]
        matched, stray = match_results(job.results, keys)
        for result in stray:
            self.log.warning(
                "job %s reported a result that matches no input item: %s", job.id, result.describe()
            )
        return {
            indexes[pos]: result.model_copy(update={"index": indexes[pos]}) for pos, result in matched.items()
        }


def match_results(
    results: Sequence[ItemResult], keys: Sequence[int | str | None]
) -> tuple[dict[int, ItemResult], list[ItemResult]]:
    """Pair a job's results with the positions of the items it was sent (``keys``: each item's id or None).

    A result names its position by ``index`` (creates, failures), else by the record ``id`` an item
    carries (updates), else it takes the next unmatched position (Zendesk reports in request order).
    A single result with neither (permanent deletion's ``{"success": true}``) stands for every item.
    Results left over are returned as strays, never dropped.
    """
    if len(results) == 1 and results[0].index is None and results[0].id is None:
        return dict.fromkeys(range(len(keys)), results[0]), []
    matched: dict[int, ItemResult] = {}
    by_key: dict[str, list[int]] = {}
    for pos, key in enumerate(keys):
        if key is not None:
            by_key.setdefault(str(key), []).append(pos)
    unplaced: list[ItemResult] = []
    for result in results:
        if result.index is not None and 0 <= result.index < len(keys) and result.index not in matched:
            matched[result.index] = result
            continue
        positions = [p for p in by_key.get(str(result.id), []) if p not in matched]
        if result.id is not None and positions:
            matched[positions[0]] = result
        else:
            unplaced.append(result)
    free = [pos for pos in range(len(keys)) if pos not in matched]
    for pos, result in zip(free, unplaced, strict=False):
        matched[pos] = result
    return matched, unplaced[len(free) :]
