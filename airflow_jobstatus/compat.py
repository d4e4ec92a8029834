"""Names that moved between Airflow 3.x minors, imported from wherever this Airflow has them."""

from __future__ import annotations

try:  # Airflow >= 3.2
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout
except ImportError:  # Airflow 3.1 keeps them in airflow.exceptions
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
    )

__all__ = ["AirflowException", "AirflowFailException", "AirflowSensorTimeout"]
