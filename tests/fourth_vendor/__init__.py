"""Acme bulk jobs: a made-up fourth vendor that lives only in tests, to show what adding a vendor takes.

Its one declaration (``declaration.py``) is registered by tests/conftest.py; from then on the provider's
registry, the sandbox and the vendor-parametrized suites know it as they know the shipped three. Nothing
of ``airflow_jobstatus/`` names it.

The invented API (``https://api.acme.example``, bearer API key): ``POST /v1/bulk_jobs`` with
``{"operation": "upsert" | "delete", "items": [{"key": ...}, ...]}`` (at most 50 items) answers 202 with
``{"job": {...}}``; ``GET /v1/bulk_jobs/{id}`` answers ``{"job": {"id", "state", "processed", "total",
"results", "error"}}``, ``state`` one of queued, working, done, failed, and ``results`` (once done) one
``{"index", "key", "ok", "error"}`` per item of the request; ``GET /v1/me`` is the cheap authenticated call.
"""
