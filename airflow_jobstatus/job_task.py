"""What the job sensor and the job operators share: the vendor hook and the progress reporter."""

from __future__ import annotations

import ast
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_jobstatus.checks import loads_json, positive_seconds
from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.progress import ProgressReporter

if TYPE_CHECKING:
    from airflow_jobstatus.hooks.base import JobHook

__all__ = ["JobTaskMixin", "positive_seconds", "rendered_list"]


class JobTaskMixin:
    """Mixed into an operator that reads vendor jobs: ``hook_class`` and ``conn_id`` give :attr:`hook`."""

    hook_class: ClassVar[type[JobHook]]
    conn_id: str
    if TYPE_CHECKING:
        log: Any

    def hook_params(self) -> dict[str, Any]:
        """Keyword arguments of the hook besides the connection (plain data, also given to the trigger)."""
        return {}

    @cached_property
    def hook(self) -> JobHook:
        """The vendor hook for ``conn_id``, built on first use (on the worker, never at DAG parse)."""
        return self.hook_class(self.conn_id, **self.hook_params())

    @cached_property
    def _reporter(self) -> ProgressReporter:
        return ProgressReporter(self.log)


def rendered_list(value: Any, name: str) -> Any:
    """A rendered template that came out as text (``"[1, 2]"``) back to a list; anything else unchanged."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    for parse in (loads_json, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):  # deep nesting: MemoryError
            continue
    raise ConfigurationError(
        f"{name} rendered to text that is not a list: {text[:80]!r}; pass a list, or render templates "
        "as native objects (DAG(render_template_as_native_obj=True))"
    )
