"""The package's layers (issue 17): ``core/`` and ``http/`` hold what used to be flat root modules, and
every earlier import path still gives the same module object."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import airflow_jobstatus
from airflow_jobstatus._moved import MOVED

ROOT = Path(airflow_jobstatus.__file__).parent
#: What stays at the root: what every layer and every user sees.
ROOT_MODULES = {
    *("__init__", "_moved", "compat", "defaults", "deployment", "errors", "job_task", "provider_info"),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_earlier_path_is_the_moved_module_itself(old: str, monkeypatch: pytest.MonkeyPatch) -> None:
    moved = importlib.import_module(f"airflow_jobstatus.{MOVED[old]}")
    aliased = importlib.import_module(f"airflow_jobstatus.{old}")
    assert aliased is moved
    assert not (ROOT / f"{old}.py").exists()
    monkeypatch.setattr(aliased, "_patched_by_the_test", True, raising=False)
    assert moved._patched_by_the_test is True  # type: ignore[attr-defined]  # one module, two names


def test_from_imports_of_earlier_paths_work_in_a_fresh_interpreter() -> None:
    code = (
        "from airflow_jobstatus.ledger import LEDGER_KEY\n"
        "from airflow_jobstatus.models import Job\n"
        "from airflow_jobstatus.transport import RetryPolicy\n"
        "from airflow_jobstatus import budget, results\n"
        "import airflow_jobstatus.core.models as core_models\n"
        "assert Job is core_models.Job and budget.__name__ == 'airflow_jobstatus.http.budget'\n"
        "assert results.__name__ == 'airflow_jobstatus.core.results' and LEDGER_KEY\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_the_root_holds_only_what_every_layer_shares() -> None:
    assert {path.stem for path in ROOT.glob("*.py")} == ROOT_MODULES
    assert {path.name for path in ROOT.iterdir() if (path / "__init__.py").exists()} == {
        "core",
        "http",
        "hooks",
        "operators",
        "sandbox",
        "sensors",
        "triggers",
        "vendors",
    }


def test_an_unknown_name_is_still_an_import_error() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("airflow_jobstatus.no_such_module")


def test_the_names_airflow_stores_did_not_move() -> None:
    """The ledger's task-state-store key and the trigger's class path are stored by Airflow: a task
    deferred or retried across the upgrade must find them unchanged."""
    from airflow_jobstatus.core.ledger import LEDGER_KEY
    from airflow_jobstatus.triggers.job import JobTrigger

    assert LEDGER_KEY == "airflow_jobstatus.ledger"
    assert JobTrigger.__module__ == "airflow_jobstatus.triggers.job"
