"""The import paths of modules that moved into ``core/`` and ``http/`` (release 0.2): still importable.

``import airflow_jobstatus.transport`` gives the module ``airflow_jobstatus.http.transport`` itself (one
module object under both names, so a patch through either is seen by both). DAGs, Airflow's stored
paths (the trigger's, hooks', operators' and sensors') never used these modules; code that imported
them directly keeps working until the paths are removed in a later release.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

#: Old module name (under ``airflow_jobstatus.``) -> where it lives now.
MOVED: dict[str, str] = {
    **{
        name: f"core.{name}"
        for name in (
            "checks",
            "index_ranges",
            "ledger",
            "models",
            "outcomes",
            "progress",
            "result_limits",
            "result_location",
            "results",
            "wording",
        )
    },
    **{
        name: f"http.{name}"
        for name in (
            "auth",
            "budget",
            "connection",
            "downloads",
            "exchange",
            "pacing",
            "per_loop",
            "result_hosts",
            "transport",
            "transport_async",
            "transport_errors",
        )
    },
}
PACKAGE = "airflow_jobstatus"


class _AliasLoader(importlib.abc.Loader):
    """Loads an old name as the module at its new one."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        """The moved module itself (imported if need be)."""
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module ran under its new name (the import system files it under the old
        one too)."""


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds ``airflow_jobstatus.<old>`` for every entry of :data:`MOVED`."""

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec whose loader hands back the moved module, for an old name; None for anything else."""
        package, _, name = fullname.partition(".")
        if package != PACKAGE or name not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(f"{PACKAGE}.{MOVED[name]}"))


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
