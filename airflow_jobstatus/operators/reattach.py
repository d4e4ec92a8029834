"""How a try of a job operator finds the work of earlier tries: open the ledger, reattach or run anew.

A retry carries on: it reattaches to the jobs still running, keeps what finished well and marks for
sending again only the items that never reached the vendor or that their job reported failed. A clear
(or a changed input) runs anew, unless the task asks ``reattach_on_clear``. The rules that tell a retry
from a clear are in :mod:`airflow_jobstatus.operators.tries`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_jobstatus.compat import AirflowFailException
from airflow_jobstatus.core.ledger import LEDGER_KEY, JobRecord, Ledger, describe_indexes, fingerprint
from airflow_jobstatus.core.models import ItemResult, Job
from airflow_jobstatus.core.wording import plural
from airflow_jobstatus.errors import JobNotFoundError
from airflow_jobstatus.job_task import HookT, JobTaskMixin
from airflow_jobstatus.operators.tries import attempt, started_anew

if TYPE_CHECKING:
    from airflow.sdk import Context


class ReattachMixin(JobTaskMixin[HookT]):
    """Opens a job operator's ledger at the start of a try (mixed into the engine, which defines the
    methods and attributes named under TYPE_CHECKING)."""

    if TYPE_CHECKING:
        reattach_on_clear: bool
        resubmit_unconfirmed: bool

        def request_identity(self) -> Any: ...
        def item_results(self, job: Job, record: JobRecord, items: list[Any]) -> dict[int, ItemResult]: ...
        def publish_job_ids(self, context: Context, ledger: Ledger) -> None: ...
        def _store_ended(self, context: Context, ledger: Ledger, jobs: Sequence[Job]) -> None: ...
        def _save(self, context: Context, ledger: Ledger) -> None: ...

    def _open_ledger(self, context: Context, items: list[Any]) -> Ledger:
        """This try's ledger: the earlier tries' (reattached) when this is a retry of the same input, else
        a new one."""
        digest = fingerprint([self.request_identity(), items])
        try_number, max_tries = attempt(context)
        store = context.get("task_state_store")
        saved = store.get(LEDGER_KEY) if store is not None else None
        if store is None:
            self.log.warning(
                "this Airflow has no task state store (Airflow < 3.3): a retry of this task cannot "
                "know what an earlier try submitted and will submit everything again"
            )
        if not isinstance(saved, dict) or not saved:
            return Ledger(digest, try_number, max_tries=max_tries)
        ledger = Ledger.from_json(saved)  # the head (or the whole ledger, as earlier releases wrote it)
        if ledger.fingerprint != digest:
            self.log.warning(
                "the input changed since try %d: its jobs (%d) are not reused, everything is submitted",
                ledger.try_number,
                ledger.job_count,
            )
            return Ledger(digest, try_number, max_tries=max_tries)
        run_again = started_anew(ledger, try_number, max_tries)
        if run_again and not self.reattach_on_clear:
            self.log.warning(
                "%s: this run submits everything anew, the earlier run's jobs (%d) are not reused "
                "(reattach_on_clear=True makes a clear reattach instead)",
                run_again,
                ledger.job_count,
            )
            return Ledger(digest, try_number, max_tries=max_tries)
        if run_again:
            self.log.info("%s: reattaching, as reattach_on_clear=True asks", run_again)
        ledger.max_tries = max_tries
        ledger.load(store)
        return self._reattach(context, ledger, items, try_number)

    def _reattach(self, context: Context, ledger: Ledger, items: list[Any], try_number: int) -> Ledger:
        earlier = ledger.try_number
        ledger.try_number, ledger.waves = try_number, 0
        ledger.note_published(0)  # a new try starts with an empty XCom
        if ledger.unconfirmed:
            what = describe_indexes(ledger.unconfirmed)
            if not self.resubmit_unconfirmed:
                raise AirflowFailException(
                    f"try {earlier} sent {what} to {self.hook_class.vendor} but its answer was lost, so "
                    f"they may exist there already; sending them again could duplicate them. Check in "
                    f"{self.hook_class.vendor}, then set resubmit_unconfirmed=True on the task to send "
                    "them again (or change the input)"
                )
            self.log.warning("try %d sent %s without an answer: sending them again", earlier, what)
            ledger.unconfirmed = []
        live = [record.id for record in ledger.answering()]
        if not live:
            self._save(context, ledger)
            return ledger
        self.log.info("reattaching to %s submitted by earlier tries: %s", plural(len(live), "job"), live)
        try:
            jobs = self.hook.get_jobs(live)
        except JobNotFoundError as error:
            raise AirflowFailException(
                f"earlier tries submitted jobs that {self.hook_class.vendor} no longer knows ({error}), "
                "so their items may well have been applied. To submit everything again, change the "
                f"input, or delete this task's state key '{LEDGER_KEY}' (REST API: DELETE "
                f".../taskInstances/<task_id>/state-store/{LEDGER_KEY}) and clear the task"
            ) from None
        self._reporter.report(jobs)
        ended = [job for job in jobs if job.state.is_terminal]  # their states: _store_ended below
        ledger.redo = self._failed_items(ledger, ended, items)
        if ledger.redo:
            self.log.warning(
                "sending %s again: their earlier job reported them failed", describe_indexes(ledger.redo)
            )
        self.publish_job_ids(context, ledger)
        ledger.note_published()
        if ended:  # this try's first batch: XCom of the earlier try is gone
            self._store_ended(context, ledger, ended)
        else:
            self._save(context, ledger)
        return ledger

    def _failed_items(self, ledger: Ledger, ended: list[Job], items: list[Any]) -> list[int]:
        """The input indexes that ended jobs answer for and did not do: to send again."""
        owners = ledger.owners()
        redo: list[int] = []
        for job in ended:
            record = ledger.record(job.id)
            results = self.item_results(job, record, items)
            redo += [
                i for i in record.items if owners[i] is record and not (i in results and results[i].success)
            ]
        return redo
