"""AcmeBulkOperator: upsert or delete any number of items as Acme bulk jobs, with per-item results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_jobstatus.core.ledger import JobRecord
from airflow_jobstatus.core.models import ItemResult, Job
from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.operators.base import SubmitJobOperator
from fourth_vendor.hooks import MAX_ITEMS_PER_JOB, OPERATIONS, AcmeHook


class AcmeBulkOperator(SubmitJobOperator[AcmeHook]):
    """Sends ``items`` in jobs of at most 50 and returns one result per item, in input order; every
    argument of :class:`SubmitJobOperator` (``poll_interval``, ``timeout``, ``on_partial``...).

    :param items: the items (templated; required): objects, each with a text ``key``.
    :param operation: ``upsert`` (default) or ``delete``.
    :param acme_conn_id: the Airflow connection (default ``acme_default``).
    """

    hook_class = AcmeHook
    max_items_per_job = MAX_ITEMS_PER_JOB
    template_fields: Sequence[str] = ("items",)

    def __init__(
        self,
        *,
        items: Any,
        operation: str = "upsert",
        acme_conn_id: str = AcmeHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        if operation not in OPERATIONS:
            raise ConfigurationError(f"operation must be one of {', '.join(OPERATIONS)}, not {operation!r}")
        super().__init__(conn_id=acme_conn_id, **kwargs)
        self.items = items
        self.operation = operation
        self.acme_conn_id = acme_conn_id

    def prepare_items(self) -> list[Any]:
        """The rendered items: a non-empty list of objects with a text ``key``."""
        items = self.items
        if not isinstance(items, list) or not items:
            raise ConfigurationError("items must be a non-empty list of objects with a 'key'")
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
                raise ConfigurationError(f"items[{index}] must be an object with a text 'key', not {item!r}")
        return items

    def submit_items(self, items: list[Any]) -> Job:
        """One bulk job for at most 50 items."""
        return self.hook.submit_bulk(self.operation, items)

    def request_identity(self) -> Any:
        """The operation: the same items upserted or deleted are two requests (a retry never mixes them)."""
        return ["AcmeBulkOperator", self.operation]

    def item_results(self, job: Job, record: JobRecord, items: list[Any]) -> dict[int, ItemResult]:
        """Acme names each result by its position in the request: that position's input index."""
        sent = record.items
        return {
            sent[result.index]: result.model_copy(update={"index": sent[result.index]})
            for result in job.results
            if result.index is not None and 0 <= result.index < len(sent)
        }
