"""What the job sensor and the job operators share: the vendor hook and the progress reporter."""

from __future__ import annotations

import ast
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

from airflow_jobstatus.core.checks import loads_json, positive_seconds, short_repr
from airflow_jobstatus.core.progress import ProgressReporter
from airflow_jobstatus.errors import ConfigurationError, TransientVendorError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_jobstatus.core.models import Job
    from airflow_jobstatus.hooks.base import JobHook

__all__ = ["HookT", "JobTaskMixin", "literal_text", "positive_seconds", "rendered_list"]

#: The vendor hook of a task class: ``ZendeskBulkOperator`` is a ``SubmitJobOperator[ZendeskJobHook]``,
#: so its :attr:`~JobTaskMixin.hook` is typed as the vendor's (no casts in vendor modules).
HookT = TypeVar("HookT", bound="JobHook")


class JobTaskMixin(Generic[HookT]):
    """Mixed into an operator that reads vendor jobs: ``hook_class`` and ``conn_id`` give :attr:`hook`,
    typed as the class's hook (``HookT``)."""

    hook_class: ClassVar[type[JobHook]]
    conn_id: str
    if TYPE_CHECKING:
        log: Any

    def hook_params(self) -> dict[str, Any]:
        """Keyword arguments of the hook besides the connection (plain data, also given to the trigger)."""
        return {}

    @cached_property
    def hook(self) -> HookT:
        """The vendor hook for ``conn_id``, built on first use (on the worker, never at DAG parse)."""
        return cast(HookT, self.hook_class(self.conn_id, **self.hook_params()))

    @cached_property
    def _reporter(self) -> ProgressReporter:
        return ProgressReporter(self.log)

    def read_jobs(self, job_ids: Sequence[str], *, still: str = "still waiting") -> list[Job] | None:
        """The jobs' current status, their progress reported in the log; None after a transient failure
        (logged with ``still``: the wait goes on). Any other error is raised."""
        try:
            jobs = self.hook.get_jobs(job_ids)
        except TransientVendorError as error:
            self.log.warning("%s; %s", error, still)
            return None
        self._reporter.report(jobs)
        return jobs

    def keep_given_text(self, **arguments: Any) -> None:
        """Remember which list arguments were given as text, before rendering replaces them (see
        :meth:`list_argument`)."""
        self._given_text = {name: value for name, value in arguments.items() if isinstance(value, str)}

    def list_argument(self, name: str) -> Any:
        """The rendered template field ``name``, read as a list by :func:`rendered_list` (text given
        without a template must itself be a list, see there)."""
        given = getattr(self, "_given_text", {}).get(name)
        return rendered_list(getattr(self, name), name, literal=literal_text(self, given))


def rendered_list(value: Any, name: str, *, literal: str | None = None) -> Any:
    """A list argument as rendered: text that holds a list (``"[1, 2]"``, or ``"['a', 'b']"`` as Jinja
    renders a list) is read back as that list; other text (``"1,2,3"``, ``"abc"``) raises a
    ConfigurationError naming ``name``; anything else is returned unchanged (the caller checks it).

    ``literal`` is the text the argument was given when it holds no template (:func:`literal_text`): it
    must hold a list itself, however the DAG renders (rendering as native objects turns ``"1,2,3"``
    into a tuple).
    """
    text = literal if literal is not None else value
    if not isinstance(text, str):
        return value
    text = text.strip()
    for parse in (loads_json, ast.literal_eval):
        try:
            parsed = parse(text)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):  # deep nesting: MemoryError
            continue
        # A rendered tuple reads "(1, 2)"; "1,2,3" reads as a tuple too, but is no rendered list.
        if isinstance(parsed, list) or (isinstance(parsed, tuple) and text.startswith("(")):
            return parsed
        break
    raise ConfigurationError(
        f"{name} must be a list, not the text {short_repr(text, 80)}: pass a list (e.g. [1, 2, 3]), or a "
        'template that renders a JSON list such as "[1, 2, 3]" (a list from XCom renders so)'
    )


def literal_text(task: Any, value: Any) -> str | None:
    """``value`` if it is text that holds no template syntax of ``task``'s Jinja environment (its DAG's
    delimiters), else None: what rendering leaves as it is, or evaluates as Python when the DAG renders
    templates as native objects."""
    if not isinstance(value, str):
        return None
    try:
        tokens = [token for _, token, _ in task.get_template_env().lex(value)]
    except Exception:  # text Jinja cannot lex is no plain text (rendering has reported it)
        return None
    return value if all(token == "data" for token in tokens) else None
