"""What the deployment's Airflow configuration decides for our operators and sensors.

``[operators] default_deferrable`` is Airflow's switch for "do tasks defer by default". Airflow's own
default for it is False, yet our tasks defer by default (waiting is what they do, and a wait in the
triggerer holds no worker slot). So only a value the deployment chose decides:

- ``AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE`` (or its ``_CMD`` / ``_SECRET`` forms) in the environment;
- ``default_deferrable`` (or ``default_deferrable_cmd``) in ``airflow.cfg``, except the line Airflow
  itself writes there: Airflow 3 fills a new ``airflow.cfg`` with all its defaults, each under a
  ``# Variable: AIRFLOW__...`` comment, ``default_deferrable = false`` among them. That generated line
  is not a choice; a line written any other way (e.g. a Helm chart's ``config:``) is.

Without a choice, our tasks defer.
"""

from __future__ import annotations

import configparser
import functools
import os
import re
from pathlib import Path

from airflow_jobstatus.errors import ConfigurationError

__all__ = ["default_deferrable", "resolve_deferrable"]

_SECTION, _KEY = "operators", "default_deferrable"
_ENV = "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"
#: The lines Airflow writes for this option when it generates ``airflow.cfg`` from its defaults.
_GENERATED = re.compile(
    r"^# Variable: AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE\n#\ndefault_deferrable = false\n", re.MULTILINE
)


def _chosen_by_deployment() -> bool:
    """True when the deployment gave ``[operators] default_deferrable`` a value of its own."""
    if any(os.environ.get(_ENV + suffix) for suffix in ("", "_CMD", "_SECRET")):
        return True
    from airflow.configuration import AIRFLOW_CONFIG, conf

    if configparser.ConfigParser.has_option(conf, _SECTION, _KEY + "_cmd"):
        return True
    # The file's own options only: Airflow keeps its defaults apart from what airflow.cfg says.
    if not configparser.ConfigParser.has_option(conf, _SECTION, _KEY):
        return False
    return not _is_generated_line(str(AIRFLOW_CONFIG))


@functools.lru_cache(maxsize=4)
def _generated_in(path: str, mtime_ns: int) -> bool:
    try:
        return _GENERATED.search(Path(path).read_text(encoding="utf-8", errors="replace")) is not None
    except OSError:
        return False


def _is_generated_line(path: str) -> bool:
    """True when ``airflow.cfg`` holds the option as Airflow generated it (read once per file version)."""
    try:
        mtime_ns = os.stat(path).st_mtime_ns
    except OSError:
        return False
    return _generated_in(path, mtime_ns)


def default_deferrable() -> bool:
    """The deployment's ``[operators] default_deferrable`` where it chose one, else True."""
    if not _chosen_by_deployment():
        return True
    from airflow.configuration import conf

    try:
        return conf.getboolean(_SECTION, _KEY)
    except Exception as error:  # AirflowConfigException moved between 3.x minors; any failure is this one
        raise ConfigurationError(
            f"[operators] default_deferrable is not a boolean ({error}); set it to True or False"
        ) from None


def resolve_deferrable(deferrable: bool | None) -> bool:
    """A task's ``deferrable`` argument: an explicit True/False wins, None takes the deployment's."""
    if deferrable is None:
        return default_deferrable()
    if not isinstance(deferrable, bool):
        raise ConfigurationError(
            f"deferrable must be True, False or None (the deployment's default), not {deferrable!r}"
        )
    return deferrable
