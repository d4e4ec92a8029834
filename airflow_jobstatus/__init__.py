"""airflow-jobstatus: run and wait on vendor background jobs (Zendesk, Wistia, The Trade Desk)."""

__version__ = "0.1.0"
