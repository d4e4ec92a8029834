"""Capture task logs during ``dag.test()`` and keep pytest-timeout armed (helpers of ``airflow_harness``).

Like :mod:`airflow_harness`, this module never imports ``airflow`` at module level: it is imported before
Airflow is configured (see the ``airflow_harness`` module docstring for why that matters).

Where task logs go and how they are captured:

* In ``dag.test()`` nothing is written to task log files. Task loggers (``structlog``, e.g. operator
  ``self.log``) render through structlog's processor chain and write straight to the process' stdout via
  a ``WriteLogger``; stdlib ``logging`` records propagate to the root ``StreamHandler`` whose
  ``ProcessorFormatter`` uses the very same renderer. ``print()`` goes to ``sys.stdout`` unmodified.
* :func:`airflow_harness.run_dag` wraps the final renderer in both places (the shared structlog processor
  list and every root-handler ``ProcessorFormatter``) so every rendered line is recorded *and still
  printed*, and patches ``builtins.print`` to record printed text. Lines are attributed to the task
  instance that is currently executing by wrapping ``airflow.sdk.definitions.dag._run_task`` (dag.test runs
  task instances one at a time; the inline trigger runs inside that call, so trigger logs belong to the
  task too).
* ``dag.test()`` does NOT apply Airflow's secrets masker to these logs (in production the supervisor
  process masks them). The captured text is therefore the raw, unmasked output - the strictest check for
  "a secret never appears in logs". Pass ``mask_secrets=True`` to emulate the production masker.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import logging
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Capture", "SigalrmGuard", "TIKey", "instrument_dag_test"]

TIKey = tuple[str, int, int]  # (task_id, map_index, try_number)

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Capture:
    """Collects rendered log lines / printed text, attributed to the running task instance."""

    def __init__(self, mask_secrets: bool) -> None:
        self.mask_secrets = mask_secrets
        self.current: TIKey | None = None
        self.chunks: list[tuple[TIKey | None, str]] = []

    def record(self, text: str) -> None:
        """Append ``text`` (masked if requested, ANSI-stripped, newline-terminated) for the current TI."""
        if self.mask_secrets:
            from airflow.sdk._shared.secrets_masker import redact

            text = str(redact(text))
        if not text.endswith("\n"):
            text += "\n"
        self.chunks.append((self.current, _ANSI_RE.sub("", text)))


class _RecordingRenderer:
    """Wraps structlog's final renderer: records what it renders, returns it unchanged."""

    def __init__(self, inner: Callable[..., Any], capture: Capture) -> None:
        self.inner = inner
        self.capture = capture

    def __call__(self, logger: Any, method_name: str, event_dict: Any) -> Any:
        if self.capture.mask_secrets:
            from airflow.sdk._shared.secrets_masker import redact

            event_dict = redact(event_dict)
        out = self.inner(logger, method_name, event_dict)
        with contextlib.suppress(Exception):  # never break logging because of the harness
            self.capture.record(out.decode() if isinstance(out, bytes) else str(out))
        return out


