"""The defaults of the arguments our operators and sensors share, defined once.

:class:`~airflow_jobstatus.operators.base.SubmitJobOperator`,
:class:`~airflow_jobstatus.sensors.base.JobSensor` and every vendor class repeat these arguments in their
own signatures (so IDE hover and ``help()`` show each one with its default); they all take the default
from here. An argument whose default is None
(``max_poll_interval``, ``results_path``, ``deferrable``) means "decided at run time" and has no
constant.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from airflow_jobstatus.core.outcomes import OnPartial

__all__ = [
    "DEFAULT_MAX_JOBS_IN_FLIGHT",
    "DEFAULT_ON_PARTIAL",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_REATTACH_ON_CLEAR",
    "DEFAULT_RESUBMIT_UNCONFIRMED",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WAIT_FOR_ALL",
    "DEFAULT_WAIT_FOR_COMPLETION",
]

#: Seconds between status reads (the shortest wait between them).
DEFAULT_POLL_INTERVAL: Final[float] = 30.0
#: How long one try of an operator waits for all its jobs (Zendesk keeps job statuses a day).
DEFAULT_TIMEOUT: Final[timedelta] = timedelta(days=1)
#: What items that failed in finished jobs do to the task.
DEFAULT_ON_PARTIAL: Final[OnPartial] = "fail"
#: The most jobs an operator keeps queued or running at once.
DEFAULT_MAX_JOBS_IN_FLIGHT: Final[int] = 10
#: Whether a retry sends again a request whose answer was lost (vendor operators decide per request).
DEFAULT_RESUBMIT_UNCONFIRMED: Final[bool] = False
#: Whether an operator waits for its jobs (False: submit, return the job ids).
DEFAULT_WAIT_FOR_COMPLETION: Final[bool] = True
#: Whether a cleared operator reattaches to the earlier run's jobs (False: it submits anew).
DEFAULT_REATTACH_ON_CLEAR: Final[bool] = False
#: Whether a sensor waits for every job before judging (False: fail as soon as one ends badly).
DEFAULT_WAIT_FOR_ALL: Final[bool] = False
