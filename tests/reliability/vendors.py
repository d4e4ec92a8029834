"""The three vendors as the fault matrix sees them: how to make a job, where its status is read, which
sensor waits for it, and which connection points at the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from conftest import tradedesk_connection, wistia_connection, zendesk_connection

from airflow_jobstatus.sandbox import SandboxServer


@dataclass(frozen=True)
class Vendor:
    """One vendor in the matrix."""

    name: str
    display: str
    sensor: str
    conn_arg: str
    conn_env: str
    connection: Callable[[str], str]
    status_path: str
    create: Callable[[SandboxServer, float, str | None], str]
    #: Keyword arguments the sensor needs besides job_id, as DAG source (the Trade Desk's job_kind).
    sensor_kwargs: str = ""

    def env(self, sandbox: SandboxServer) -> dict[str, str]:
        """``AIRFLOW_CONN_*`` pointing at the sandbox."""
        return {self.conn_env: self.connection(sandbox.url)}


def _zendesk(sandbox: SandboxServer, duration: float, unknown: str | None) -> str:
    return sandbox.state.zendesk.create_job(total=3, duration=duration, queued_for=0, unknown_status=unknown)


def _wistia(sandbox: SandboxServer, duration: float, unknown: str | None) -> str:
    sandbox.state.wistia.config.queued_fraction = 0.0  # running (or its unknown word) from the start
    return str(sandbox.state.wistia.create_job(duration=duration, unknown_status=unknown))


def _tradedesk(sandbox: SandboxServer, duration: float, unknown: str | None) -> str:
    return sandbox.state.tradedesk.create_job(kind="standard", duration=duration, unknown_status=unknown)


VENDORS = [
    Vendor(
        "zendesk",
        "Zendesk",
        "airflow_jobstatus.sensors.zendesk.ZendeskJobSensor",
        "zendesk_conn_id",
        "AIRFLOW_CONN_ZENDESK_DEFAULT",
        zendesk_connection,
        "/api/v2/job_statuses/",
        _zendesk,
    ),
    Vendor(
        "wistia",
        "Wistia",
        "airflow_jobstatus.sensors.wistia.WistiaJobSensor",
        "wistia_conn_id",
        "AIRFLOW_CONN_WISTIA_DEFAULT",
        wistia_connection,
        "/wistia/background_job_status/",
        _wistia,
    ),
    Vendor(
        "tradedesk",
        "The Trade Desk",
        "airflow_jobstatus.sensors.tradedesk.TradeDeskJobSensor",
        "tradedesk_conn_id",
        "AIRFLOW_CONN_TRADEDESK_DEFAULT",
        tradedesk_connection,
        "/tradedesk/standardjob/",
        _tradedesk,
        sensor_kwargs='job_kind="standard", ',
    ),
]
