"""airflow-jobstatus: run and wait on vendor background jobs (Zendesk, Wistia, The Trade Desk).

The layers: ``core/`` (the job model, outcomes, the ledger, results), ``http/`` (transports, auth, the
rate budget, downloads), then the hooks, triggers, operators and sensors on top, one module per vendor
in each, and ``vendors/`` declaring each vendor once. Modules that moved into ``core/`` and ``http/``
keep their earlier import paths (:mod:`airflow_jobstatus._moved`).
"""

from airflow_jobstatus import _moved

__version__ = "0.1.0"

_moved.install()