class _RecordHandler(logging.Handler):
    """Fallback stdlib handler (only used when the root logger has no structlog ProcessorFormatter)."""

    def __init__(self, capture: Capture) -> None:
        super().__init__(level=logging.NOTSET)
        self.capture = capture
        self.setFormatter(logging.Formatter("[%(levelname)s] %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.capture.record(self.format(record))


@contextlib.contextmanager
def instrument_dag_test(capture: Capture, guard: SigalrmGuard) -> Iterator[None]:
    """Install the renderer wrappers, the print() hook and the per-task hooks for the duration."""
    from unittest import mock

    import airflow.sdk.definitions.dag as sdk_dag
    import structlog
    from structlog.stdlib import ProcessorFormatter

    undo: list[Callable[[], None]] = []

    # 1. structlog-native loggers: all bound loggers (cached ones too) share this very list object.
    procs = structlog.get_config()["processors"]
    if isinstance(procs, list) and procs:
        wrapper = _RecordingRenderer(procs[-1], capture)
        procs[-1] = wrapper

        def unwrap_structlog() -> None:
            for i, proc in enumerate(procs):
                if proc is wrapper:
                    procs[i] = wrapper.inner

        undo.append(unwrap_structlog)

    # 2. stdlib logging: root handlers with a structlog ProcessorFormatter, else an extra handler.
    wrapped_stdlib = False
    for handler in logging.getLogger().handlers:
        fmt = handler.formatter
        if isinstance(fmt, ProcessorFormatter) and fmt.processors:
            original = fmt.processors
            fmt.processors = (*original[:-1], _RecordingRenderer(original[-1], capture))
            undo.append(functools.partial(setattr, fmt, "processors", original))
            wrapped_stdlib = True
    if not wrapped_stdlib:
        extra = _RecordHandler(capture)
        logging.getLogger().addHandler(extra)
        undo.append(lambda: logging.getLogger().removeHandler(extra))

    # 3. print(): dag.test does not redirect the task's stdout; record it like the real task log would.
    real_print = builtins.print

    def recording_print(*args: Any, **kwargs: Any) -> None:
        target = kwargs.get("file")
        if target is None or target in (sys.stdout, sys.stderr):
            sep = kwargs.get("sep") or " "
            end = kwargs.get("end")
            capture.record(sep.join(str(a) for a in args) + ("\n" if end is None else end))
        real_print(*args, **kwargs)

    # 4. Attribute everything logged while a task instance runs (trigger included) to that TI, and
    #    re-arm pytest-timeout after each task / before each inline trigger (see SigalrmGuard).
    real_run_task = sdk_dag._run_task
    real_run_inline_trigger = sdk_dag._run_inline_trigger

    def attributed_run_task(*, ti: Any, **kwargs: Any) -> Any:
        previous = capture.current
        capture.current = (ti.task_id, ti.map_index, ti.try_number)
        try:
            return real_run_task(ti=ti, **kwargs)
        finally:
            capture.current = previous
            guard.restore()

    def guarded_run_inline_trigger(*args: Any, **kwargs: Any) -> Any:
        guard.restore()
        return real_run_inline_trigger(*args, **kwargs)

    try:
        with (
            mock.patch.object(builtins, "print", recording_print),
            mock.patch.object(sdk_dag, "_run_task", attributed_run_task),
            mock.patch.object(sdk_dag, "_run_inline_trigger", guarded_run_inline_trigger),
        ):
            yield
    finally:
        for fn in reversed(undo):
            fn()


class SigalrmGuard:
    """Keeps pytest-timeout (SIGALRM + ITIMER_REAL) working across Airflow's own signal timeouts.

    Airflow's signal based timeouts (DagBag import timeout, a task's ``execution_timeout``) install their
    own SIGALRM handler and disarm ITIMER_REAL on exit without restoring the previous ones, which silently
    disables pytest-timeout for the rest of the test. :meth:`restore` re-installs the handler that was
    active when the guard was created and re-arms the timer with the time that is left - unless that
    handler has fired already (the test timed out; re-arming would fire it a second time).
    """

    def __init__(self) -> None:
        self.active = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
        self.fired = False
        if not self.active:
            return
        self.original = signal.getsignal(signal.SIGALRM)
        remaining, self.interval = signal.getitimer(signal.ITIMER_REAL)
        self.deadline = time.monotonic() + remaining if remaining > 0 else None
        self.handler: Any = self.original
        if callable(self.original):
            original = self.original

            def handler(signum: int, frame: Any) -> Any:
                self.fired = True
                return original(signum, frame)

            self.handler = handler
            signal.signal(signal.SIGALRM, handler)

    def restore(self, final: bool = False) -> None:
        """Re-install the SIGALRM handler (the original one if ``final``) and re-arm the remaining time."""
        if not self.active:
            return
        wanted = self.original if final else self.handler
        if wanted is not None and signal.getsignal(signal.SIGALRM) is not wanted:
            signal.signal(signal.SIGALRM, wanted)
        if self.deadline is not None and not self.fired and signal.getitimer(signal.ITIMER_REAL)[0] == 0:
            left = self.deadline - time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), self.interval)
