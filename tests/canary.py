"""Where the canary token (every test connection's secret) must never be: shared by the canary test and
the per-test and per-worker scans of tests/conftest.py, so a leak is caught whichever test made it and
whichever pytest-xdist worker ran it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from conftest import CANARY_TOKEN

__all__ = ["CANARY_TOKEN", "database_dump", "leaks_in_database", "leaks_in_files"]


def database_path() -> Path | None:
    """This process's metadata DB file (each xdist worker has its own), None before one exists."""
    url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    path = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    return path if path is not None and path.exists() else None


def database_dump() -> str:
    """Every table of the metadata DB as SQL text ("" without a DB)."""
    path = database_path()
    if path is None:
        return ""
    with sqlite3.connect(path) as db:
        return "\n".join(db.iterdump())


def leaks_in_database() -> list[str]:
    """Where the DB holds the token: the dump, and every trigger's kwargs decrypted."""
    path = database_path()
    if path is None:
        return []
    found = ["the metadata DB"] if CANARY_TOKEN in database_dump() else []
    with sqlite3.connect(path) as db:
        try:
            triggers = list(db.execute("SELECT id, kwargs FROM trigger"))
        except sqlite3.OperationalError:  # no trigger table yet
            return found
    from airflow.models.trigger import Trigger

    for ident, encrypted in triggers:
        if CANARY_TOKEN in repr(Trigger._decrypt_kwargs(encrypted)):
            found.append(f"trigger {ident}")
    return found


def leaks_in_files() -> list[str]:
    """Files under AIRFLOW_HOME (logs, DAG files, config) holding the token."""
    home = Path(os.environ["AIRFLOW_HOME"])
    files = [path for path in home.rglob("*") if path.is_file()]
    return [str(path) for path in files if CANARY_TOKEN.encode() in path.read_bytes()]
